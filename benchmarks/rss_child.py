"""Child process of the memory stage: replay one trace, print seconds and peak RSS as JSON.

`python -m tdxray.benchmarks.rss_child TRACE.parquet`. Memory comes from /proc/self/status
(VmHWM, VmRSS): unlike ru_maxrss, which a forked child inherits from its parent's RSS at the
fork, the high-water mark starts afresh with the exec'd image. The RSS after imports is the
floor every replay starts from.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from tdxray.benchmarks.peak_child import memory_kib
from tdxray.model.replay import replay_trace


def main(argv: list[str]) -> None:
    imports_kib = memory_kib("VmRSS")
    started = time.perf_counter()
    result = replay_trace(Path(argv[0]))
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "imports_kib": imports_kib,
                      "peak_kib": memory_kib("VmHWM"), "events": result.events}))


if __name__ == "__main__":
    main(sys.argv[1:])
