"""Benchmark: `tdxray ingest` of a generated host ftrace (uncompressed and gzip'd).

    python -m tdxray.benchmarks.ftrace_ingest [--lines 5000000] [--dir DIR]

The trace looks like a TD's host side recorded with tracefs: kvm_exit/kvm_entry pairs of four
vCPU threads (TDVMCALL reasons and others), EPT violations, a few memory-attribute changes.
Prints lines/s and MB/s (of the uncompressed text) for each, wall clock and CPU time.
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
    subprocess.run([sys.executable, "-c", "from tdxray.cli.main import main; main()", "ingest",
                    str(path), "-o",
                    str(store), "--trace-id", "bench"], check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=5_000_000)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    work = args.dir or Path(tempfile.mkdtemp(prefix="tdxray-ftrace-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    plain = work / f"host-{args.lines}.trace"
    if not plain.exists():
        generate(plain, args.lines)
    packed = plain.with_suffix(".trace.gz")
    if not packed.exists():
        with plain.open("rb") as src, gzip.open(packed, "wb", compresslevel=6) as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    mb = plain.stat().st_size / 1e6
    for path in (plain, packed):
        wall, cpu = ingest(path, work / "store")
        print(f"{path.name}: {args.lines / wall:,.0f} lines/s, {mb / wall:,.1f} MB/s "
              f"({args.lines:,} lines, {mb:,.0f} MB text, {wall:.1f} s wall, {cpu:.1f} s CPU)")


if __name__ == "__main__":
    main()
