"""`tdxray diff A B`: two traces of one workload aligned by phase, and what differs in each."""
