"""`KubeApiServer`: the Kubernetes API test server, its Python API and its lifecycle."""

from __future__ import annotations

import base64
import copy
import shutil
import ssl
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import yaml

from .errors import ApiError
from .faults import Client, Clients, FaultRule, Faults, RequestAttributes
from .httpapi import ApiHTTPServer
from .process import wait_for
from .rbac import Authorizer, seed_default_roles
from .resources import Registry, ResourceType
from .rollouts import Revision, RolloutSimulator, is_rolled_out
from .selectors import parse_label_selector
from .store import Event, Obj, Store
from .tokens import TokenIssuer

if TYPE_CHECKING:
    import kubernetes.client

T = TypeVar("T")

# A cluster's own namespaces, plus those of the platform whose custom kinds are
# pre-installed (Istio, cert-manager, the Prometheus operator).
DEFAULT_NAMESPACES = (
    "default",
    "kube-system",
    "kube-public",
    "kube-node-lease",
    "istio-system",
    "cert-manager",
    "monitoring",
)
SERVER_ACTOR = "server"


@dataclass(frozen=True)
class RequestRecord:
    """One API request as the server saw it (the request log keeps the latest ones).

    Attributes:
        at: When it arrived (epoch seconds).
        client: The client's name (`""` when unauthenticated).
        verb: The RBAC verb (`get`, `list`, `watch`, `create`, `update`, `patch`,
            `delete`, `deletecollection`).
        resource: The plural (`""` for discovery and other non-resource paths).
        subresource: `status`, `scale` or `""`.
        namespace: The namespace, or `""`.
        name: The object name, or `""`.
        method: The HTTP method.
        path: The request path with its query.
        status: The HTTP status answered (0: the connection was dropped).
        duration: Seconds spent serving it (a watch: its whole life).
    """

    at: float
    client: str
    verb: str
    resource: str
    subresource: str
    namespace: str
    name: str
    method: str
    path: str
    status: int
    duration: float


