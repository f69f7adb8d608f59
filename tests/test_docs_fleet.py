"""docs/fleet.md's commands, run as written: a real `dask scheduler`, two `dask worker`
processes and moto's S3 server on loopback (only the port and the bucket's server differ)."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

from tdxray.tests.s3server import S3Server, free_port
from tdxray.tests.support import need_modules

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "fleet.md"
DOC_PORT = "8786"


def _commands() -> list[str]:
    text = DOC.read_text()
    (block,) = re.findall(r"```sh\n(.*?)```", text, re.S)
    return [line for line in block.splitlines() if line.strip()]


def test_every_command_of_the_fleet_doc_runs_as_written(s3: S3Server, tmp_path: Path) -> None:
    need_modules("distributed", install="dask[distributed]")
    s3.bucket("tdxray-fleet")
    port = str(free_port())
    bindir = Path(sys.executable).parent
    env = {**os.environ, **s3.env(), "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"}
    background: list[subprocess.Popen[bytes]] = []
    outputs: list[tuple[str, int, str]] = []
    try:
        for line in _commands():
            command, _, comment = line.partition("  # ")
            command = command.replace(DOC_PORT, port).replace(
                "sample_traces/", f"{ROOT}/sample_traces/")
            if command.endswith(" &"):
                background.append(subprocess.Popen(
                    shlex.split(command[:-2]), env=env, cwd=tmp_path, start_new_session=True,
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
                continue
            done = subprocess.run(shlex.split(command), env=env, cwd=tmp_path,
                                  capture_output=True, text=True, timeout=300, check=False)
            want = int(comment.split()[-1]) if comment.startswith("exit") else 0
            assert done.returncode == want, (line, done.stdout, done.stderr)
            outputs.append((" ".join(command.split()[1:3]), done.returncode, done.stdout))
    finally:
        for proc in background:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=60)
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["verdict"] == "fail"
    rules = sorted(d["rule"] for t in report["traces"] for d in t["divergences"])
    assert "C001" in rules
    listed = dict((name, out) for name, _, out in outputs)
    store_list = listed["store list"].splitlines()
    assert store_list[0].split()[0] == "trace_id"
    assert [row.split()[0] for row in store_list[1:]] == ["sample-cr4-mce-cleared",
                                                          "sample-kdump"]
    assert [row.split()[-1] for row in store_list[1:]] == ["no", "no"]
    keys = [o["Key"] for o in s3.client().list_objects_v2(Bucket="tdxray-fleet")["Contents"]]
    assert "rollout-1/sample-kdump.replay/replay.json" in keys
