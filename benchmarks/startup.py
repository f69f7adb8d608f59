"""Start-up figures: `tdxray --help`, a small `check` and `replay`, and the numba kernels'
first compile.

    python -m tdxray.benchmarks.startup [--dir DIR]

`help`, `check` and `replay` are wall seconds of the command (interpreter start-up included)
with the modules each imported listed against the heavy ones it should not need (Textual,
numba, Polars, DuckDB). The compile figures ingest a 150-line host ftrace twice with
NUMBA_CACHE_DIR pointed at an empty directory: the first run compiles the scanners and writes
numba's cache, the second loads them from it (what every later ingest of an installed package
pays).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tdxray.benchmarks.figures import Figure, table, timed
from tdxray.benchmarks.ftrace_ingest import generate
from tdxray.benchmarks.tools import tdxray_command

HEAVY = ("textual", "numba", "polars", "duckdb")
SAMPLE = Path(__file__).resolve().parent.parent / "sample_traces" / "kdump-shared-read.jsonl"
COMPILE_LINES = 150  # the measure: the first ingest of a 150-line ftrace file

# Runs the command in-process, then names the heavy modules it pulled in (one per line).
_PROBE = """
import sys
from tdxray.cli.main import cli
try:
    cli.main(args=sys.argv[1:], prog_name="tdxray", standalone_mode=True)
except SystemExit:
    pass
heavy = {h for h in %r for m in sys.modules if m == h or m.startswith(h + ".")}
sys.stdout.write("\\nheavy:" + ",".join(sorted(heavy)) + "\\n")
"""


def heavy_imports(args: list[str], heavy: tuple[str, ...] = HEAVY) -> list[str]:
    """The `heavy` modules (with their submodules) `tdxray ARGS` imports (run in a child
    interpreter)."""
    out = subprocess.run([sys.executable, "-c", _PROBE % (heavy,), *args], capture_output=True,
                         text=True, check=False)
    lines = [line for line in out.stdout.splitlines() if line.startswith("heavy:")]
    if not lines:
        raise RuntimeError(f"tdxray {' '.join(args)} did not finish: {out.stderr.strip()}")
    names = lines[-1].removeprefix("heavy:")
    return names.split(",") if names else []


def _command_seconds(args: list[str], env: dict[str, str] | None = None) -> float:
    cmd = [*tdxray_command(), *args]
    return timed(lambda: subprocess.run(cmd, capture_output=True, check=False, env=env))


def _note(args: list[str]) -> str:
    heavy = heavy_imports(args)
    return "imports " + (", ".join(heavy) if heavy else f"none of {', '.join(HEAVY)}")


def compile_figures(work: Path) -> list[Figure]:
    """Seconds of the first ingest (compiling into an empty numba cache) and of the second."""
    trace = work / f"host-{COMPILE_LINES}.trace"
    generate(trace, COMPILE_LINES)
    cache = work / "numba-cache"
    shutil.rmtree(cache, ignore_errors=True)
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    args = ["ingest", str(trace), "-o", str(work / "store"), "--trace-id", "bench"]
    seconds = []
    for _ in range(2):
        shutil.rmtree(work / "store", ignore_errors=True)
        seconds.append(_command_seconds(args, env))
    shutil.rmtree(work / "store", ignore_errors=True)
    cached = sum(1 for _ in cache.rglob("*.nbi")) if cache.exists() else 0
    return [Figure("startup.ftrace_first_ingest.seconds", seconds[0], "s",
                   f"{COMPILE_LINES} lines, empty numba cache (compiles {cached} kernels)"),
            Figure("startup.ftrace_cached_ingest.seconds", seconds[1], "s",
                   f"{COMPILE_LINES} lines, kernels loaded from numba's cache")]


def replay_figure(work: Path) -> Figure:
    """Wall seconds of `tdxray replay` of the small sample's Parquet file: what a replay pays
    before and around its events (imports, opening, writing the results)."""
    store = work / "replay-store"
    shutil.rmtree(store, ignore_errors=True)
    subprocess.run([*tdxray_command(), "ingest", str(SAMPLE), "-o", str(store)],
                   capture_output=True, check=True)
    trace = next(store.glob("*.parquet"))
    out = work / "replay-out"
    args = ["replay", str(trace), "-o", str(out)]
    seconds = _command_seconds(args)
    shutil.rmtree(out, ignore_errors=True)
    return Figure("startup.replay_small.seconds", seconds, "s", f"{SAMPLE.name}; {_note(args)}")


def startup_figures(work: Path, compile_kernels: bool = True) -> list[Figure]:
    """`--help`, a small `check` and a small `replay`; with `compile_kernels` the numba
    first-compile figures. tdxray's bytecode is written first where it can be, as an install
    writes it (under PYTHONDONTWRITEBYTECODE a checkout compiles every module on every run)."""
    from tdxray.benchmarks.pairs import write_bytecode

    write_bytecode()
    work.mkdir(parents=True, exist_ok=True)
    help_args, check_args = ["--help"], ["check", str(SAMPLE)]
    figures = [Figure("startup.help.seconds", _command_seconds(help_args), "s", _note(help_args)),
               Figure("startup.check_small.seconds", _command_seconds(check_args), "s",
                      f"{SAMPLE.name}; {_note(check_args)}"),
               replay_figure(work)]
    return figures + (compile_figures(work) if compile_kernels else [])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    work = args.dir or Path(tempfile.mkdtemp(prefix="tdxray-startup-bench-"))
    print(table(startup_figures(work)))


if __name__ == "__main__":
    main()
