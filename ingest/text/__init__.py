"""Text readers' shared machinery: line chunks, prefetch, per-source context, format detection."""
