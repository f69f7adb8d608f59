"""Benchmarks: a size ladder of simulated traces, every stage timed (`python -m tdxray.benchmarks`).
"""
