"""The S3 server's child process: moto's WSGI app under waitress, which keeps HTTP/1.1
connections alive as real S3 does (moto's own server mode, werkzeug's development server,
closes every connection after one answer). Each request is logged before it is answered, as
`"METHOD /path?query HTTP/1.1"` on a line of its own (percent-decoded, as werkzeug logs it),
so a test that reads the log after its command returns sees every request that command made.

Run as `python -m tdxray.tests.s3serve PORT LOG`; it listens on 127.0.0.1 only.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote

Wsgi = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
THREADS = 8  # requests answered at once (the client's fetches go 64 at a time)


def logged(app: Wsgi, log_fd: int) -> Wsgi:
    """The app, writing each request's line to log_fd (one write: lines never interleave)."""
    def serve(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        line = (f'"{environ["REQUEST_METHOD"]} {unquote(environ["REQUEST_URI"])} '
                f'{environ["SERVER_PROTOCOL"]}"\n')
        os.write(log_fd, line.encode("utf-8", "backslashreplace"))
        return app(environ, start_response)

    return serve


def main(port: int, log: str) -> None:
    import waitress
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    # waitress warns on stderr whenever requests wait for a thread ("Task queue depth is 2"):
    # a client sending 64 at a time makes them wait, which is not news
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    log_fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    app = DomainDispatcherApplication(create_backend_app)
    waitress.serve(logged(app, log_fd), host="127.0.0.1", port=port, threads=THREADS,
                   _quiet=True)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
