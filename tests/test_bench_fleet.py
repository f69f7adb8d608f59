"""The fleet benchmark's report: each figure against its target, PASS or MISS, exactly."""

from __future__ import annotations

from tdxray.benchmarks.fleet import report


def test_the_report_judges_each_figure_against_its_target() -> None:
    text = report({"workers_2_vs_1": 1.9, "per_trace_overhead_ms": 29.98,
                   "replay_ms_per_trace": 42.4, "s3_vs_local": None})
    assert text.splitlines() == [
        "workers_2_vs_1               1.90  target >= 1.8: PASS",
        "per_trace_overhead_ms       29.98  target <= 20: MISS",
        "replay_ms_per_trace         42.40",
        "s3_vs_local              not measured (install moto[server] and boto3)",
    ]


def test_traces_are_grouped_into_tasks_that_still_spread_over_the_workers() -> None:
    from tdxray.fleet.replay import chunk_size

    assert [chunk_size(n, 2) for n in (1, 7, 8, 20, 100, 1_000, 100_000)] == [
        1, 1, 1, 2, 12, 32, 32]
    assert chunk_size(20, 1) == 5
