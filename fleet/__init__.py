"""The fleet path: many traces replayed on a Dask distributed cluster (local or remote)."""
