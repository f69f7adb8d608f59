"""`tdxray simulate`: write a trace from the reference simulator of a TD's life."""

from __future__ import annotations

import time
from pathlib import Path

import click

from tdxray.cli.progress import EventProgress
from tdxray.simulator.config import DEFAULT_EVENTS, GPAW_CHOICES, parse_size
from tdxray.simulator.run import simulate
from tdxray.simulator.scenarios import DEFAULT_SCENARIO, SCENARIOS, get_scenario
from tdxray.simulator.writer import write_trace


def _size(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return parse_size(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def list_scenarios() -> None:
    width = max(len(name) for name in SCENARIOS)
    for name, scenario in SCENARIOS.items():
        click.echo(f"{name:<{width}}  {scenario.description}  [rules: {scenario.rules_note()}]")


@click.command("simulate")
@click.option("--scenario", default=DEFAULT_SCENARIO, show_default=True,
              help="What happens in the TD (see --list).")
@click.option("--list", "list_only", is_flag=True, help="List the scenarios and exit.")
@click.option("--vcpus", type=click.IntRange(1, 256), default=None,
              help="vCPUs (default: the scenario's, usually 2).")
@click.option("--memory", callback=_size, default=None, help="RAM, e.g. 512M, 4G [default: 2G].")
@click.option("--gpaw", type=click.Choice([str(g) for g in GPAW_CHOICES]), default=None,
              help="Guest physical address width; the shared bit is bit GPAW-1 [default: 48].")
@click.option("--mailbox-version", type=click.IntRange(0, 1), default=None,
              help="MADT multiprocessor-wakeup mailbox version [default: 1].")
@click.option("--memory-mode", type=click.Choice(["accepted", "lazy"]), default=None,
              help="RAM accepted at boot, or accepted by the kernel as it goes.")
@click.option("--events", type=click.IntRange(0), default=DEFAULT_EVENTS, show_default=True,
              help="Approximate number of events (background noise fills up to it).")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Output file: .parquet or .jsonl.")
@click.option("--trace-id", default=None, help="Trace id [default: sim-SCENARIO-SEED].")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no summary line.")
def command(scenario: str, list_only: bool, vcpus: int | None, memory: int | None,
            gpaw: str | None, mailbox_version: int | None, memory_mode: str | None, events: int,
            seed: int, output: Path | None, trace_id: str | None, quiet: bool) -> None:
    """Write a deterministic trace of a simulated TD: boot, APs, shared buffers, background
    TDVMCALLs, kexec or kdump, and the bug the scenario is built to show."""
    if list_only:
        list_scenarios()
        return
    if output is None:
        raise click.UsageError("missing -o FILE (.parquet or .jsonl)")
    if output.suffix not in (".parquet", ".jsonl"):
        raise click.UsageError(f"{output}: output must end in .parquet or .jsonl")
    try:
        cfg = get_scenario(scenario).config(
            vcpus=vcpus, memory=memory, gpaw=int(gpaw) if gpaw else None,
            mailbox_version=mailbox_version, memory_mode=memory_mode, events=events, seed=seed,
            trace_id=trace_id)
        started = time.perf_counter()
        sim = simulate(cfg)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    with EventProgress(f"simulating {output.name}", events, quiet) as progress:
        rows = write_trace(output, sim.header, progress.track(sim.batches()))
    elapsed = time.perf_counter() - started
    if quiet:
        return
    size = output.stat().st_size
    rules = ", ".join(sim.header.expected_rules or ()) or "none"
    click.echo(f"{output}: {rows} events, {size} bytes ({size / max(rows, 1):.2f} bytes/event), "
               f"{elapsed:.2f} s; expected rules: {rules}", err=True)
