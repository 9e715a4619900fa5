"""Building the API client: the proxy the environment names is kept for the whole run."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes.config import ConfigException

from reloader.kube.client import KubeconfigError, make_api_client

PROXY = "http://proxy.invalid:3128"


def kubeconfig(tmp_path: Path) -> str:
    path = tmp_path / "kubeconfig"
    path.write_text(
        """
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true}
users:
- name: u
  user: {token: "a-token"}
contexts:
- name: ctx
  context: {cluster: c, user: u}
current-context: ctx
""",
        encoding="utf-8",
    )
    return str(path)


@pytest.fixture(autouse=True)
def no_proxy_variables(monkeypatch):
    for name in (
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)


def test_the_environments_proxy_is_used_and_kept_after_the_token_refresh(tmp_path, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", PROXY)
    api = make_api_client(kubeconfig(tmp_path))
    assert api.configuration.proxy == PROXY
    # The client's token hook runs before every request and assigns the
    # host again; that must neither lose the proxy nor read the environment
    # anew (it did, on every request: a measurable share of a patch's CPU).
    monkeypatch.delenv("HTTPS_PROXY")
    assert api.configuration.get_api_key_with_prefix("BearerToken") == "Bearer a-token"
    assert api.configuration.host == "https://127.0.0.1:6443"
    assert api.configuration.proxy == PROXY


def test_without_a_proxy_variable_requests_go_direct(tmp_path, monkeypatch):
    api = make_api_client(kubeconfig(tmp_path))
    monkeypatch.setenv("HTTPS_PROXY", PROXY)  # set too late: the client was built
    api.configuration.get_api_key_with_prefix("BearerToken")
    assert api.configuration.proxy is None


def test_a_missing_kubeconfig_is_not_called_malformed(tmp_path):
    with pytest.raises(ConfigException) as missing:
        make_api_client(str(tmp_path / "no-such-kubeconfig"))
    assert not isinstance(missing.value, KubeconfigError)
    garbage = tmp_path / "garbage"
    garbage.write_text("- just\n- a list\n", encoding="utf-8")
    with pytest.raises(KubeconfigError, match="is not a kubeconfig file"):
        make_api_client(str(garbage))


def test_a_kubeconfig_that_cannot_be_read_names_the_file(tmp_path, monkeypatch):
    # The tests may run as root, for whom no mode makes a file unreadable: the
    # client's own open() is made to refuse it instead.
    path = kubeconfig(tmp_path)

    def refuse(name, *args, **kwargs):
        raise PermissionError(13, "Permission denied", name)

    monkeypatch.setattr("kubernetes.config.kube_config.open", refuse, raising=False)
    with pytest.raises(KubeconfigError) as caught:
        make_api_client(path)
    assert str(caught.value) == f"{path} cannot be read: Permission denied"
