"""Building the Kubernetes API client from a kubeconfig or the in-cluster service account."""

from __future__ import annotations

import os
import ssl
import stat

import urllib3
import yaml
from kubernetes import client, config

USER_AGENT = "shipshape-controller"


class KubeconfigError(ValueError):
    """The kubeconfig file exists but cannot be read or is not a kubeconfig; names the file."""


def make_api_client(kubeconfig: str | None) -> client.ApiClient:
    """Return an API client for ``kubeconfig``, or for the pod's service account when None.

    urllib3's own retries are off: the controller retries with its own backoff
    and records every attempt, and a patch must never be re-sent behind its back.
    A proxy named by ``HTTPS_PROXY`` (and the like) is taken at this call and
    kept for the process's life.

    Raises:
        KubeconfigError: The file exists but cannot be read (a directory, no
            permission), is not YAML, or is not shaped like a kubeconfig.
        kubernetes.config.ConfigException: The kubeconfig or the service account is unusable.
    """
    configuration = client.Configuration()
    if kubeconfig:
        # Like kubectl, the client reads the files of a ":"-separated list that
        # exist and skips the others; with none there, the error stays exit 1.
        present = [
            path
            for path in kubeconfig.split(os.pathsep)
            if path and os.path.exists(os.path.expanduser(path))
        ]
        for path in present:  # a FIFO would block the client's open for ever
            mode = os.stat(os.path.expanduser(path)).st_mode
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):  # a directory: "cannot be read"
                raise KubeconfigError(f"{path} is not a regular file, not a kubeconfig file")
        try:
            config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
        except OSError as error:
            if not present:
                raise
            raise KubeconfigError(
                f"{error.filename or kubeconfig} cannot be read: {error.strerror or error}"
            ) from None
        except config.ConfigException as error:
            message = str(error)
            if not present or not message.startswith("Invalid kube-config"):
                raise  # e.g. a certificate it names is missing, or its exec plugin fails
            if message.endswith("file is empty"):
                raise KubeconfigError(f"{kubeconfig} is empty, not a kubeconfig file") from None
            detail = message.removeprefix("Invalid kube-config file.").removeprefix(
                "Invalid kube-config."
            )
            detail = detail.strip() or "no configuration found"
            raise KubeconfigError(
                f"{kubeconfig} is not a kubeconfig file ({detail[0].lower()}{detail[1:]})"
            ) from None
        except Exception as error:
            # Not YAML, YAML of another shape, or a value the client cannot
            # decode (certificate data that is not base64): it trips over it
            # with whatever error its first assumption raises, which helps nobody.
            raise KubeconfigError(_unusable(kubeconfig, present, error)) from None
        _check_usable(kubeconfig, configuration)
    else:
        config.load_incluster_config(client_configuration=configuration)
    configuration.retries = 0
    # Keep the proxy the environment names for this host now. The token hook
    # the loaders install assigns the host before every request, and the
    # client then reads every environment variable again to find the proxy:
    # a fifth of a patch's CPU, for an answer nothing uses (the connection
    # pool below is built once, with the proxy as it is now).
    configuration.proxy = configuration.proxy
    api = client.ApiClient(configuration)
    api.user_agent = USER_AGENT
    return api


_SECTIONS = ("clusters", "users", "contexts", "current-context")


def _unusable(kubeconfig: str, present: list[str], error: Exception) -> str:
    """Why a kubeconfig the client could not load is unusable, in one line.

    A file with every section of a kubeconfig has a value the client cannot
    take (certificate data that is not base64, say): saying "not a
    kubeconfig" would send its reader looking in the wrong place. The error's
    type says what tripped; its text is left out, as it may quote the file,
    credentials included.
    """
    for path in present:
        try:
            with open(os.path.expanduser(path), encoding="utf-8") as handle:
                document = yaml.safe_load(handle)
        except (OSError, ValueError, yaml.YAMLError):
            continue
        if isinstance(document, dict) and all(key in document for key in _SECTIONS):
            return (
                f"{path} has a value the client cannot use ({type(error).__name__}): "
                "check its certificate data, server URL and credentials"
            )
    return (
        f"{kubeconfig} is not a kubeconfig file (expected YAML with clusters, "
        "users, contexts and current-context)"
    )


def _check_usable(kubeconfig: str, configuration: client.Configuration) -> None:
    """Refuse a loaded kubeconfig whose server URL or certificate authority can never work.

    The client takes both without a look and fails at every request after,
    so the controller would retry its watches for ever: better one line now.

    Raises:
        KubeconfigError: Naming the file and what is wrong, never a credential.
    """
    try:
        url = urllib3.util.parse_url(configuration.host)
    except urllib3.exceptions.LocationParseError:
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        raise KubeconfigError(f"{kubeconfig}: the cluster's server is not an http(s) URL")
    if configuration.ssl_ca_cert:
        try:
            ssl.create_default_context(cafile=configuration.ssl_ca_cert)
        except (ssl.SSLError, OSError) as error:
            raise KubeconfigError(
                f"{kubeconfig}: the cluster's certificate authority cannot be loaded "
                f"({type(error).__name__})"
            ) from None
