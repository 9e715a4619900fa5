"""The HTTP front of the test server: routing, auth, faults, and the REST verbs."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

from . import access, discovery, kinds, protobuf, validation
from .errors import (
    ApiError,
    bad_request,
    invalid,
    method_not_allowed,
    unauthorized,
    unsupported_media_type,
)
from .faults import Client, FaultRule, RequestAttributes, default_message
from .resources import ResourceType
from .selectors import SelectorError, parse_field_selector, parse_label_selector
from .ssa import managers as field_managers
from .ssa.serve import apply_request
from .store import PATCH_TYPES, Obj, WatchClosed
from .tables import to_table, wants_table

if TYPE_CHECKING:
    from .server import KubeApiServer

log = logging.getLogger("tests.kubeapi")

PUBLIC_PATHS = ("/version", "/healthz", "/livez", "/readyz")

# What Go's encoding/json escapes in strings besides the JSON minimum: the HTML
# characters, and the two line separators JavaScript does not allow in strings.
_GO_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


def go_json(obj: Any) -> bytes:
    """Return ``obj`` as the API server writes JSON: compact UTF-8, Go's escapes.

    Go writes non-ASCII characters as they are and escapes ``<``, ``>``, ``&``,
    U+2028 and U+2029 as ``\\u`` escapes. Clients that compare bytes see the
    difference: kubectl skips a rollback to the running template by comparing
    a ControllerRevision's ``data``, as sent, with its own encoding of the
    template. A string holding a lone surrogate (no UTF-8 form) is written
    with ASCII escapes instead, still the same JSON value.
    """
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).translate(_GO_ESCAPES)
    try:
        return text.encode()
    except UnicodeEncodeError:  # a lone surrogate
        return json.dumps(obj, separators=(",", ":")).translate(_GO_ESCAPES).encode()


class _Drop(Exception):
    """Close the connection without a response (a network partition)."""


@dataclass
class Route:
    """A request resolved against the resource catalogue."""

    rtype: ResourceType
    version: str
    namespace: str
    name: str
    subresource: str
    verb: str


_OPTIONS_KIND = {
    "create": "CreateOptions",
    "update": "UpdateOptions",
    "patch": "PatchOptions",
    "delete": "DeleteOptions",
    "deletecollection": "DeleteOptions",
}


def _dry_run(verb: str, query: dict[str, str]) -> bool:
    """Whether a write is a dry run; `All` is the only value a real server accepts.

    Raises:
        ApiError: 422 `CreateOptions.meta.k8s.io "" is invalid: dryRun: Unsupported
            value: []string{"true"}: supported values: "All"`.
    """
    value = query.get("dryRun")
    if value is None or value == "All" or verb not in _OPTIONS_KIND:
        return value == "All"
    message = f'Unsupported value: []string{{{json.dumps(value)}}}: supported values: "All"'
    cause = ("FieldValueNotSupported", "dryRun", message)
    raise invalid(_OPTIONS_KIND[verb], "meta.k8s.io", "", [cause])


class ApiHTTPServer(ThreadingHTTPServer):
    """A threading HTTP(S) server that knows its open connections (to end them on stop)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        api: KubeApiServer,
        ssl_context: ssl.SSLContext | None,
    ) -> None:
        super().__init__(address, ApiHandler)
        self.api = api
        self.ssl_context = ssl_context
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()

    def get_request(self) -> tuple[socket.socket, Any]:
        """Accept a connection; the TLS handshake happens in the handler's thread."""
        sock, address = super().get_request()
        if self.ssl_context is not None:
            sock = self.ssl_context.wrap_socket(
                sock, server_side=True, do_handshake_on_connect=False
            )
        with self.connections_lock:
            self.connections.add(sock)
        return sock, address

    def shutdown_request(self, request: Any) -> None:
        """Forget a finished connection."""
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Shut every open connection down (idle keep-alives and streams alike)."""
        with self.connections_lock:
            connections = list(self.connections)
        for sock in connections:
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Log broken connections quietly; they are the client's business."""
        log.debug("connection from %s ended with an error", client_address, exc_info=True)


