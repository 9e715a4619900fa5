"""A bare WSGI hello world on the web app's waitress settings: the benchmark's baseline.

Run as ``python -m tests.bench.bare_wsgi`` with the same environment as
``shipshape-web``: it reads the same settings, serves through the same
:class:`webapp.server.WebServer` (same waitress adjustments, same event loop)
and answers ``/`` with the same body and content type, and nothing else:
no framework, no metrics, no logs, no tracing, no extra headers. It prints
``ready PORT`` once listening and stops on SIGTERM.
"""

from __future__ import annotations

import os
import signal
import sys

from webapp.server import WebServer
from webapp.settings import load_settings


def main() -> int:
    """Serve the bare app until SIGTERM."""
    settings = load_settings(os.environ)
    body = f"{settings.message}\n".encode()
    headers = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]

    def app(environ, start_response):
        start_response("200 OK", headers)
        return [body]

    server = WebServer(app, settings.server)
    signal.signal(signal.SIGTERM, lambda signum, frame: server.begin_drain())
    print(f"ready {server.port}", flush=True)
    return server.serve()


if __name__ == "__main__":
    sys.exit(main())
