"""An S3-compatible server on loopback for the tests: moto's app in a child process, under a
WSGI server that keeps connections alive as real S3 does (tests/s3serve.py).

It checks credentials (INITIAL_NO_AUTH_ACTION_COUNT: the first three requests create an IAM user
with an S3 policy and its access key, every later request must be signed with that key), listens
on 127.0.0.1 only, and dies with the test process (PR_SET_PDEATHSIG) if the fixture cannot stop it.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tdxray.tests.support import need_modules

USER_SETUP_ACTIONS = 3  # create_user, put_user_policy, create_access_key
_REQUEST = re.compile(r'"([A-Z]+) (\S+) HTTP/[0-9.]+"')
POLICY = {"Version": "2012-10-17",
          "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    key: str
    secret: str
    log: Path | None = None  # the server's request log (one line per HTTP request)

    def requests(self) -> list[str]:
        """"METHOD /path?query" of every S3 request the server has answered so far."""
        if self.log is None:
            return []
        found = (_REQUEST.search(line) for line in self.log.read_text().splitlines())
        return [f"{m.group(1)} {m.group(2)}" for m in found
                if m and not m.group(2).startswith("/moto-api")]

    def env(self) -> dict[str, str]:
        """The AWS environment a user of this server sets."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": self.key,
                "AWS_SECRET_ACCESS_KEY": self.secret, "AWS_REGION": "us-east-1"}

    def client(self):  # type: ignore[no-untyped-def]
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=self.key,
                            aws_secret_access_key=self.secret, region_name="us-east-1")

    def bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return f"s3://{name}"


def need_moto() -> None:
    need_modules("boto3", "moto.server", "waitress",
                 install="moto[server], boto3 and waitress (the dev extras)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _wait_ready(endpoint: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60  # a start-up safety net on a loaded machine, not a timing
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"moto server exited with {proc.returncode}")
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
            return
        except (urllib.error.URLError, OSError):
            time.sleep(0.05)
    raise RuntimeError("moto server did not start")


def _user(endpoint: str) -> tuple[str, str]:
    import boto3

    iam = boto3.client("iam", endpoint_url=endpoint, aws_access_key_id="setup",
                       aws_secret_access_key="setup", region_name="us-east-1")
    iam.create_user(UserName="tdxray")
    iam.put_user_policy(UserName="tdxray", PolicyName="s3", PolicyDocument=json.dumps(POLICY))
    key = iam.create_access_key(UserName="tdxray")["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


@contextlib.contextmanager
def s3_server() -> Iterator[S3Server]:
    need_moto()
    port = free_port()
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": str(USER_SETUP_ACTIONS),
           "MOTO_PORT": str(port)}
    with tempfile.TemporaryDirectory(prefix="tdxray-moto-") as scratch:
        log = Path(scratch) / "requests.log"
        proc = subprocess.Popen([sys.executable, "-m", "tdxray.tests.s3serve", str(port),
                                 str(log)], env=env, stdout=subprocess.DEVNULL,
                                preexec_fn=_die_with_parent)
        endpoint = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(endpoint, proc)
            key, secret = _user(endpoint)
            yield S3Server(endpoint, key, secret, log)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
