"""A stand-in kubelet for the local cluster: one ``shipshape-web`` process per Deployment.

On a cluster, a changed pod template becomes new pods through the Deployment
controller and the kubelet. The Kubernetes API test server only simulates the
rollout's status, so this module plays the node. It watches the Deployments of
one namespace with the real ``kubernetes`` client and keeps one local process
per Deployment, started from the pod template's first container:

- the program is the container's ``command``, taken from this virtualenv;
- the environment is resolved as the kubelet does at container start:
  ``value`` as written, ``configMapKeyRef`` read from the ConfigMap (a missing
  ConfigMap or key fails the start), ``fieldRef`` to ``metadata.labels[...]``
  from the template's labels;
- so that every pod runs side by side on this machine, ``PORT=0`` (a free port,
  read back from the app's ``listening on`` log line), ``LISTEN_HOST=127.0.0.1``
  and ``DRAIN_SECONDS=0`` (there are no Service endpoints to drain from).

When a Deployment's pod template changes, a new process is started, and once
its ``/readyz`` answers 200 the old one is stopped: a rolling update with one
surge pod and none unavailable, as the manifests ask. Changes outside the pod
template (the controller's metadata annotations, the status) start nothing.

Deliberately small: one pod per Deployment whatever ``replicas`` says, no
probes after start-up, no Secrets, no volumes.
"""

from __future__ import annotations

import hashlib
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch

from .process import Child, program, wait_for

#: Where each pod listens and how it stops, whatever the manifest says.
POD_OVERRIDES = {"PORT": "0", "LISTEN_HOST": "127.0.0.1", "DRAIN_SECONDS": "0"}
START_TIMEOUT_SECONDS = 20.0
WATCH_SECONDS = 60


class PodError(Exception):
    """A pod could not be started; the message says why (as the kubelet's events would)."""