class ApiHandler(BaseHTTPRequestHandler):
    """One connection: serves Kubernetes API requests, keep-alive, chunked watches."""

    protocol_version = "HTTP/1.1"
    server_version = "kubeapi-test"
    timeout = 120
    # Headers and body go out in separate writes: without TCP_NODELAY, Nagle's
    # algorithm and the client's delayed ACK add 40 ms to every keep-alive request.
    disable_nagle_algorithm = True
    server: ApiHTTPServer
    # Set by a `lose` fault for the request being served: its answer is not sent.
    _lose_response = False
    #: The request being served, until it is logged: its attributes, method,
    #: arrival (epoch seconds) and start (monotonic).
    _logging: tuple[RequestAttributes, str, float, float] | None = None

    # --- plumbing -------------------------------------------------------------------------

    def log_message(self, format: str, *args: Any) -> None:
        """Send the access log to `logging` at debug level."""
        log.debug("%s %s", self.address_string(), format % args)

    def setup(self) -> None:
        """Complete the TLS handshake in this thread, then set up the streams."""
        super().setup()
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.do_handshake()

    def do_GET(self) -> None:
        """Serve GET."""
        self._serve("GET")

    def do_POST(self) -> None:
        """Serve POST."""
        self._serve("POST")

    def do_PUT(self) -> None:
        """Serve PUT."""
        self._serve("PUT")

    def do_PATCH(self) -> None:
        """Serve PATCH."""
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        """Serve DELETE."""
        self._serve("DELETE")

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(
        self,
        code: int,
        body: bytes,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        if self._lose_response:
            # A `lose` fault: the request was served, its answer never arrives.
            self._lose_response = False
            self._drop_connection()
            return
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache, private")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        for warning in validation.warning_headers():
            self.send_header("Warning", warning)
        self.end_headers()
        # Logged before the body goes out: a client that has its answer finds
        # its request in the log (the arrival time is what orders the log).
        self._log_request(code)
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(
        self,
        code: int,
        obj: Any,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        self._send(code, go_json(obj), content_type, headers)

    def _drop_connection(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            socket.socket.shutdown(self.connection, socket.SHUT_RDWR)

    # --- the request ----------------------------------------------------------------------

    def _serve(self, method: str) -> None:
        api = self.server.api
        arrived, started = time.time(), time.monotonic()
        url = urlsplit(self.path)
        path = unquote(url.path).rstrip("/") or "/"
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        attrs = RequestAttributes(client="", verb=method.lower())
        status = 500
        self._lose_response = False
        self._logging = None if path.startswith("/_kubeapi") else (attrs, method, arrived, started)
        try:
            body = self._read_body()
            if path.startswith("/_kubeapi"):
                status = self._serve_admin(method, path, query, body)
                return
            client = self._authenticate(path)
            try:
                route = self._route(method, path, query) if _is_resource_path(path) else None
            except ApiError as err:
                if err.code == 404 and client is not None:  # authorization comes first
                    access.authorize_unserved(api, client, method, path, query)
                raise
            attrs = _attributes(client, method, route)
            self._logging = (attrs, method, arrived, started)
            self._apply_faults(attrs)
            if route is None:
                if client is not None and path not in PUBLIC_PATHS:
                    access.authorize_path(api, client, method, path)
                status = self._serve_nonresource(path, query)
            else:
                self._authorize(client, route, attrs, query)
                with (
                    validation.request(
                        query, route.verb, route.version, self.headers.get("Content-Type", "")
                    ),
                    field_managers.writing(self._write_context(route, query)),
                    access.acting_as(api, client, route),
                ):
                    status = self._serve_resource(method, route, query, body, client)
        except ApiError as err:
            status = err.code
            self._send_json(err.code, err.status(), headers=err.headers)
        except _Drop:
            status = 0
            self._drop_connection()
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, TimeoutError):
            status = 0
            self.close_connection = True
        finally:
            # Not answered through _send (a watch, a dropped connection): now.
            self._log_request(status)

    def _log_request(self, status: int) -> None:
        """Log the request being served, once (admin requests are not logged)."""
        if self._logging is None:
            return
        attrs, method, arrived, started = self._logging
        self._logging = None
        self.server.api.record_request(
            attrs, method, self.path, status, arrived, time.monotonic() - started
        )

    def _write_context(self, route: Route, query: dict[str, str]) -> field_managers.WriteContext:
        api_version = route.rtype.api_version(route.version)
        return field_managers.request_context(query, self.headers, api_version, route.subresource)

    def _authenticate(self, path: str) -> Client | None:
        header = self.headers.get("Authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        client = access.authenticate(self.server.api, token) if token else None
        if client is None and path not in PUBLIC_PATHS:
            raise unauthorized()
        impersonate = self.headers.get("Impersonate-User")
        if client is not None and impersonate:
            groups = self.headers.get_all("Impersonate-Group") or []
            client = access.impersonate(self.server.api, client, impersonate, groups)
        return client

    def _apply_faults(self, attrs: RequestAttributes) -> None:
        api = self.server.api
        partition = api.faults.partition_for(attrs.client) if attrs.client else None
        if partition is not None:
            if partition.mode == "hang":
                api.wait_partition(partition)
            raise _Drop()
        for rule in api.faults.take(attrs):
            if rule.kind == "latency":
                time.sleep(rule.latency)
            elif rule.kind == "error":
                raise _injected_error(rule)
            elif rule.kind == "lose":
                self._lose_response = True  # served as usual; _send drops the answer
            elif rule.kind == "deny":
                continue  # RBAC denials are applied after routing (_authorize)

    def _authorize(
        self, client: Client | None, route: Route, attrs: RequestAttributes, query: dict[str, str]
    ) -> None:
        if client is None:
            raise unauthorized()
        access.authorize_resource(self.server.api, client, route, attrs, query)

    def _route(self, method: str, path: str, query: dict[str, str]) -> Route | None:
        api = self.server.api
        parts = path.strip("/").split("/")
        if parts[0] == "api":
            group, version, rest = "", parts[1], parts[2:]
        else:
            if len(parts) < 3:
                return None
            group, version, rest = parts[1], parts[2], parts[3:]
        watch = query.get("watch") in ("true", "1")
        if rest and rest[0] == "watch":
            watch, rest = True, rest[1:]
        if not rest:
            return None
        namespace = name = subresource = ""
        registry = api.registry
        if (
            rest[0] == "namespaces"
            and len(rest) >= 3
            and (
                (candidate := registry.lookup(group, version, rest[2])) is not None
                and candidate.namespaced
            )
        ):
            namespace, rest = rest[1], rest[2:]
        plural = rest[0]
        rtype = registry.lookup(group, version, plural)
        if rtype is None or len(rest) > 3:
            raise _not_served()
        if len(rest) >= 2:
            name = rest[1]
        if len(rest) == 3:
            subresource = rest[2]
            if subresource not in rtype.subresources:
                raise _not_served()
        if rtype.namespaced and not namespace and name:
            raise _not_served()
        if not rtype.namespaced and namespace:
            raise _not_served()
        if name:
            verb = {
                "GET": "watch" if watch else "get",
                "PUT": "update",
                "PATCH": "patch",
                "DELETE": "delete",
                **({"POST": "create"} if subresource == "token" else {}),
            }.get(method)
        else:
            verb = {
                "GET": "watch" if watch else "list",
                "POST": "create",
                "DELETE": "deletecollection",
            }.get(method)
        if verb is None:
            raise method_not_allowed(method)
        return Route(rtype, version, namespace, name, subresource, verb)

    # --- non-resource paths ---------------------------------------------------------------

    def _serve_nonresource(self, path: str, query: dict[str, str]) -> int:
        api = self.server.api
        registry = api.registry
        accept = self.headers.get("Accept", "")
        if path in ("/healthz", "/livez", "/readyz"):
            self._send(200, b"ok", "text/plain; charset=utf-8")
            return 200
        if path == "/version":
            self._send_json(200, discovery.version_info())
            return 200
        if path in ("/api", "/apis"):
            aggregated = discovery.wants_aggregated(accept)
            if aggregated:
                version = aggregated.split("v=")[1].split(";")[0]
                document = discovery.aggregated(
                    registry, path == "/api", f"apidiscovery.k8s.io/{version}"
                )
                self._send_json(200, document, aggregated)
            elif path == "/api":
                self._send_json(200, discovery.api_versions(self.headers.get("Host", "")))
            else:
                self._send_json(200, discovery.api_group_list(registry))
            return 200
        parts = path.strip("/").split("/")
        document: Any = None
        if parts[0] == "api" and len(parts) == 2:
            document = discovery.api_resource_list(registry, "", parts[1])
        elif parts[0] == "apis" and len(parts) == 2:
            document = discovery.api_group(registry, parts[1])
        elif parts[0] == "apis" and len(parts) == 3:
            document = discovery.api_resource_list(registry, parts[1], parts[2])
        elif path == "/openapi/v3":
            document = discovery.openapi_v3_index(registry)
        elif parts[:2] == ["openapi", "v3"]:
            rest = parts[2:]
            if rest[:1] == ["api"] and len(rest) == 2:
                document = discovery.openapi_v3_document(registry, "", rest[1])
            elif rest[:1] == ["apis"] and len(rest) == 3:
                document = discovery.openapi_v3_document(registry, rest[1], rest[2])
        if document is None:
            raise _not_served()
        self._send_json(200, document)
        return 200

    # --- resources ------------------------------------------------------------------------

    def _serve_resource(  # noqa: PLR0911 - one return per verb
        self, method: str, route: Route, query: dict[str, str], body: bytes, client: Client
    ) -> int:
        api = self.server.api
        store = api.store
        rtype = route.rtype
        actor = client.name
        dry_run = _dry_run(route.verb, query)
        if route.subresource == "scale":
            return self._serve_scale(method, route, body, actor, dry_run)
        if access.serves(route):
            if route.verb != "create":
                raise method_not_allowed(method)
            code, answer = access.serve(api, route, _decode(body, self.headers), client)
            self._send_json(code, answer)
            return code
        if route.verb == "get":
            obj = store.get(rtype, route.namespace, route.name)
            return self._reply_object(200, route, obj)
        if route.verb in ("list", "watch"):
            _check_list_options(query, route.verb == "watch")
            labels, fields = _selectors(rtype, query)
            namespace = route.namespace or None
            if route.name:  # GET .../NAME?watch=true: a watch of one object
                fields = fields + parse_field_selector(
                    f"metadata.name={route.name}", {"metadata.name"}
                )
            if route.verb == "watch":
                self._serve_watch(
                    route, namespace, labels=labels, fields=fields, query=query, client=client
                )
                return 200
            return self._serve_list(route, namespace, labels, fields, query)
        if route.verb == "create":
            obj = store.create(rtype, route.namespace, _decode(body, self.headers), actor, dry_run)
            return self._reply_object(201, route, obj)
        if route.verb == "update":
            may_create = None
            with store.lock:
                missing = store.find(rtype, route.namespace, route.name) is None
                if missing and kinds.create_on_update(rtype) and not route.subresource:
                    may_create = functools.partial(
                        access.authorize_create_on_update, self.server.api, client, route
                    )
                obj = store.update(
                    rtype,
                    route.namespace,
                    route.name,
                    _decode(body, self.headers),
                    actor,
                    subresource=route.subresource or None,
                    dry_run=dry_run,
                    authorize_create=may_create,
                )
            return self._reply_object(200 if may_create is None else 201, route, obj)
        if route.verb == "patch":
            content_type = self.headers.get("Content-Type", "").split(";")[0].strip()
            if content_type == field_managers.APPLY_PATCH:
                code, obj = apply_request(
                    store,
                    rtype,
                    route.namespace,
                    route.name,
                    _decode(body, self.headers),
                    actor=actor,
                    context=field_managers.current(),
                    query=query,
                    dry_run=dry_run,
                )
                return self._reply_object(code, route, obj)
            if content_type not in PATCH_TYPES:
                raise unsupported_media_type(list(PATCH_TYPES))
            patch = _decode(body, self.headers, allow_list=True)
            obj = store.patch(
                rtype,
                route.namespace,
                route.name,
                content_type,
                patch,
                actor=actor,
                subresource=route.subresource or None,
                dry_run=dry_run,
            )
            return self._reply_object(200, route, obj)
        if route.verb == "delete":
            options = _decode(body, self.headers) if body.strip() else {}
            dry_run = dry_run or "All" in (options.get("dryRun") or [])
            obj, gone = store.delete(
                rtype,
                route.namespace,
                route.name,
                actor,
                preconditions=options.get("preconditions"),
                dry_run=dry_run,
            )
            if rtype.custom or rtype.kind in ("Namespace", "Pod", "Service") or not gone:
                code = 200 if gone or rtype.kind == "Namespace" else 202
                return self._reply_object(code, route, obj)
            status = {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "details": {
                    "name": route.name,
                    "group": rtype.group,
                    "kind": rtype.plural,
                    "uid": obj["metadata"].get("uid"),
                },
            }
            self._send_json(200, status)
            return 200
        if route.verb == "deletecollection":
            labels, fields = _selectors(rtype, query)
            items, _rv, _c, _r = store.list(rtype, route.namespace or None, labels, fields)
            deleted = []
            for item in items:
                meta = item["metadata"]
                try:
                    obj, _gone = store.delete(
                        rtype, meta.get("namespace", ""), meta["name"], actor, dry_run=dry_run
                    )
                except ApiError as err:
                    if err.code != 404:
                        raise
                    continue
                deleted.append(obj)
            self._send_json(200, self._list_body(route, deleted, store.rv, None, None))
            return 200
        raise method_not_allowed(method)

    def _versioned(self, route: Route, obj: Obj) -> Obj:
        api_version = route.rtype.api_version(route.version)
        if obj.get("apiVersion") == api_version:
            return obj
        return {**obj, "apiVersion": api_version}

    def _reply_object(self, code: int, route: Route, obj: Obj) -> int:
        accept = self.headers.get("Accept", "")
        if code == 200 and wants_table(accept):
            table = to_table(route.rtype, [self._versioned(route, obj)], {}, _include(self.path))
            self._send_json(code, table)
            return code
        self._send_json(code, self._versioned(route, obj))
        return code

    def _list_body(
        self, route: Route, items: list[Obj], rv: int, token: str | None, remaining: int | None
    ) -> Obj:
        meta: Obj = {"resourceVersion": str(rv)}
        if token:
            meta["continue"] = token
            meta["remainingItemCount"] = remaining
        return {
            "kind": f"{route.rtype.kind}List",
            "apiVersion": route.rtype.api_version(route.version),
            "metadata": meta,
            "items": [self._versioned(route, obj) for obj in items],
        }

    def _serve_list(
        self, route: Route, namespace: str | None, labels: list, fields: list, query: dict[str, str]
    ) -> int:
        store = self.server.api.store
        try:
            limit = int(query.get("limit") or 0)
        except ValueError as err:
            raise bad_request(f"limit: invalid value {query.get('limit')!r}") from err
        rv = query.get("resourceVersion")
        at_rv = None
        if rv and rv.isdigit() and query.get("resourceVersionMatch") != "Exact":
            _wait_for_version(store, int(rv))
        if query.get("resourceVersionMatch") == "Exact" and rv not in (None, ""):
            if not rv.isdigit():
                raise bad_request(f'invalid resource version "{rv}"')
            at_rv = int(rv)
        items, list_rv, token, remaining = store.list(
            route.rtype,
            namespace,
            labels,
            fields,
            limit=limit,
            continue_token=query.get("continue") or None,
            at_rv=at_rv,
        )
        body = self._list_body(route, items, list_rv, token, remaining)
        if wants_table(self.headers.get("Accept", "")):
            body = to_table(route.rtype, body["items"], body["metadata"], _include(self.path))
        self._send_json(200, body)
        return 200

    def _serve_watch(
        self,
        route: Route,
        namespace: str | None,
        *,
        labels: list,
        fields: list,
        query: dict[str, str],
        client: Client,
    ) -> None:
        api = self.server.api
        store = api.store
        send_initial = query.get("sendInitialEvents")
        try:
            timeout = float(query.get("timeoutSeconds") or api.default_watch_timeout)
        except ValueError as err:
            raise bad_request("timeoutSeconds must be a number") from err
        watcher = store.watch(
            route.rtype,
            namespace,
            labels,
            fields,
            resource_version=query.get("resourceVersion"),
            send_initial_events=None if send_initial is None else send_initial == "true",
            client=client.name,
        )
        bookmarks = query.get("allowWatchBookmarks") == "true"
        table = wants_table(self.headers.get("Accept", ""))
        include = _include(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        self.wfile.flush()
        deadline = time.monotonic() + timeout
        next_bookmark = time.monotonic() + api.bookmark_interval
        abrupt = False
        first_table = True
        try:
            while not api.stopping:
                now = time.monotonic()
                if now >= deadline:
                    break
                wait = deadline - now
                if bookmarks:
                    wait = min(wait, max(0.0, next_bookmark - now))
                try:
                    item = watcher.get(wait)
                except WatchClosed as closed:
                    if closed.reason.startswith("partition"):
                        if closed.reason == "partition-hang":
                            rule = api.faults.partition_for(client.name)
                            if rule is not None:
                                api.wait_partition(rule)
                        abrupt = True
                    elif closed.reason == "reset":
                        abrupt = True
                    break
                if item is None:
                    if bookmarks and time.monotonic() >= next_bookmark:
                        bookmark = store.try_bookmark(watcher)
                        if bookmark is not None:
                            self._write_event("BOOKMARK", self._versioned(route, bookmark))
                        next_bookmark = time.monotonic() + api.bookmark_interval
                    continue
                kind, obj = item
                if kind == "ERROR":
                    self._write_event(kind, obj)
                    continue
                if kind == "BOOKMARK" and not bookmarks:
                    continue
                obj = self._versioned(route, obj)
                if table and kind != "BOOKMARK":
                    obj = to_table(route.rtype, [obj], {}, include, headers=first_table)
                    first_table = False
                self._write_event(kind, obj)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, TimeoutError, OSError):
            abrupt = True
        finally:
            store.unregister(watcher)
        if abrupt:
            self._drop_connection()
            return
        try:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            self.close_connection = True

    def _write_event(self, kind: str, obj: Obj) -> None:
        data = go_json({"type": kind, "object": obj}) + b"\n"
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _serve_scale(
        self, method: str, route: Route, body: bytes, actor: str, dry_run: bool
    ) -> int:
        store = self.server.api.store
        rtype = route.rtype
        if route.verb == "get":
            obj = store.get(rtype, route.namespace, route.name)
            self._send_json(200, _scale_of(obj))
            return 200
        if route.verb not in ("update", "patch"):
            raise method_not_allowed(method)
        with store.lock:
            obj = store.get(rtype, route.namespace, route.name)
            scale = _scale_of(obj)
            if route.verb == "update":
                new_scale = _decode(body, self.headers)
            else:
                from .store import apply_patch

                content_type = self.headers.get("Content-Type", "").split(";")[0].strip()
                scale_type = ResourceType("autoscaling", ("v1",), "Scale", "scale")
                new_scale = apply_patch(
                    scale_type, scale, content_type, _decode(body, self.headers, allow_list=True)
                )
            want_rv = ((new_scale.get("metadata") or {}).get("resourceVersion")) or None
            replicas = (new_scale.get("spec") or {}).get("replicas")
            if not isinstance(replicas, int) or replicas < 0:
                raise ApiError(
                    422,
                    f'Scale.autoscaling "{route.name}" is invalid: spec.replicas: '
                    "Invalid value: must be a non-negative integer",
                )
            patch: Obj = {"spec": {"replicas": replicas}}
            if want_rv and route.verb == "update":
                patch["metadata"] = {"resourceVersion": want_rv}
            updated = store.patch(
                rtype,
                route.namespace,
                route.name,
                "application/merge-patch+json",
                patch,
                actor=actor,
                dry_run=dry_run,
            )
        self._send_json(200, _scale_of(updated))
        return 200

    # --- the admin API --------------------------------------------------------------------

    def _serve_admin(self, method: str, path: str, query: dict[str, str], body: bytes) -> int:
        from .admin import handle_admin

        client = self._authenticate(path)
        if client is None or not client.admin:
            raise ApiError(403, "the /_kubeapi admin API needs an admin client's token")
        code, payload = handle_admin(self.server.api, method, path, query, body)
        self._send_json(code, payload)
        return code


def _is_resource_path(path: str) -> bool:
    parts = path.strip("/").split("/")
    if parts[0] == "api":
        return len(parts) >= 3
    if parts[0] == "apis":
        return len(parts) >= 4
    return False


def _not_served() -> ApiError:
    return ApiError(404, "the server could not find the requested resource", details={})


def _attributes(client: Client | None, method: str, route: Route | None) -> RequestAttributes:
    name = client.name if client else ""
    if route is None:
        return RequestAttributes(client=name, verb=method.lower() if method != "GET" else "get")
    return RequestAttributes(
        client=name,
        verb=route.verb,
        resource=route.rtype.plural,
        resource_key=route.rtype.key,
        subresource=route.subresource,
        namespace=route.namespace,
        name=route.name,
        group=route.rtype.group,
    )


def _injected_error(rule: FaultRule) -> ApiError:
    status = rule.status or 500
    headers = {}
    details: dict[str, Any] = {}
    retry_after = rule.retry_after
    if retry_after is None and status in (429, 503):
        retry_after = 1
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
        details["retryAfterSeconds"] = retry_after
    return ApiError(
        status, rule.message or default_message(status), details=details or None, headers=headers
    )


def _wait_for_version(store: Any, wanted: int, timeout: float = 3.0) -> None:
    """Hold a list "not older than" a version this server has not reached, as the real
    watch cache does for up to 3 s, then give up as it does.

    Raises:
        ApiError: 504 `Timeout: Too large resource version: N, current: M`, retry after 1 s.
    """
    deadline = time.monotonic() + timeout
    while store.rv < wanted and time.monotonic() < deadline:
        time.sleep(0.05)
    if store.rv < wanted:
        cause = {"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}
        raise ApiError(
            504,
            f"Timeout: Too large resource version: {wanted}, current: {store.rv}",
            reason="Timeout",
            details={"causes": [cause], "retryAfterSeconds": 1},
            headers={"Retry-After": "1"},
        )


def _check_list_options(query: dict[str, str], watch: bool) -> None:
    """Refuse the combinations of list options the real server's validation refuses.

    Raises:
        ApiError: 422 `ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch:
            Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided`.
    """
    match, rv = query.get("resourceVersionMatch") or "", query.get("resourceVersion") or ""
    initial, more = "sendInitialEvents" in query, bool(query.get("continue"))
    causes = []

    def forbid(field: str, why: str) -> None:
        causes.append(("FieldValueForbidden", field, f"Forbidden: {why}"))

    def unsupported(*allowed: str) -> None:
        shown = ", ".join(json.dumps(value) for value in allowed)
        message = f"Unsupported value: {json.dumps(match)}: supported values: {shown}"
        causes.append(("FieldValueNotSupported", "resourceVersionMatch", message))

    if watch:
        if initial and match != "NotOlderThan":
            forbid(
                "resourceVersionMatch",
                "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
            )
        if match:
            if not initial:
                forbid(
                    "resourceVersionMatch",
                    "resourceVersionMatch is forbidden for watch unless sendInitialEvents is "
                    "provided",
                )
            if match != "NotOlderThan":
                unsupported("NotOlderThan")
            if more:
                forbid(
                    "resourceVersionMatch",
                    "resourceVersionMatch is forbidden when continue is provided",
                )
    else:
        if match:
            if not rv:
                forbid(
                    "resourceVersionMatch",
                    "resourceVersionMatch is forbidden unless resourceVersion is provided",
                )
            if more:
                forbid(
                    "resourceVersionMatch",
                    "resourceVersionMatch is forbidden when continue is provided",
                )
            if match not in ("Exact", "NotOlderThan"):
                unsupported("Exact", "NotOlderThan", "")
            if match == "Exact" and rv == "0":
                forbid(
                    "resourceVersionMatch",
                    'resourceVersionMatch "exact" is forbidden for resourceVersion "0"',
                )
        if initial:
            forbid("sendInitialEvents", "sendInitialEvents is forbidden for list")
    if causes:
        raise invalid("ListOptions", "meta.k8s.io", "", causes)


def _selectors(rtype: ResourceType, query: dict[str, str]) -> tuple[list, list]:
    allowed = {"metadata.name", "metadata.namespace", *rtype.field_selectors}
    try:
        labels = parse_label_selector(query.get("labelSelector"))
    except SelectorError as err:
        raise bad_request(str(err)) from err
    try:
        return labels, parse_field_selector(query.get("fieldSelector"), allowed)
    except SelectorError as err:
        raise bad_request(f"unable to parse requirement: {err}") from err


def _decode(body: bytes, headers: Any, allow_list: bool = False) -> Any:
    content_type = (headers.get("Content-Type") or "").split(";")[0].strip()
    if content_type == "application/vnd.kubernetes.protobuf":
        try:
            return protobuf.decode(body)
        except protobuf.ProtobufError as err:
            raise ApiError(415, str(err), reason="UnsupportedMediaType") from err
    if content_type not in ("", "application/json", *PATCH_TYPES) and not content_type.endswith(
        ("yaml", "json")
    ):
        raise unsupported_media_type(["application/json", "application/yaml"])
    loader: Callable[[bytes], Any] = validation.loads
    if content_type in ("application/yaml", "application/apply-patch+yaml", "text/yaml"):
        loader = yaml.safe_load
    try:
        value = loader(body or b"null")
    except (ValueError, yaml.YAMLError) as err:
        raise bad_request(f"the request body is not valid {content_type or 'JSON'}: {err}") from err
    if isinstance(value, dict) or (allow_list and isinstance(value, list)):
        return value
    raise bad_request("the request body must be a JSON object")


def _include(path: str) -> str:
    query = parse_qs(urlsplit(path).query)
    return (query.get("includeObject") or ["Metadata"])[-1]


def _scale_of(obj: Obj) -> Obj:
    meta = obj["metadata"]
    spec = obj.get("spec") or {}
    selector = ",".join(
        f"{k}={v}"
        for k, v in sorted(((spec.get("selector") or {}).get("matchLabels") or {}).items())
    )
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: meta[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in meta
        },
        "spec": {"replicas": spec.get("replicas", 1)},
        "status": {"replicas": (obj.get("status") or {}).get("replicas", 0), "selector": selector},
    }
