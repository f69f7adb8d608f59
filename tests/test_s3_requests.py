"""What a check of an s3:// store costs in requests, counted by the S3 server itself (moto's
request log): a contract, since each request is a round trip to object storage. The store is
listed once; a trace then costs one GET, plus one PUT per results file when it is replayed, or
one GET for the divergences and one for the stamp when they are fresh (a check reads nothing
else: the page history stays in the bucket), sequential or on a Dask worker."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tdxray.cli.main import cli
from tdxray.tests.s3server import S3Server

SAMPLES = Path(__file__).resolve().parent.parent / "sample_traces"
NAMES = ("kdump", "cr4-mce-cleared", "unshare-failure")
RESULTS = ("divergences.parquet", "page_history.parquet", "replay.json")


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def aws(s3: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    for name, value in s3.env().items():
        monkeypatch.setenv(name, value)
    return s3


def _during(server: S3Server, *args: str) -> tuple[Result, list[str]]:
    before = len(server.requests())
    res = run(*args)
    return res, server.requests()[before:]


def _per_trace(requests: list[str], prefix: str) -> tuple[Counter[str], list[str]]:
    """(requests per trace id, the others) of a store at /bucket/prefix."""
    per: Counter[str] = Counter()
    other = []
    for request in requests:
        method, path = request.split(" ", 1)
        name = path[len(prefix) + 1:].split("/", 1)[0] if path.startswith(prefix + "/") else ""
        tid = name.removesuffix(".parquet").removesuffix(".replay")
        if name and not name.startswith("_") and tid in {f"sample-{n}" for n in NAMES}:
            per[f"{method} {tid}"] += 1
        else:
            other.append(request)
    return per, other


def _parts_named(requests: list[str]) -> list[str]:
    """The requests with each manifest part's (time and random) name as part-N."""
    return [re.sub(r"part-[0-9]+-[0-9a-f]+\.parquet", "part-N.parquet", r) for r in requests]


@pytest.mark.parametrize("how", [[], ["--workers", "1"]], ids=["sequential", "fleet"])
def test_a_check_lists_the_store_once_and_costs_three_or_four_requests_per_trace(
        aws: S3Server, how: list[str]) -> None:
    """The same on a Dask worker: the client hands each task its trace's listing entries."""
    bucket = f"tdxray-requests-{len(how)}"
    url = aws.bucket(bucket) + "/fleet"
    assert run("ingest", *(str(SAMPLES / f"{n}.jsonl") for n in NAMES), "-o", url).exit_code == 0
    ids = [f"sample-{n}" for n in NAMES]

    stale, requests = _during(aws, "check", url, "-q", *how)
    assert stale.exit_code == 1, stale.output
    per, other = _per_trace(requests, f"/{bucket}/fleet")
    assert per == Counter({**{f"GET {t}": 1 for t in ids},  # the trace; no results yet
                           **{f"PUT {t}": len(RESULTS) for t in ids}})  # one PUT per file
    listed = [f"HEAD /{bucket}",  # the bucket, then the store listed once
              f"GET /{bucket}?list-type=2&prefix=fleet/&delimiter=&encoding-type=url",
              f"GET /{bucket}?list-type=2&prefix=fleet/_manifest/&delimiter=/&encoding-type=url"]
    # the manifest: listed once, its part read in one GET, the stamps appended as a new part
    assert _parts_named(other) == [*listed, f"GET /{bucket}/fleet/_manifest/part-N.parquet",
                                   f"PUT /{bucket}/fleet/_manifest/part-N.parquet"]

    fresh, requests = _during(aws, "check", url, "-q", *how)
    assert (fresh.exit_code, fresh.stdout) == (1, stale.stdout)
    per, other = _per_trace(requests, f"/{bucket}/fleet")
    # nothing uploaded; a check fetches only what it reads (divergences and stamp)
    assert per == Counter({f"GET {t}": 1 + 2 for t in ids})
    assert _parts_named(other) == [*listed, *[f"GET /{bucket}/fleet/_manifest/part-N.parquet"] * 2]


def test_an_html_check_fetches_each_trace_once(aws: S3Server) -> None:
    """The HTML report reads the page history too: the check fetches it with the trace and the
    page is drawn from that copy, not from a second fetch of the store."""
    bucket = "tdxray-requests-html"
    url = aws.bucket(bucket) + "/fleet"
    assert run("ingest", *(str(SAMPLES / f"{n}.jsonl") for n in NAMES), "-o", url).exit_code == 0
    ids = [f"sample-{n}" for n in NAMES]

    stale, requests = _during(aws, "check", url, "-q", "--format", "html")
    assert stale.exit_code == 1, stale.output
    per, _ = _per_trace(requests, f"/{bucket}/fleet")
    assert per == Counter({**{f"GET {t}": 1 for t in ids},
                           **{f"PUT {t}": len(RESULTS) for t in ids}})
    assert all(f"<h2>{t}</h2>" in stale.stdout for t in ids)

    fresh, requests = _during(aws, "check", url, "-q", "--format", "html")
    assert (fresh.exit_code, fresh.stdout) == (1, stale.stdout)
    per, _ = _per_trace(requests, f"/{bucket}/fleet")
    assert per == Counter({f"GET {t}": 1 + len(RESULTS) for t in ids})  # trace and results