class KubeApiServer:
    """A Kubernetes API server for tests, speaking the real REST protocol over HTTP(S).

    Args:
        port: The port on 127.0.0.1 (0 picks a free one).
        tls: Serve HTTPS with a CA generated at start-up (else plain HTTP).
        rollout_delay: Seconds a Deployment or StatefulSet rollout takes to converge
            (None: rollouts never finish).
        history_size: Events kept for watch resumption; older resourceVersions get 410.
        bookmark_interval: Seconds between BOOKMARK events on watches that allow them.
        default_watch_timeout: Seconds a watch lasts when the client sets no
            `timeoutSeconds`.
        watch_queue_size: Events a watch may have queued before it is cut as too slow.
        request_log_size: Requests the request log keeps.
        namespaces: Namespaces that exist from the start.
    """

    def __init__(
        self,
        *,
        port: int = 0,
        tls: bool = True,
        rollout_delay: float | None = 0.2,
        history_size: int = 2000,
        bookmark_interval: float = 5.0,
        default_watch_timeout: float = 1800.0,
        watch_queue_size: int = 5000,
        request_log_size: int = 10000,
        namespaces: Iterable[str] = DEFAULT_NAMESPACES,
    ) -> None:
        self.registry = Registry.default()
        self.store = Store(
            self.registry, history_size=history_size, watch_queue_size=watch_queue_size
        )
        self.rollouts = RolloutSimulator(self.store, self.registry, delay=rollout_delay)
        self.clients = Clients()
        self.faults = Faults()
        self.admin = self.clients.add("admin", user="kubernetes-admin", admin=True)
        self.bookmark_interval = bookmark_interval
        self.default_watch_timeout = default_watch_timeout
        self.stopping = False
        self._tls = tls
        self._port = port
        self._requests: deque[RequestRecord] = deque(maxlen=request_log_size)
        # Requests that arrived before the last clear_requests() are not logged.
        self._cleared_at = 0.0
        self._stop_event = threading.Event()
        self._workdir = Path(tempfile.mkdtemp(prefix="kubeapi-"))
        self._ca_pem: bytes | None = None
        self._httpd: ApiHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.store.seed_crds()
        ns_type = self.resolve("namespaces")
        for name in namespaces:
            self.store.seed(ns_type, {"metadata": {"name": name}})
        # RBAC and ServiceAccount tokens (rbac.py, tokens.py, access.py)
        self.authorizer = Authorizer(self.store, self.registry)
        self.tokens = TokenIssuer()
        seed_default_roles(self.store, self.registry)

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> KubeApiServer:
        """Bind 127.0.0.1 and serve in background threads; return self."""
        context = None
        if self._tls:
            context = self._make_tls_context()
        self._httpd = ApiHTTPServer(("127.0.0.1", self._port), self, context)
        self._seed_kubernetes_service()
        self.rollouts.start()
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="kubeapi-http",
            daemon=True,
        )
        self._thread.start()
        return self

    def _seed_kubernetes_service(self) -> None:
        """Add `default/kubernetes` (Service and Endpoints), as every cluster has."""
        if self.get("namespaces", "default") is None:
            return
        port = {"name": "https", "port": 443, "protocol": "TCP", "targetPort": self.port}
        self.apply({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kubernetes", "namespace": "default",
                         "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"clusterIP": "10.96.0.1", "ports": [port]},
        })  # fmt: skip
        self.apply({
            "apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": "kubernetes", "namespace": "default"},
            "subsets": [{"addresses": [{"ip": "127.0.0.1"}],
                         "ports": [{"name": "https", "port": self.port, "protocol": "TCP"}]}],
        })  # fmt: skip

    def _make_tls_context(self) -> ssl.SSLContext:
        import trustme

        # ECDSA keys: generated in milliseconds, where RSA takes a good part of a second.
        ca = trustme.CA(organization_name="kubeapi test CA", key_type=trustme.KeyType.ECDSA)
        cert = ca.issue_cert("127.0.0.1", "localhost", key_type=trustme.KeyType.ECDSA)
        self._ca_pem = ca.cert_pem.bytes()
        self.ca_file.write_bytes(self._ca_pem)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        context.set_alpn_protocols(["http/1.1"])
        return context

    def stop(self) -> None:
        """Stop serving: end every watch and connection, then the threads."""
        if self.stopping:
            return
        self.stopping = True
        self._stop_event.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self.store.close_watchers(lambda _w: True, "shutdown")
            self._httpd.close_connections()
            self._httpd.server_close()
        self.rollouts.stop()
        shutil.rmtree(self._workdir, ignore_errors=True)

    def __enter__(self) -> KubeApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """Return the bound port."""
        assert self._httpd is not None, "the server is not started"
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        """Return the base URL (`https://127.0.0.1:PORT`)."""
        scheme = "https" if self._tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    @property
    def ca_file(self) -> Path:
        """Return the path of the CA certificate (PEM) that signed the server's certificate."""
        return self._workdir / "ca.crt"

    @property
    def ca_pem(self) -> bytes | None:
        """Return the CA certificate (PEM), or None over plain HTTP."""
        return self._ca_pem

    # --- clients and kubeconfigs ------------------------------------------------------------

    def add_client(
        self,
        name: str,
        user: str | None = None,
        admin: bool = False,
        *,
        groups: Iterable[str] | None = None,
        service_account: str | None = None,
    ) -> Client:
        """Return the client of that name (registering it with a fresh token if new).

        Without `groups` or `service_account` the client is in `system:masters`
        (allowed everything). `groups`: a named user judged by RBAC.
        `service_account="NS/NAME"`: acts as `system:serviceaccount:NS:NAME`
        (authenticates only while that ServiceAccount exists).
        """
        return self.clients.add(
            name, user=user, admin=admin, groups=groups, service_account=service_account
        )

    def create_token(self, namespace: str, name: str, expiration_seconds: int = 3600) -> str:
        """Return a token for a ServiceAccount, as `kubectl create token` gets it.

        Raises:
            ApiError: 404 when the ServiceAccount does not exist.
        """
        from .errors import not_found

        sa = self.store.find(self.resolve("serviceaccounts"), namespace, name)
        if sa is None:
            raise not_found("serviceaccounts", "", name)
        return self.tokens.issue(
            namespace, name, sa["metadata"]["uid"], expiration_seconds=expiration_seconds
        ).token

    def kubeconfig_text(
        self,
        client: str = "admin",
        namespace: str | None = None,
        *,
        service_account: str | None = None,
        token: str | None = None,
    ) -> str:
        """Return a kubeconfig (YAML) that authenticates as a client (created if new;
        `service_account="NS/NAME"` makes a new one act as that ServiceAccount), or
        with a bearer `token` (e.g. from `create_token`) under the client's name."""
        identity = self.add_client(client, service_account=service_account)
        cluster: dict[str, Any] = {"server": self.url}
        if self._ca_pem is not None:
            cluster["certificate-authority-data"] = base64.b64encode(self._ca_pem).decode()
        context: dict[str, Any] = {"cluster": "kubeapi", "user": identity.name}
        if namespace:
            context["namespace"] = namespace
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "kubeapi", "cluster": cluster}],
            "users": [{"name": identity.name, "user": {"token": token or identity.token}}],
            "contexts": [{"name": f"{identity.name}@kubeapi", "context": context}],
            "current-context": f"{identity.name}@kubeapi",
            "preferences": {},
        }
        return yaml.safe_dump(config, sort_keys=False)

    def write_kubeconfig(
        self,
        path: str | Path,
        client: str = "admin",
        namespace: str | None = None,
        *,
        service_account: str | None = None,
        token: str | None = None,
    ) -> Path:
        """Write a client's kubeconfig (see `kubeconfig_text`) to a file (mode 0600)
        and return its path."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(
            self.kubeconfig_text(client, namespace, service_account=service_account, token=token)
        )
        target.chmod(0o600)
        return target

    def api_client(
        self, client: str = "admin", *, token: str | None = None
    ) -> kubernetes.client.ApiClient:
        """Return a `kubernetes.client.ApiClient` authenticated as a client (created if
        new), or with a bearer `token` instead."""
        import kubernetes.client

        configuration = kubernetes.client.Configuration()
        configuration.host = self.url
        configuration.api_key = {"authorization": token or self.add_client(client).token}
        configuration.api_key_prefix = {"authorization": "Bearer"}
        if self._ca_pem is not None:
            configuration.ssl_ca_cert = str(self.ca_file)
        return kubernetes.client.ApiClient(configuration)

    # --- objects, read and written directly --------------------------------------------------

    def resolve(self, resource: str) -> ResourceType:
        """Return the resource type a name denotes: `configmaps`, `deployments.apps`,
        `Lease`, `cm`.

        Raises:
            KeyError: No served type has that name.
        """
        return self.registry.resolve(resource)

    @property
    def resource_version(self) -> int:
        """Return the current global resourceVersion."""
        return self.store.rv

    def get(self, resource: str, name: str, namespace: str = "") -> Obj | None:
        """Return a copy of a stored object, or None."""
        obj = self.store.find(self.resolve(resource), namespace, name)
        return copy.deepcopy(obj) if obj is not None else None

    def list(
        self, resource: str, namespace: str | None = None, label_selector: str | None = None
    ) -> list[Obj]:
        """Return copies of the stored objects of a type (optionally by namespace and labels)."""
        items, _rv, _c, _r = self.store.list(
            self.resolve(resource), namespace, parse_label_selector(label_selector)
        )
        return copy.deepcopy(items)

    def _type_of(self, obj: Obj) -> ResourceType:
        group, _, _version = obj.get("apiVersion", "").rpartition("/")
        for rtype in self.registry.all():
            if rtype.kind == obj.get("kind") and rtype.group == group:
                return rtype
        raise KeyError(f"no resource type for {obj.get('apiVersion')} {obj.get('kind')}")

    def create(self, obj: Obj, client: str = SERVER_ACTOR) -> Obj:
        """Create an object given with `apiVersion` and `kind`; return a copy as stored.

        Raises:
            ApiError: As the API would answer (409 AlreadyExists, 404 namespace, 422).
        """
        rtype = self._type_of(obj)
        namespace = obj.get("metadata", {}).get("namespace", "default") if rtype.namespaced else ""
        return copy.deepcopy(self.store.create(rtype, namespace, obj, client))

    def apply(self, obj: Obj, client: str = SERVER_ACTOR) -> Obj:
        """Create an object, or replace the stored one of that name (no precondition)."""
        rtype = self._type_of(obj)
        meta = obj.get("metadata", {})
        namespace = meta.get("namespace", "default") if rtype.namespaced else ""
        with self.store.lock:
            if self.store.find(rtype, namespace, meta.get("name", "")) is None:
                return copy.deepcopy(self.store.create(rtype, namespace, obj, client))
            body = copy.deepcopy(obj)
            live = self.store.get(rtype, namespace, meta["name"])
            body["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"]
            return copy.deepcopy(self.store.update(rtype, namespace, meta["name"], body, client))

    def patch(
        self,
        resource: str,
        name: str,
        patch: Any,
        *,
        namespace: str = "",
        patch_type: str = "merge",
        client: str = SERVER_ACTOR,
    ) -> Obj:
        """Patch an object (`patch_type`: `merge`, `strategic` or `json`); return a copy."""
        content_type = {
            "merge": "application/merge-patch+json",
            "strategic": "application/strategic-merge-patch+json",
            "json": "application/json-patch+json",
        }[patch_type]
        return copy.deepcopy(
            self.store.patch(
                self.resolve(resource), namespace, name, content_type, patch, actor=client
            )
        )

    def delete(
        self, resource: str, name: str, namespace: str = "", client: str = SERVER_ACTOR
    ) -> None:
        """Delete an object (a namespace takes what it holds with it)."""
        self.store.delete(self.resolve(resource), namespace, name, client)

    def events(self, resource: str | None = None, namespace: str | None = None) -> list[Event]:
        """Return the kept history of changes, oldest first (optionally filtered)."""
        key = self.resolve(resource).key if resource else None
        return [
            e
            for e in self.store.history()
            if (key is None or e.key == key) and (namespace is None or e.namespace == namespace)
        ]

    # --- rollouts ---------------------------------------------------------------------------

    @property
    def rollout_delay(self) -> float | None:
        """Return the seconds a rollout takes (None: rollouts never finish)."""
        return self.rollouts.delay

    @rollout_delay.setter
    def rollout_delay(self, seconds: float | None) -> None:
        self.rollouts.delay = seconds

    def revisions(self, name: str, namespace: str, resource: str = "deployments") -> list[Revision]:
        """Return a Deployment's (or StatefulSet's) pod-template revisions, oldest first."""
        return self.rollouts.revisions(self.resolve(resource).key, namespace, name)

    def wait_for_rollout(
        self, name: str, namespace: str, resource: str = "deployments", timeout: float = 10.0
    ) -> Obj:
        """Wait until a workload's rollout has finished; return the object.

        Raises:
            TimeoutError: It has not finished within `timeout` seconds.
        """

        def rolled_out() -> Obj | None:
            obj = self.get(resource, name, namespace)
            return obj if obj is not None and is_rolled_out(obj) else None

        return self.wait_for(rolled_out, timeout, f"rollout of {resource}/{name}")

    def wait_for(
        self, condition: Callable[[], T | None], timeout: float = 10.0, what: str = "condition"
    ) -> T:
        """Poll `condition` until it returns something truthy; return that.

        Raises:
            TimeoutError: Still falsy after `timeout` seconds.
        """
        return wait_for(condition, what, timeout, interval=0.02)

    # --- faults -----------------------------------------------------------------------------

    def fail(
        self,
        status: int,
        *,
        count: int | None = None,
        seconds: float | None = None,
        verb: str | Iterable[str] | None = None,
        resource: str | Iterable[str] | None = None,
        client: str | Iterable[str] | None = None,
        namespace: str | Iterable[str] | None = None,
        name: str | Iterable[str] | None = None,
        message: str | None = None,
        retry_after: int | None = None,
    ) -> FaultRule:
        """Answer matching requests with an error Status (500, 503, 429, 409, ...).

        Bounded by `count` requests and/or `seconds`; unbounded rules last until
        removed. 429 and 503 carry `Retry-After` (default 1 s).
        """
        return self.faults.add(
            "error",
            status=status,
            count=count,
            seconds=seconds,
            verb=verb,
            resource=resource,
            client=client,
            namespace=namespace,
            name=name,
            message=message,
            retry_after=retry_after,
        )

    def add_latency(
        self,
        delay: float,
        *,
        count: int | None = None,
        seconds: float | None = None,
        verb: str | Iterable[str] | None = None,
        resource: str | Iterable[str] | None = None,
        client: str | Iterable[str] | None = None,
        namespace: str | Iterable[str] | None = None,
        name: str | Iterable[str] | None = None,
    ) -> FaultRule:
        """Delay matching requests by `delay` seconds before serving them."""
        return self.faults.add(
            "latency",
            latency=delay,
            count=count,
            seconds=seconds,
            verb=verb,
            resource=resource,
            client=client,
            namespace=namespace,
            name=name,
        )

    def deny(
        self,
        *,
        verb: str | Iterable[str] | None = None,
        resource: str | Iterable[str] | None = None,
        client: str | Iterable[str] | None = None,
        namespace: str | Iterable[str] | None = None,
        name: str | Iterable[str] | None = None,
        seconds: float | None = None,
    ) -> FaultRule:
        """Refuse matching requests with the 403 Forbidden of an RBAC denial."""
        return self.faults.add(
            "deny",
            verb=verb,
            resource=resource,
            client=client,
            namespace=namespace,
            name=name,
            seconds=seconds,
        )

    def lose_response(
        self,
        *,
        count: int | None = None,
        seconds: float | None = None,
        verb: str | Iterable[str] | None = None,
        resource: str | Iterable[str] | None = None,
        client: str | Iterable[str] | None = None,
        namespace: str | Iterable[str] | None = None,
        name: str | Iterable[str] | None = None,
    ) -> FaultRule:
        """Serve matching requests as usual (a write is stored), then close the
        connection without their response: the client sees a reset and never
        learns the outcome, as after a timeout on a real cluster. Not for watches."""
        return self.faults.add(
            "lose",
            count=count,
            seconds=seconds,
            verb=verb,
            resource=resource,
            client=client,
            namespace=namespace,
            name=name,
        )

    def partition(
        self, client: str | Iterable[str], seconds: float, mode: str = "drop"
    ) -> FaultRule:
        """Cut clients off for `seconds`: their open watches break and new requests get
        no answer (`drop`: the connection closes at once; `hang`: it is held until the
        partition ends, then closed)."""
        rule = self.faults.add("partition", client=client, seconds=seconds, mode=mode)
        names = set(rule.clients or ())
        self.store.close_watchers(
            lambda w: w.client in names, "partition-hang" if mode == "hang" else "partition"
        )
        return rule

    def wait_partition(self, rule: FaultRule) -> None:
        """Block until a partition has ended (or the server stops)."""
        if rule.until is not None:
            self._stop_event.wait(max(0.0, rule.until - time.monotonic()))

    def remove_fault(self, rule: FaultRule | int) -> bool:
        """Remove one fault rule; return whether it was active."""
        return self.faults.remove(rule if isinstance(rule, int) else rule.id)

    def clear_faults(self) -> None:
        """Remove every fault rule, denial and partition."""
        self.faults.clear()

    def denied(self, attrs: RequestAttributes) -> bool:
        """Return whether an RBAC denial rule refuses a request."""
        return any(
            r.kind == "deny" and r.matches(attrs, time.monotonic()) for r in self.faults.rules()
        )

    def cut_watches(
        self, client: str | None = None, resource: str | None = None, abrupt: bool = False
    ) -> int:
        """End open watches (all, or a client's, or a resource's); return how many.

        A clean cut ends the chunked stream as a server-side timeout does; an abrupt
        one drops the connection mid-stream.
        """
        key = self.resolve(resource).key if resource else None
        return self.store.close_watchers(
            lambda w: (
                (client is None or w.client == client) and (key is None or w.rtype.key == key)
            ),
            "reset" if abrupt else "cut",
        )

    def watch_count(self, client: str | None = None, resource: str | None = None) -> int:
        """Return how many watches are open (optionally a client's or a resource's)."""
        key = self.resolve(resource).key if resource else None
        return sum(
            1
            for w in self.store.watchers()
            if (client is None or w.client == client) and (key is None or w.rtype.key == key)
        )

    def compact(self) -> int:
        """Drop the event history: watches from any older resourceVersion get 410 Expired.

        Returns:
            The resourceVersion the history now starts after.
        """
        return self.store.compact()

    # --- the request log ----------------------------------------------------------------------

    def record_request(  # noqa: PLR0917 - one log line's fields
        self,
        attrs: RequestAttributes,
        method: str,
        path: str,
        status: int,
        arrived: float,
        duration: float,
    ) -> None:
        """Append one request, which arrived at ``arrived`` (epoch seconds), to the log.

        Called by the HTTP layer once the request is answered. The time is the
        arrival, not the answer, so that a request whose effect was visible
        before some moment is always logged before it. A request that arrived
        before the last :meth:`clear_requests` is not logged: its client may
        have had its answer before the clear.
        """
        if arrived < self._cleared_at:
            return
        self._requests.append(
            RequestRecord(
                arrived,
                attrs.client,
                attrs.verb,
                attrs.resource,
                attrs.subresource,
                attrs.namespace,
                attrs.name,
                method,
                path,
                status,
                duration,
            )
        )

    def requests(
        self,
        client: str | None = None,
        verb: str | None = None,
        resource: str | None = None,
        namespace: str | None = None,
        name: str | None = None,
    ) -> list[RequestRecord]:
        """Return logged requests, oldest first, filtered by any of the fields given."""
        return [
            r
            for r in list(self._requests)
            if (client is None or r.client == client)
            and (verb is None or r.verb == verb)
            and (resource is None or r.resource == resource)
            and (namespace is None or r.namespace == namespace)
            and (name is None or r.name == name)
        ]

    def clear_requests(self) -> None:
        """Empty the request log of every request that arrived so far.

        Including those still being answered: the log entry of a request is
        written after its answer, so a caller that has its answer and then
        clears the log would otherwise find the request logged after the clear.
        """
        self._cleared_at = time.time()
        self._requests.clear()


__all__ = ["ApiError", "KubeApiServer", "RequestRecord"]