def template_hash(template: Mapping[str, Any]) -> str:
    """Return a short hash of a pod template: equal templates, equal hashes."""
    canonical = json.dumps(template, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def resolve_env(
    container: Mapping[str, Any],
    labels: Mapping[str, str],
    read_configmap: Callable[[str], Mapping[str, str] | None],
) -> dict[str, str]:
    """Resolve a container's ``env`` list the way the kubelet does at container start.

    Args:
        container: The container spec (API field names: ``valueFrom``, ``configMapKeyRef``).
        labels: The pod's labels, for ``fieldRef: metadata.labels['KEY']``.
        read_configmap: Returns a ConfigMap's ``data``, or None when it does not exist.

    Raises:
        PodError: A ConfigMap or key is missing, or a source this stand-in does not know.
    """
    resolved: dict[str, str] = {}
    for entry in container.get("env") or []:
        name = entry["name"]
        source = entry.get("valueFrom")
        if source is None:
            resolved[name] = entry.get("value") or ""
        elif "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            data = read_configmap(ref["name"])
            if data is None or ref["key"] not in data:
                if ref.get("optional"):
                    continue
                missing = f"configmap {ref['name']!r}" if data is None else f"key {ref['key']!r}"
                raise PodError(f"{name}: {missing} not found (CreateContainerConfigError)")
            resolved[name] = data[ref["key"]]
        elif "fieldRef" in source and source["fieldRef"]["fieldPath"].startswith(
            "metadata.labels['"
        ):
            label = source["fieldRef"]["fieldPath"][len("metadata.labels['") : -len("']")]
            resolved[name] = labels.get(label, "")
        else:
            raise PodError(f"{name}: the stand-in kubelet cannot resolve {sorted(source)}")
    return resolved


def _ready(url: str) -> bool:
    try:
        # The URL is always http://127.0.0.1:PORT, built by this module.
        with urllib.request.urlopen(f"{url}/readyz", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


@dataclass(frozen=True)
class Pod:
    """One running pod of a Deployment.

    Attributes:
        deployment: The Deployment's name.
        number: 1 for the Deployment's first pod, one more for each new template.
        template_hash: :func:`template_hash` of the template it was started from.
        env: The container's resolved ``env`` (before the overrides).
        port: The port it serves on, on 127.0.0.1.
        child: Its process.
    """

    deployment: str
    number: int
    template_hash: str
    env: Mapping[str, str]
    port: int
    child: Child

    @property
    def url(self) -> str:
        """The pod's base URL."""
        return f"http://127.0.0.1:{self.port}"


class Kubelet:
    """Watch a namespace's Deployments and keep one ready local process per Deployment.

    Args:
        kubeconfig: The kubeconfig of this stand-in's own API client.
        namespace: The namespace whose Deployments it runs.
        workdir: Where each pod's log file goes.
        host_env: The environment every pod starts from, before its container's ``env``.
    """

    def __init__(
        self, kubeconfig: Path, namespace: str, workdir: Path, host_env: Mapping[str, str]
    ) -> None:
        self.namespace = namespace
        self.workdir = workdir
        self.host_env = dict(host_env)
        self._api = config.new_client_from_config(config_file=str(kubeconfig))
        self._apps = client.AppsV1Api(self._api)
        self._core = client.CoreV1Api(self._api)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._pods: dict[str, Pod] = {}
        self._children: list[Child] = []
        self._errors: list[str] = []
        self._watch_errors: list[str] = []
        self._thread = threading.Thread(target=self._run, name="kubelet", daemon=True)

    # ------------------------------------------------------------------ public

    def start(self) -> Kubelet:
        """Start watching in a background thread."""
        self._thread.start()
        return self

    def pod(self, deployment: str) -> Pod | None:
        """Return the Deployment's current (ready) pod, if any."""
        with self._lock:
            return self._pods.get(deployment)

    def errors(self) -> list[str]:
        """Return the pod start failures so far (each is tried again on the next event)."""
        with self._lock:
            return list(self._errors)

    def watch_errors(self) -> list[str]:
        """Return the watch errors so far (each followed by a new list and watch)."""
        with self._lock:
            return list(self._watch_errors)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop every pod (SIGTERM, then SIGKILL after ``timeout``) and start no more."""
        with self._lock:
            self._stopping.set()
            children = list(self._children)
        for child in children:
            child.stop(timeout)
        self._api.close()

    # ---------------------------------------------------------------- internal

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._list_and_watch()
            except Exception as error:  # reported, then listed again
                if self._stopping.is_set():
                    return
                with self._lock:
                    self._watch_errors.append(f"{type(error).__name__}: {error}")
                self._stopping.wait(0.5)

    def _list_and_watch(self) -> None:
        listed = self._apps.list_namespaced_deployment(self.namespace)
        names = set()
        for deployment in listed.items:
            names.add(deployment.metadata.name)
            self._sync(deployment)
        with self._lock:
            gone_names = set(self._pods) - names
        for gone in gone_names:
            self._remove(gone)
        stream = watch.Watch().stream(
            self._apps.list_namespaced_deployment,
            self.namespace,
            resource_version=listed.metadata.resource_version,
            timeout_seconds=WATCH_SECONDS,
            _request_timeout=(5, WATCH_SECONDS + 10),
        )
        for event in stream:
            if self._stopping.is_set():
                return
            if event["type"] == "DELETED":
                self._remove(event["object"].metadata.name)
            elif event["type"] in ("ADDED", "MODIFIED"):
                self._sync(event["object"])

    def _sync(self, deployment: client.V1Deployment) -> None:
        """Start a new pod when the Deployment's template is new; then retire the old one."""
        name = deployment.metadata.name
        template = self._api.sanitize_for_serialization(deployment.spec.template)
        digest = template_hash(template)
        old = self.pod(name)
        if old is not None and old.template_hash == digest:
            return
        try:
            pod = self._start_pod(name, template, digest, old.number + 1 if old else 1)
        except PodError as error:
            with self._lock:
                self._errors.append(f"{name}: {error}")
            return
        if pod is None:  # stopping
            return
        with self._lock:
            self._pods[name] = pod
        if old is not None:
            old.child.stop()

    def _start_pod(
        self, deployment: str, template: Mapping[str, Any], digest: str, number: int
    ) -> Pod | None:
        container = template["spec"]["containers"][0]
        labels = template.get("metadata", {}).get("labels") or {}
        env = resolve_env(container, labels, self._read_configmap)
        command = list(container.get("command") or [])
        if not command:
            raise PodError("the container has no command (the stand-in runs no images)")
        try:
            executable = program(command[0])
        except FileNotFoundError as error:
            raise PodError(str(error)) from error
        with self._lock:
            if self._stopping.is_set():
                return None
            child = Child(
                f"{deployment} pod {number}",
                [executable, *command[1:], *(container.get("args") or [])],
                env={**self.host_env, **env, **POD_OVERRIDES},
                log=self.workdir / f"{deployment}-{number}.log",
            ).start()
            self._children.append(child)
        try:
            listening = wait_for(
                lambda: child.exited() or child.log_entry("listening on"),
                f"{deployment} pod {number} listening",
                START_TIMEOUT_SECONDS,
            )
            if isinstance(listening, str):
                raise PodError(listening)
            pod = Pod(deployment, number, digest, env, int(listening["port"]), child)
            wait_for(lambda: _ready(pod.url), f"{deployment} pod {number} ready", 10.0)
        except (TimeoutError, PodError) as error:
            child.stop()
            raise PodError(str(error)) from error
        return pod

    def _read_configmap(self, name: str) -> Mapping[str, str] | None:
        try:
            return self._core.read_namespaced_config_map(name, self.namespace).data or {}
        except client.ApiException as error:
            if error.status == 404:
                return None
            raise PodError(f"reading configmap {name!r}: {error.status} {error.reason}") from error

    def _remove(self, deployment: str) -> None:
        with self._lock:
            pod = self._pods.pop(deployment, None)
        if pod is not None:
            pod.child.stop()
