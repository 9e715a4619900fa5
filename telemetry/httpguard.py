"""What our HTTP endpoints refuse before routing: another spelling of a path, an unknown method.

Shared by the web app and the controller's endpoints (health, readiness,
leadership, metrics): both are served by waitress and Falcon, and both sit
behind things that decide by the path and the method as sent.

**A route answers only to its own spelling.**

waitress removes the slashes a path starts with and decodes ``%2F`` into ``/``
before the app sees ``PATH_INFO``, and Falcon's router skips leading slashes
too: left alone, ``//metrics``, ``///metrics`` and ``/%2Fmetrics`` are all
served as ``/metrics``. Whatever sits in front and decides by the path as sent
(the mesh's AuthorizationPolicy keeps ``/metrics`` for Prometheus, the
ingress's routes) would then see one path while the app serves another. So the
path the client sent is checked before routing: an empty segment (``//``) or an
encoded slash anywhere is not a spelling of any route, and is answered 404 like
any unknown path.

**An unknown method is 501** (RFC 9110, 9.1: a method the server does not
recognise), not the 400 Falcon answers for a method outside its list, nor a
405, which says the method exists but not for this resource.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import falcon

# RFC 9110's methods and PATCH (RFC 5789): the methods an endpoint may know.
KNOWN_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)


def path_as_sent(environ: dict[str, Any]) -> str:
    """Return the request target's path as the client wrote it, still percent-encoded.

    waitress hands the request target over as ``REQUEST_URI`` (gunicorn as
    ``RAW_URI``); a server that gives neither leaves only ``PATH_INFO``, whose
    ``%2F`` can no longer be told from ``/`` but whose slashes are as sent.
    """
    target = environ.get("REQUEST_URI") or environ.get("RAW_URI")
    if not target:
        return environ.get("PATH_INFO") or "/"
    if target.startswith("/"):
        # origin-form; urlsplit would read "//metrics" as a host name.
        return target.partition("?")[0].partition("#")[0]
    if "://" in target:
        # absolute-form, which HTTP/1.1 servers must accept.
        return urlsplit(target).path or "/"
    return target


def is_ambiguous(path: str) -> bool:
    """Whether ``path`` (as sent) has an empty segment or an encoded slash."""
    return "//" in path or "%2f" in path.lower()


class StrictPath:
    """Falcon middleware answering 404 to a path that is no route's own spelling."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Refuse an ambiguous path before the router sees it.

        The refused request keeps its path as sent in ``req.path``, so the
        access line shows what the client asked for, not the route it
        resembles.
        """
        sent = path_as_sent(req.env)
        if is_ambiguous(sent):
            req.path = sent
            raise falcon.HTTPNotFound()


class KnownMethod:
    """Falcon middleware answering 501 to a method outside :data:`KNOWN_METHODS`."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Refuse an unknown method before the router sees it."""
        if req.method not in KNOWN_METHODS:
            raise falcon.HTTPNotImplemented(description="Unknown HTTP method")
