"""tdxray JSON Lines v1: the reader (bulk columns, with an exact per-line path for errors)."""
