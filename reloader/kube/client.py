"""Building the Kubernetes API client from a kubeconfig or the in-cluster service account."""

from __future__ import annotations

from kubernetes import client, config

USER_AGENT = "shipshape-controller"


class KubeconfigError(ValueError):
    """The kubeconfig file exists but is not a kubeconfig; the message says which file."""


def make_api_client(kubeconfig: str | None) -> client.ApiClient:
    """Return an API client for ``kubeconfig``, or for the pod's service account when None.

    urllib3's own retries are off: the controller retries with its own backoff
    and records every attempt, and a patch must never be re-sent behind its back.
    A proxy named by ``HTTPS_PROXY`` (and the like) is taken at this call and
    kept for the process's life.

    Raises:
        KubeconfigError: The file is not YAML, or not shaped like a kubeconfig.
        kubernetes.config.ConfigException: The kubeconfig or the service account is unusable.
    """
    configuration = client.Configuration()
    if kubeconfig:
        try:
            config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
        except (config.ConfigException, OSError):
            raise
        except Exception:
            # Not YAML, or YAML of another shape: the client trips over it with
            # whatever error its first assumption raises, which helps nobody.
            raise KubeconfigError(
                f"{kubeconfig} is not a kubeconfig file (expected YAML with clusters, "
                "users, contexts and current-context)"
            ) from None
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
