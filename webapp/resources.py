"""The app's routes: the greeting, health, readiness, version and metrics.

Every resource answers ``HEAD`` as it answers ``GET`` (Falcon sends no body for
``HEAD``). Bodies that never change are encoded once, when the app is built.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import falcon
from prometheus_client.exposition import choose_encoder

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from webapp.readiness import Readiness

TEXT = "text/plain; charset=utf-8"
JSON = "application/json"
_NEGOTIATED = ("text/plain", JSON)

# Operational answers must always be fresh; nothing may keep a copy.
_NO_STORE = ("no-store",)
# The greeting may be kept but must be checked again: it changes with the ConfigMap.
_NO_CACHE = ("no-cache",)


class Greeting:
    """``/``: the configured message as text, or as JSON on ``Accept: application/json``."""

    def __init__(self, message: str, env: str, version: str) -> None:
        """Encode both representations of the greeting once."""
        self._text = f"{message}\n".encode()
        self._json = json.dumps(
            {"message": message, "env": env, "version": version}, ensure_ascii=False
        ).encode()

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Answer with the message; text unless the client prefers JSON."""
        # Most clients send no Accept or */*: parse it only when it names an
        # application type, which JSON may then win.
        if "application/" in req.accept and req.client_prefers(_NEGOTIATED) == JSON:
            resp.data = self._json
            resp.content_type = JSON
        else:
            resp.data = self._text
            resp.content_type = TEXT
        resp.cache_control = _NO_CACHE
        resp.vary = ("Accept",)

    on_head = on_get


class Health:
    """``/healthz``: 200 while the process serves requests at all (liveness)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Answer ``ok``."""
        resp.data = b"ok\n"
        resp.content_type = TEXT
        resp.cache_control = _NO_STORE

    on_head = on_get


class Ready:
    """``/readyz``: 200 while new traffic is welcome, 503 once the drain has started."""

    def __init__(self, readiness: Readiness) -> None:
        """Answer from ``readiness``, which the server flips on SIGTERM."""
        self._readiness = readiness

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Answer ``ok`` or, while draining, 503 ``draining``."""
        if self._readiness.ready:
            resp.data = b"ok\n"
        else:
            resp.status = falcon.HTTP_503
            resp.data = b"draining\n"
        resp.content_type = TEXT
        resp.cache_control = _NO_STORE

    on_head = on_get


class Version:
    """``/version``: the build's version and source commit as JSON."""

    def __init__(self, version: str, commit: str) -> None:
        """Encode the answer once."""
        self._body = json.dumps({"version": version, "commit": commit}).encode()

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Answer ``{"version": ..., "commit": ...}``."""
        resp.data = self._body
        resp.content_type = JSON
        resp.cache_control = _NO_STORE

    on_head = on_get


class Metrics:
    """``/metrics``: the registry in the exposition format the scraper asks for."""

    def __init__(self, registry: CollectorRegistry) -> None:
        """Expose ``registry``."""
        self._registry = registry

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Answer with the text format, or OpenMetrics when the Accept header asks for it."""
        encoder, content_type = choose_encoder(req.get_header("Accept") or "")
        resp.data = encoder(self._registry)
        resp.content_type = content_type
        resp.cache_control = _NO_STORE

    on_head = on_get
