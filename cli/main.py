"""The `tdxray` command: one click group, each subcommand in a module of its own (loaded lazily)."""

from __future__ import annotations

import difflib
import importlib
import sys
from typing import Any

import click

from tdxray import __version__
from tdxray.analyses.escape import escape_control
from tdxray.cli.allocator import system_allocator
from tdxray.cli.blas import one_blas_thread
from tdxray.cli.failures import (
    EXIT_TERMINATED,
    exit_now,
    failure_line,
    handle_sigterm,
    quiet_broken_pipe,
)
from tdxray.schema.errors import InputError, Terminated
from tdxray.store.fs import parse_storage_options, set_storage_options

# name -> (module, one-line description shown by `tdxray --help` without importing the module)
COMMANDS: dict[str, tuple[str, str]] = {
    "simulate": ("tdxray.cli.simulate", "Write a trace from the reference simulator of a TD."),
    "ingest": ("tdxray.cli.ingest", "Read trace files into a store (Parquet), one trace per TD."),
    "diff": ("tdxray.cli.diff", "Compare two traces phase by phase (exit 1 if B is worse)."),
    "export": ("tdxray.cli.export", "Write a trace back out as JSON Lines."),
    "info": ("tdxray.cli.info", "Summarise a trace or a store: TD, counts, time span, provenance."),
    "replay": ("tdxray.cli.replay", "Replay a trace against the TDX kexec model; keep results."),
    "check": ("tdxray.cli.check", "CI gate: replay traces and report divergences (exit 1 if any)."),
    "probes": ("tdxray.cli.probes", "Print the guest kprobe set (kprobe_events lines, trace-cmd)."),
    "rules": ("tdxray.cli.rules", "List the divergence catalogue: rule ids, severities, meaning."),
    "tui": ("tdxray.cli.tui", "Explore a trace interactively: events, divergences, state, SQL."),
    "report": ("tdxray.cli.report", "Write a self-contained HTML report of traces to share."),
    "shrink": ("tdxray.cli.shrink", "Shrink a trace to the fewest events revealing a divergence."),
    "store": ("tdxray.cli.store", "The manifest of a store: list, compact, check its traces."),
    "sql": ("tdxray.cli.sql", "Query a store with SQL: views over traces and replay results."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def resolve_command(self, ctx: click.Context,
                        args: list[str]) -> tuple[str | None, click.Command | None, list[str]]:
        """An unknown command gets the closest known one suggested ("did you mean")."""
        name = args[0] if args else ""
        if name and not name.startswith("-") and name not in COMMANDS:
            close = difflib.get_close_matches(name, list(COMMANDS), n=1, cutoff=0.6)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            ctx.fail(f"No such command '{name}'.{hint} (tdxray --help lists them)")
        return super().resolve_command(ctx, args)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        if cmd_name == "ingest":
            system_allocator()  # before pyarrow's import (cli/allocator.py)
        module = importlib.import_module(COMMANDS[cmd_name][0])
        command: click.Command = module.command
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except InputError as exc:
            click.echo(f"tdxray: error: {escape_control(str(exc))}", err=True)
            sys.exit(2)
        except Terminated:
            sys.exit(EXIT_TERMINATED)
        except KeyboardInterrupt:
            click.echo("tdxray: interrupted", err=True)
            sys.exit(130)
        except BrokenPipeError:
            quiet_broken_pipe()
        except Exception as exc:  # only the failures failure_line knows; a bug is re-raised
            line = failure_line(exc)
            if line is None:
                raise
            click.echo(f"tdxray: error: {line}", err=True)
            sys.exit(2)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tdxray")
@click.option("--storage-option", "storage", multiple=True, metavar="KEY=VALUE",
              help="For s3:// stores: an s3fs option (endpoint_url, key, secret, region, ...); "
                   "the AWS_* environment variables apply too.")
def cli(storage: tuple[str, ...]) -> None:
    """tdxray: store, replay and explore traces of Intel TDX guests (TDs).

    It replays what a TD did against a reference model of TDX kexec and kdump and reports
    every divergence (leaked shared memory, CR4.MCE cleared, mailbox misuse, ...).
    Every STORE or TRACE may be s3://bucket/prefix (docs/fleet.md).
    """
    set_storage_options(parse_storage_options(storage))


def prepare() -> None:
    """What the console script does before its command runs (benchmarks' child does it too)."""
    one_blas_thread()  # before numpy's import (cli/blas.py)
    handle_sigterm()


def main() -> None:
    prepare()
    try:
        cli(prog_name="tdxray")
    except SystemExit as done:  # click ends every command so, its status in code
        exit_now(done.code)
    exit_now(0)
