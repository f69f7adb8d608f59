"""SQL over a store: views and macros over the traces and the replay results, a locked-down
DuckDB session, the named query library and result rendering."""
