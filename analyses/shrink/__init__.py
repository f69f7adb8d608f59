"""Minimal reproducers: shrink a trace to the fewest events that still show one divergence."""
