"""Every sample trace and simulator scenario replays to exactly the stored golden results.

A failure here means the divergences, the replay's counts or the page history changed. If that
is a change of model semantics made on purpose, regenerate the golden files with one command
(see tests/golden.py) and commit them with the change; if it came from a speed-up, it is a bug.
"""

from __future__ import annotations

import difflib

import pytest

from tdxray.tests.golden import GOLDEN, REGENERATE, Case, cases, golden_path, produce

CASES = cases()


def test_every_case_has_a_golden_file_and_no_file_is_stale() -> None:
    stored = sorted(p.stem for p in GOLDEN.glob("*.json"))
    assert stored == sorted(c.name for c in CASES), f"golden files out of date: {REGENERATE}"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_replay_matches_golden(case: Case) -> None:
    want = golden_path(case).read_text()
    got = produce(case)
    if got != want:
        diff = "".join(difflib.unified_diff(want.splitlines(True), got.splitlines(True),
                                            "golden", "now", n=1))
        pytest.fail(f"{case.name}: replay results differ from {golden_path(case).name}.\n"
                    f"If the model's semantics changed on purpose, regenerate: {REGENERATE}\n"
                    f"{diff[:4000]}", pytrace=False)
