"""Regenerate the sample traces in this directory (one small JSONL trace per scenario).

    python sample_traces/make_samples.py

The output is deterministic: running it again must leave `git diff` empty.
"""

from __future__ import annotations

from tdxray.simulator.samples import write_samples


def main() -> None:
    for path in write_samples():
        print(path.name)


if __name__ == "__main__":
    main()
