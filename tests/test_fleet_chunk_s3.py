"""A task of several s3:// traces on a worker: the next trace is fetched while one replays and
the one before is published, with the same requests and outcomes as one trace at a time, and a
trace that cannot be fetched is its own outcome (the others are replayed and published)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tdxray.cli.main import cli
from tdxray.fleet.replay import _items, replay_chunk, replay_task
from tdxray.store import mirror
from tdxray.store.fs import locate
from tdxray.store.mirror import list_store, remote_trace_ids
from tdxray.tests.s3server import S3Server

SAMPLES = Path(__file__).resolve().parent.parent / "sample_traces"
NAMES = ("kdump", "cr4-mce-cleared", "unshare-failure")


@pytest.fixture
def aws(s3: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    for name, value in s3.env().items():
        monkeypatch.setenv(name, value)
    return s3


def _store(s3: S3Server, bucket: str) -> str:
    url = s3.bucket(bucket) + "/fleet"
    res = CliRunner().invoke(cli, ["ingest", *(str(SAMPLES / f"{n}.jsonl") for n in NAMES),
                                   "-o", url])
    assert res.exit_code == 0, res.output
    return url


def _traces(url: str) -> list[tuple[object, None]]:
    listed = list_store(locate(url))
    return [(listed.join(f"{tid}.parquet"), None) for tid in remote_trace_ids(listed)]


def _summary(outcomes: list) -> list[tuple[str, str | None, int, list[str]]]:  # type: ignore[type-arg]
    return [(str(o.path).rsplit("/", 1)[-1], o.error, o.events,
             sorted(d.rule for d in o.result.divergences) if o.result else []) for o in outcomes]


def test_a_chunk_of_remote_traces_gives_what_one_at_a_time_gives(
        aws: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    url = _store(aws, "tdxray-chunk")
    items = _items(_traces(url))
    threads: list[tuple[str, str]] = []

    def on_thread(what: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            threads.append((what, threading.current_thread().name.rsplit("_", 1)[0]))
            return real(*args, **kwargs)
        return call

    for what in ("fetch", "publish"):
        monkeypatch.setattr(mirror, what, on_thread(what, getattr(mirror, what)))
    before = len(aws.requests())
    chunk = replay_chunk(items, {}, False)
    requests = aws.requests()[before:]
    # fetched and published off the task's thread, which only replays
    assert sorted(set(threads)) == [("fetch", "tdxray-task-fetch"),
                                    ("publish", "tdxray-task-publish")]
    assert Counter(what for what, _ in threads) == Counter({"fetch": 3, "publish": 3})
    # each trace: one GET, then its three results files up, replay.json among them
    assert Counter(r.split(" ")[0] for r in requests) == Counter({"GET": 3, "PUT": 9})
    assert sorted(r for r in requests if r.startswith("PUT") and r.endswith("replay.json")) == [
        f"PUT /tdxray-chunk/fleet/sample-{n}.replay/replay.json" for n in sorted(NAMES)]
    # fresh now: the same outcomes, trace by trace, read back without a replay
    one = [replay_task(path, rdir, {}, False, listing) for path, rdir, listing in
           _items(_traces(url))]
    assert _summary(chunk) == _summary(one)
    assert [o.stamp for o in chunk] == [o.stamp for o in one]
    assert all(o.error is None and o.events > 0 for o in chunk)


def test_a_trace_that_cannot_be_fetched_is_its_own_outcome(aws: S3Server) -> None:
    url = _store(aws, "tdxray-chunk-gone")
    items = _items(_traces(url))
    aws.client().delete_object(Bucket="tdxray-chunk-gone",
                               Key="fleet/sample-kdump.parquet")  # listed, then gone
    outcomes = replay_chunk(items, {}, False)
    names = [str(o.path).rsplit("/", 1)[-1] for o in outcomes]
    assert names == [f"sample-{n}.parquet" for n in sorted(NAMES)]
    errors = {name: o.error for name, o in zip(names, outcomes, strict=True)}
    assert errors["sample-kdump.parquet"] is not None
    assert errors["sample-kdump.parquet"] == (
        f"{url}/sample-kdump.parquet: not found: The specified key does not exist.")
    assert [e for n, e in errors.items() if n != "sample-kdump.parquet"] == [None, None]
    keys = {k["Key"] for k in aws.client().list_objects_v2(
        Bucket="tdxray-chunk-gone")["Contents"]}
    assert {f"fleet/sample-{n}.replay/replay.json" for n in ("cr4-mce-cleared",
                                                             "unshare-failure")} <= keys
    assert "fleet/sample-kdump.replay/replay.json" not in keys
