"""Benchmark: `tdxray ingest` of a generated host ftrace (uncompressed and gzip'd).

    python -m tdxray.benchmarks.ftrace_ingest [--lines 5000000] [--dir DIR]

The trace looks like a TD's host side recorded with tracefs: kvm_exit/kvm_entry pairs of four
vCPU threads (TDVMCALL reasons and others), EPT violations, a few memory-attribute changes.
Prints lines/s and MB/s (of the uncompressed text) for each, and CPU seconds per million lines.
Also a stage of `python -m tdxray.benchmarks` (the traces are cached in its data directory).
"""

from __future__ import annotations

import argparse
import gzip
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tdxray.benchmarks.figures import Figure, table

FTRACE_LINES = 5_000_000  # the measure: a 5-million-line host trace
REASONS = ("HLT", "CPUID", "IO_INSTRUCTION", "MSR_READ", "MSR_WRITE", "EPT_MISCONFIG", "TDCALL",
           "EPT_VIOLATION", "EXTERNAL_INTERRUPT")


def host_line(rng: random.Random, ts: int) -> str:
    cpu = rng.randrange(4)
    head = f"       CPU {cpu}/KVM-{2301 + cpu}    [{cpu + 8:03d}]"
    stamp = f"{ts // 1_000_000:6d}.{ts % 1_000_000:06d}"
    rip = f"0xffffffff8{rng.randrange(1 << 28):07x}"
    r = rng.random()
    if r < 0.48:
        return (f"{head} d..1. {stamp}: kvm_exit: vcpu {cpu} reason {rng.choice(REASONS)} "
                f"rip {rip} info1 0x0000000000000000 info2 0x0000000000000000 "
                "intr_info 0x00000000 error_code 0x00000000\n")
    if r < 0.96:
        return f"{head} ..... {stamp}: kvm_entry: vcpu {cpu}, rip {rip}\n"
    if r < 0.999:
        gpa = rng.randrange(1 << 31) & ~0xFFF
        return (f"{head} ..... {stamp}: kvm_page_fault: vcpu {cpu} rip {rip} address "
                f"0x{gpa:016x} error_code 0x{rng.choice((0x181, 0x183, 0x82)):x}\n")
    gfn = rng.randrange(1 << 19)
    return (f" qemu-system-x86-2290    [000] ..... {stamp}: kvm_vm_set_mem_attributes: "
            f"0x{gfn:014x} -- 0x{gfn + 512:014x} [0x{rng.choice((0, 8)):x}]\n")


def generate(path: Path, lines: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    ts = 140_000_000
    with path.open("w", encoding="ascii") as out:
        out.write("# tracer: nop\n#\n")
        block: list[str] = []
        for _ in range(lines):
            ts += rng.randrange(1, 4)
            block.append(host_line(rng, ts))
            if len(block) == 100_000:
                out.writelines(block)
                block.clear()
        out.writelines(block)


def ingest(path: Path, store: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child) of one `tdxray ingest`."""
    shutil.rmtree(store, ignore_errors=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "tdxray", "ingest", str(path), "-o", str(store),
                    "--trace-id", "bench"], check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def host_traces(lines: int, work: Path) -> tuple[Path, Path]:
    """The generated host trace of `lines` lines and its gzip'd copy (cached in `work`)."""
    work.mkdir(parents=True, exist_ok=True)
    plain = work / f"host-{lines}.trace"
    if not plain.exists():
        partial = plain.with_suffix(".partial")
        generate(partial, lines)
        partial.rename(plain)
    packed = plain.with_suffix(".trace.gz")
    if not packed.exists():
        partial = packed.with_suffix(".partial")
        with plain.open("rb") as src, gzip.open(partial, "wb", compresslevel=6) as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        partial.rename(packed)
    return plain, packed


def ftrace_figures(lines: int, work: Path) -> list[Figure]:
    """lines/s, MB/s and CPU per million lines of ingesting the plain and the gzip'd trace.
    A small ingest runs first, so the one-time compile of the scanner is not counted."""
    plain, packed = host_traces(lines, work)
    warm = host_traces(1000, work)[0]
    ingest(warm, work / "store")
    mb = plain.stat().st_size / 1e6
    figures = []
    for label, path in (("plain", plain), ("gzip", packed)):
        wall, cpu = ingest(path, work / "store")
        note = f"{lines:,} lines, {mb:,.0f} MB of text, {wall:.1f} s wall"
        name = f"ftrace_ingest.{label}.{lines}"
        figures += [Figure(f"{name}.lines_per_s", lines / wall, "lines/s", note),
                    Figure(f"{name}.mb_per_s", mb / wall, "MB/s", note),
                    Figure(f"{name}.cpu_s_per_million", cpu / lines * 1e6, "s",
                           "CPU seconds (all threads) per million lines")]
    shutil.rmtree(work / "store", ignore_errors=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=FTRACE_LINES)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    work = args.dir or Path(tempfile.mkdtemp(prefix="tdxray-ftrace-bench-"))
    print(table(ftrace_figures(args.lines, work)))


if __name__ == "__main__":
    main()
