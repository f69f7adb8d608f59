"""`tdxray tui s3://…`: a trace on object storage opens as a local one does (fetched with its
results into the process's mirror), against moto's S3 server on loopback."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tdxray.cli.main import cli
from tdxray.tests.s3server import S3Server
from tdxray.tui.app import TdxrayApp
from tdxray.tui.event_table import EventTable
from tdxray.tui.trace_screen import TraceScreen
from tests.test_tui import SIZE, settle, sync, text_of

SAMPLES = Path(__file__).resolve().parent.parent / "sample_traces"


@pytest.fixture
def store_url(s3: S3Server, monkeypatch: pytest.MonkeyPatch) -> str:
    for name, value in s3.env().items():
        monkeypatch.setenv(name, value)
    url = s3.bucket("tdxray-tui") + "/fleet"
    res = CliRunner().invoke(cli, ["ingest", str(SAMPLES / "unfixed-kernel.jsonl"),
                                   str(SAMPLES / "kdump.jsonl"), "-o", url, "--replace"])
    assert res.exit_code == 0, res.output
    return url


@sync
async def test_a_trace_of_an_s3_store_opens_with_its_divergences(store_url: str) -> None:
    app = TdxrayApp(store_url, "sample-unfixed-kernel")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, TraceScreen)
        table = app.screen.query_one(EventTable)
        assert table.view.total == 150
        assert table.row_at(0)["seq"] == 1
        assert "sample-unfixed-kernel" in text_of(app, "#titlebar")
        assert "1 fatal" in text_of(app, "#status")


@sync
async def test_an_s3_object_url_opens_that_trace(store_url: str) -> None:
    app = TdxrayApp(f"{store_url}/sample-kdump.parquet")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, TraceScreen)
        assert app.screen.query_one(EventTable).view.total == 150
        assert "sample-kdump" in text_of(app, "#titlebar")
