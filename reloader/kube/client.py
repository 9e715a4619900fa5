"""Building the Kubernetes API client from a kubeconfig or the in-cluster service account."""

from __future__ import annotations

from kubernetes import client, config

USER_AGENT = "shipshape-controller"


def make_api_client(kubeconfig: str | None) -> client.ApiClient:
    """Return an API client for ``kubeconfig``, or for the pod's service account when None.

    urllib3's own retries are off: the controller retries with its own backoff
    and records every attempt, and a patch must never be re-sent behind its back.

    Raises:
        kubernetes.config.ConfigException: The kubeconfig or the service account is unusable.
    """
    configuration = client.Configuration()
    if kubeconfig:
        config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    else:
        config.load_incluster_config(client_configuration=configuration)
    configuration.retries = 0
    api = client.ApiClient(configuration)
    api.user_agent = USER_AGENT
    return api
