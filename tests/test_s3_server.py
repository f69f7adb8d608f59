"""The tests' S3 server keeps a connection for the next request, as real S3 does: a fleet
figure measured against it does not pay a TCP handshake per request that a real bucket
would not (moto's own server mode closes every connection)."""

from __future__ import annotations

import http.client
from urllib.parse import urlsplit

from tdxray.tests.s3server import S3Server


def _signed(s3: S3Server, path: str) -> dict[str, str]:
    """The headers of a signed GET of `path` (SigV4, as every client of the server sends)."""
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method="GET", url=f"{s3.endpoint}{path}")
    S3SigV4Auth(Credentials(s3.key, s3.secret), "s3", "us-east-1").add_auth(request)
    return dict(request.headers.items())


def test_two_requests_go_over_one_connection_and_both_are_logged(s3: S3Server) -> None:
    s3.bucket("tdxray-keepalive")
    where = urlsplit(s3.endpoint)
    conn = http.client.HTTPConnection(where.hostname or "", where.port, timeout=30)
    paths = ["/tdxray-keepalive?list-type=2", "/tdxray-keepalive/missing.parquet"]
    before = len(s3.requests())
    answers = []
    try:
        for path in paths:
            conn.request("GET", path, headers=_signed(s3, path))
            sock = conn.sock
            answer = conn.getresponse()
            answer.read()
            answers.append((answer.status, answer.getheader("Connection"), sock))
    finally:
        conn.close()
    (listed, first_said, first), (missing, second_said, second) = answers
    assert (listed, missing) == (200, 404)
    assert (first_said, second_said) == (None, None)  # no "Connection: close"
    assert first is second  # the second request went over the first's socket
    assert s3.requests()[before:] == [f"GET {p}" for p in paths]
