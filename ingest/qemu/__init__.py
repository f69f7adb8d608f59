"""QEMU `-trace` logs (log backend)."""
