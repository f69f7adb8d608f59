"""Stores on object storage: s3://bucket/prefix against moto's S3 server on loopback (real HTTP,
real signatures, credentials checked), the same commands and reports as a local store."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tdxray.cli.main import cli
from tdxray.tests.s3server import S3Server, free_port

SAMPLES = Path(__file__).resolve().parent.parent / "sample_traces"
NAMES = ("kdump", "cr4-mce-cleared")
FILES = [str(SAMPLES / f"{n}.jsonl") for n in NAMES]


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def aws(s3: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    for name, value in s3.env().items():
        monkeypatch.setenv(name, value)
    return s3


@pytest.fixture(scope="module")
def local_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("local") / "store"
    assert run("ingest", *FILES, "-o", str(out)).exit_code == 0
    return out


def _no_ingest_time(text: str) -> str:
    return re.sub(r'"time": "[^"]*"', '"time": "T"', text)


def _keys(s3: S3Server, bucket: str, manifest: bool = False) -> list[str]:
    """The bucket's keys; the manifest's parts (STORE/_manifest/) only when asked."""
    listing = s3.client().list_objects_v2(Bucket=bucket)
    return sorted(o["Key"] for o in listing.get("Contents", [])
                  if manifest or "_manifest/" not in o["Key"])


def test_ingest_check_replay_info_export_on_s3_as_on_a_local_store(
        aws: S3Server, local_store: Path) -> None:
    url = aws.bucket("tdxray-roundtrip") + "/fleet/run1"
    res = run("ingest", *FILES, "-o", url)
    assert res.exit_code == 0, res.output
    assert f"sample-kdump: 150 events -> {url}/sample-kdump.parquet" in res.stderr
    assert _keys(aws, "tdxray-roundtrip") == [
        "fleet/run1/sample-cr4-mce-cleared.parquet", "fleet/run1/sample-kdump.parquet"]

    remote = run("check", url, "--format", "json")
    local = run("check", str(local_store), "--format", "json")
    assert remote.exit_code == local.exit_code == 1
    assert remote.stdout.replace(url, "STORE") == local.stdout.replace(str(local_store), "STORE")
    results = [f"fleet/run1/sample-{n}.replay/{f}" for n in sorted(NAMES)
               for f in ("divergences.parquet", "page_history.parquet", "replay.json")]
    assert _keys(aws, "tdxray-roundtrip") == sorted(
        ["fleet/run1/sample-cr4-mce-cleared.parquet", "fleet/run1/sample-kdump.parquet",
         *results])  # beside each trace, and no temporary key left behind

    stamp = "fleet/run1/sample-kdump.replay/replay.json"
    written = aws.client().head_object(Bucket="tdxray-roundtrip", Key=stamp)["ETag"]
    again = run("replay", url, "--trace", "sample-kdump")
    assert again.exit_code == 0, again.output
    assert f"  results: {url}/sample-kdump.replay" in again.stdout
    assert json.loads(aws.client().get_object(Bucket="tdxray-roundtrip", Key=stamp)["Body"]
                      .read())["trace"] == "sample-kdump.parquet"
    assert aws.client().head_object(Bucket="tdxray-roundtrip", Key=stamp)["ETag"] == written

    info = run("info", url, "--json")
    assert [t["path"] for t in json.loads(info.stdout)] == [
        f"{url}/sample-cr4-mce-cleared.parquet", f"{url}/sample-kdump.parquet"]
    exported = run("export", f"{url}/sample-kdump.parquet")
    assert exported.exit_code == 0
    again = run("export", str(local_store), "--trace", "sample-kdump").stdout
    assert _no_ingest_time(exported.stdout) == _no_ingest_time(again)


def test_ingest_refuses_a_trace_the_bucket_holds_unless_replace(aws: S3Server) -> None:
    url = aws.bucket("tdxray-replace")
    assert run("ingest", FILES[0], "-o", url).exit_code == 0
    assert run("check", url).exit_code == 0
    res = run("ingest", FILES[0], "-o", url)
    assert res.exit_code == 2
    assert res.stderr == (f"tdxray: error: {url}/sample-kdump.parquet: the store already holds "
                          "trace 'sample-kdump'; give --replace to overwrite it\n")
    assert run("ingest", FILES[0], "-o", url, "--replace").exit_code == 0
    assert _keys(aws, "tdxray-replace") == ["sample-kdump.parquet"]  # stale results dropped


def test_storage_options_give_endpoint_and_credentials(s3: S3Server,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    url = s3.bucket("tdxray-options")
    res = run("--storage-option", f"endpoint_url={s3.endpoint}", "--storage-option",
              f"key={s3.key}", "--storage-option", f"secret={s3.secret}",
              "ingest", FILES[1], "-o", url)
    assert res.exit_code == 0, res.output
    assert _keys(s3, "tdxray-options") == ["sample-cr4-mce-cleared.parquet"]
    bad = run("--storage-option", "endpoint_url", "info", url)
    assert (bad.exit_code, bad.stderr) == (
        2, "tdxray: error: --storage-option: 'endpoint_url': expected KEY=VALUE\n")


def test_a_missing_bucket_is_one_line(aws: S3Server) -> None:
    res = run("check", "s3://tdxray-no-such-bucket/fleet")
    assert (res.exit_code, res.stderr) == (
        2, "tdxray: error: s3://tdxray-no-such-bucket/fleet: no such bucket "
           "'tdxray-no-such-bucket'\n")


def test_wrong_credentials_are_one_line(aws: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    url = aws.bucket("tdxray-creds")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    res = run("ingest", FILES[0], "-o", url)
    assert (res.exit_code, res.stderr) == (
        2, f"tdxray: error: {url}: access denied (check the credentials): Forbidden\n")


def test_an_unreachable_endpoint_is_one_line(aws: S3Server,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    res = run("info", "s3://tdxray-anything/store")
    assert res.exit_code == 2
    assert res.stderr == ("tdxray: error: s3://tdxray-anything/store: object store error: "
                          f'Could not connect to the endpoint URL: "{endpoint}/tdxray-anything"\n')


def test_an_empty_prefix_and_a_missing_trace_are_named(aws: S3Server) -> None:
    url = aws.bucket("tdxray-empty")
    res = run("check", f"{url}/nothing-here")
    assert (res.exit_code, res.stderr) == (
        2, f"tdxray: error: {url}/nothing-here: store holds no traces\n")
    res = run("export", f"{url}/absent.parquet")
    assert (res.exit_code, res.stderr) == (
        2, f"tdxray: error: {url}/absent.parquet: no such object\n")


def test_a_fleet_check_on_s3_gives_the_sequential_report(aws: S3Server,
                                                         local_store: Path) -> None:
    url = aws.bucket("tdxray-fleet-check")
    assert run("ingest", *FILES, "-o", url).exit_code == 0
    fleet = run("check", url, "--workers", "2", "--format", "json")
    local = run("check", str(local_store), "--format", "json")
    assert fleet.exit_code == local.exit_code == 1
    assert fleet.stdout.replace(url, "STORE") == local.stdout.replace(str(local_store), "STORE")
    assert "tdxray: 2/2 traces replayed on the cluster" in fleet.stderr
    assert [k for k in _keys(aws, "tdxray-fleet-check") if k.endswith("replay.json")] == [
        "sample-cr4-mce-cleared.replay/replay.json", "sample-kdump.replay/replay.json"]


def test_the_manifest_of_an_s3_store(aws: S3Server) -> None:
    url = aws.bucket("tdxray-manifest") + "/fleet"
    assert run("ingest", FILES[0], "-o", url).exit_code == 0
    assert run("ingest", FILES[1], "-o", url).exit_code == 0
    parts = [k for k in _keys(aws, "tdxray-manifest", True) if k.startswith("fleet/_manifest/")]
    assert len(parts) == 2 and all(k.startswith("fleet/_manifest/part-") for k in parts)
    rows = json.loads(run("store", "list", url, "--json").stdout)
    assert [(r["trace_id"], r["events"]) for r in rows] == [
        ("sample-cr4-mce-cleared", 150), ("sample-kdump", 150)]
    ok = run("store", "check", url)
    assert (ok.exit_code, ok.stderr) == (
        0, f"tdxray: {url}: 2 traces, manifest under _manifest/: consistent\n")
    res = run("store", "compact", url)
    assert res.stderr == f"tdxray: {url}: 2 manifest parts compacted into 1 (2 traces)\n"
    assert len([k for k in _keys(aws, "tdxray-manifest", True) if "/_manifest/" in k]) == 1
    assert json.loads(run("store", "list", url, "--json").stdout) == rows
    assert run("check", url).exit_code == 1  # sequential: the stamps go to the manifest
    stamp = aws.client().get_object(Bucket="tdxray-manifest",
                                    Key="fleet/sample-kdump.replay/replay.json")["Body"].read()
    listed = {r["trace_id"]: r for r in json.loads(run("store", "list", url, "--json").stdout)}
    assert listed["sample-kdump"]["replay_stamp"] == stamp.decode()
    assert len([k for k in _keys(aws, "tdxray-manifest", True) if "/_manifest/" in k]) == 2


def test_sql_over_an_s3_store_as_over_a_local_one(aws: S3Server, local_store: Path) -> None:
    url = aws.bucket("tdxray-sql") + "/fleet"
    assert run("ingest", *FILES, "-o", url).exit_code == 0
    query = ("SELECT t.trace_id, t.events, t.td_config_hash, count(d.rule) AS divergences "
             "FROM traces t LEFT JOIN divergences d USING (trace_id) GROUP BY ALL ORDER BY 1")
    remote = run("sql", "--store", url, query, "--format", "csv")
    local = run("sql", "--store", str(local_store), query, "--format", "csv")
    assert remote.exit_code == local.exit_code == 0, remote.output
    assert remote.stdout == local.stdout
    assert remote.stdout.splitlines()[0] == "trace_id,events,td_config_hash,divergences"
    assert "tdxray: replaying sample-kdump (results missing or stale)" in remote.stderr
    assert [k for k in _keys(aws, "tdxray-sql") if k.endswith("replay.json")] == [
        "fleet/sample-cr4-mce-cleared.replay/replay.json", "fleet/sample-kdump.replay/replay.json"]
    again = run("sql", "--store", url, query, "--format", "csv")
    assert (again.stdout, "replaying" in again.stderr) == (local.stdout, False)  # fresh results
def test_a_text_trace_then_a_bucket_in_one_process(aws: S3Server) -> None:
    """A converted text trace and a fetched object share the process's scratch directory: each
    gets a directory of its own (two counters once both named theirs '0': 'File exists')."""
    url = aws.bucket("tdxray-scratch")
    assert run("ingest", FILES[0], "-o", url).exit_code == 0
    assert run("check", FILES[1]).exit_code == 1
    res = run("check", url)
    assert res.exit_code == 0, res.output
