"""A sequential check of an s3:// store fetches its traces a window at a time, the next window
while the current traces replay (store/mirror.fetch_ahead): the first replay does not wait for
the whole store, and a corrupt trace among them is still one line naming its URL."""

from __future__ import annotations

from itertools import count
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tdxray.cli.main import cli
from tdxray.store.fs import locate
from tdxray.store.mirror import AHEAD, FIRST_WINDOW, fetch_ahead, list_store
from tdxray.tests.s3server import S3Server

SAMPLES = Path(__file__).resolve().parent.parent / "sample_traces"
TRACES = 20


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def aws(s3: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    for name, value in s3.env().items():
        monkeypatch.setenv(name, value)
    return s3


BUCKETS = count()


@pytest.fixture
def store(aws: S3Server, tmp_path: Path) -> str:
    """TRACES copies of one sample trace in a bucket of its own, t-00 … t-19 (one ingest, the
    copies put directly)."""
    local = tmp_path / "local"
    assert run("ingest", str(SAMPLES / "kdump.jsonl"), "-o", str(local)).exit_code == 0
    body = (local / "sample-kdump.parquet").read_bytes()
    bucket = f"tdxray-ahead-{next(BUCKETS)}"
    url = aws.bucket(bucket) + "/fleet"
    client = aws.client()
    for i in range(TRACES):
        client.put_object(Bucket=bucket, Key=f"fleet/t-{i:02}.parquet", Body=body)
    return url


def _bucket(url: str) -> str:
    return url.removeprefix("s3://").split("/", 1)[0]


def _trace_gets(s3: S3Server, url: str) -> int:
    return sum(1 for r in s3.requests() if r.startswith(f"GET /{_bucket(url)}/fleet/t-"))


def test_the_first_trace_comes_before_the_store_is_fetched(aws: S3Server, store: str,
                                                           tmp_path: Path) -> None:
    where = list_store(locate(store))
    traces = [where.join(f"t-{i:02}.parquet") for i in range(TRACES)]
    before = _trace_gets(aws, store)
    refs = fetch_ahead(traces, tmp_path / "mirror")
    first = next(refs)
    # the first window is here, the next one at most on its way: not the whole store
    assert FIRST_WINDOW <= _trace_gets(aws, store) - before <= FIRST_WINDOW + AHEAD < TRACES
    assert first.path.is_relative_to(tmp_path / "mirror") and first.path.name == "t-00.parquet"
    rest = list(refs)
    assert [r.source for r in [first, *rest]] == [t.url for t in traces]
    assert _trace_gets(aws, store) - before == TRACES  # each trace fetched once
    assert all(r.path.stat().st_size == first.path.stat().st_size for r in rest)


def test_a_sequential_check_of_the_store_replays_every_trace_once(
        aws: S3Server, store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """… and keeps no copy of a trace once its results are in the bucket."""
    mirror = tmp_path / "mirror"
    monkeypatch.setattr("tdxray.ingest.materialize._default_workdir", lambda: mirror)
    res = run("check", store, "--format", "json", "-q")
    assert res.exit_code == 0, res.output
    assert res.stdout.count('"trace_id": "sample-kdump"') == TRACES
    assert sorted(p.name for p in mirror.rglob("*") if p.is_file()) == []
    keys = {o["Key"] for o in aws.client().list_objects_v2(Bucket=_bucket(store))["Contents"]}
    assert {f"fleet/t-{i:02}.replay/{name}" for i in range(TRACES)
            for name in ("divergences.parquet", "page_history.parquet", "replay.json")} <= keys
    again = run("check", store, "--format", "json", "-q")  # fresh: nothing fetched is kept
    assert (again.exit_code, again.stdout) == (0, res.stdout)
    assert sorted(p.name for p in mirror.rglob("*") if p.is_file()) == []


def test_a_corrupt_trace_among_them_is_one_line_naming_its_url(aws: S3Server,
                                                               store: str) -> None:
    aws.client().put_object(Bucket=_bucket(store), Key="fleet/t-17.parquet", Body=b"not parquet")
    res = run("check", store, "-q")
    assert res.exit_code == 2 and res.stdout == ""
    assert res.stderr.splitlines() == [
        f"tdxray: error: {store}/t-17.parquet: not a readable Parquet file: Parquet magic "
        "bytes not found in footer. Either the file is corrupted or this is not a parquet "
        "file."]
    # the traces replayed before it: results whole or none (the stamp goes up last)
    keys = {o["Key"] for o in aws.client().list_objects_v2(Bucket=_bucket(store))["Contents"]}
    stamped = {k.removesuffix("/replay.json") for k in keys if k.endswith("/replay.json")}
    assert all(f"{d}/divergences.parquet" in keys and f"{d}/page_history.parquet" in keys
               for d in stamped)
    assert "fleet/t-17.replay/replay.json" not in keys
