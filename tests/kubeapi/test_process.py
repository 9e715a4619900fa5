"""`python -m tests.kubeapi` as its own process: the ready line, kubeconfigs, SIGTERM."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from kubernetes import client, config

from tests.kubeapi.process import REPO_ROOT, ServerProcess


def test_runs_prints_one_ready_line_and_exits_0_on_sigterm(tmp_path):
    server = ServerProcess(tmp_path, ["--client", f"controller-0={tmp_path / 'c0'}"]).start()
    try:
        assert server.url.startswith("https://127.0.0.1:")
        api = config.new_client_from_config(config_file=str(server.kubeconfig))
        with api:
            names = [n.metadata.name for n in client.CoreV1Api(api).list_namespace().items]
        assert "default" in names
        c0 = config.new_client_from_config(config_file=str(tmp_path / "c0"))
        with c0:
            client.CoreV1Api(c0).create_namespaced_config_map(
                "default", {"metadata": {"name": "from-c0"}}
            )
        assert server.admin.requests(client="controller-0", verb="create")[0]["status"] == 201
        assert server.admin.info()["url"] == server.url
    finally:
        code = server.stop()
    assert code == 0
    assert server.process is not None
    remaining = server.process.stdout.read() if not server.process.stdout.closed else ""
    assert remaining == ""


def test_plain_http_mode(tmp_path):
    with ServerProcess(tmp_path, ["--http", "--rollout-delay", "never"]) as server:
        assert server.url.startswith("http://127.0.0.1:")
        assert server.admin.settings()["rolloutDelay"] is None


def test_a_new_session_keeps_the_server_out_of_the_parents_process_group(tmp_path):
    with ServerProcess(tmp_path, ["--http"], start_new_session=True) as server:
        assert server.process is not None
        assert os.getpgid(server.process.pid) == server.process.pid != os.getpgid(0)
    assert server.process.returncode == 0


def test_bad_arguments_are_one_clear_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "tests.kubeapi", "--port", "0", "--kubeconfig", str(tmp_path / "k"),
         "--rollout-delay", "soon"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stdout == ""
    assert "expected seconds or 'never', got 'soon'" in result.stderr
    assert "Traceback" not in result.stderr
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    unwritable = subprocess.run(
        [sys.executable, "-m", "tests.kubeapi", "--port", "0",
         "--kubeconfig", str(blocker / "kubeconfig")],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert unwritable.returncode == 1
    assert unwritable.stdout == ""
    assert unwritable.stderr.startswith("error: cannot write kubeconfig")
    assert len(unwritable.stderr.strip().splitlines()) == 1


def test_a_service_account_client_is_judged_by_rbac_and_needs_its_service_account(tmp_path):
    kubeconfig = tmp_path / "sa"
    args = ["--sa-client", f"controller-0=default/robot={kubeconfig}"]
    with ServerProcess(tmp_path, args) as server:
        admin = config.new_client_from_config(config_file=str(server.kubeconfig))
        robot = config.new_client_from_config(config_file=str(kubeconfig))
        with admin, robot:
            # no ServiceAccount yet: its token does not authenticate
            try:
                client.CoreV1Api(robot).list_namespaced_config_map("default")
            except client.ApiException as err:
                assert err.status == 401
            else:
                raise AssertionError("a token of a missing ServiceAccount authenticated")
            client.CoreV1Api(admin).create_namespaced_service_account(
                "default", {"metadata": {"name": "robot"}}
            )
            try:
                client.CoreV1Api(robot).list_namespaced_config_map("default")
            except client.ApiException as err:
                assert err.status == 403
                message = json.loads(err.body)["message"]
                user = "system:serviceaccount:default:robot"
                assert message.startswith(f'configmaps is forbidden: User "{user}" cannot list')
            else:
                raise AssertionError("a ServiceAccount without a Role listed configmaps")
            token = server.admin.create_token("default", "robot")
            review = client.AuthenticationV1Api(admin).create_token_review(
                {"spec": {"token": token}}
            )
            assert review.status.user.username == "system:serviceaccount:default:robot"
    bad = subprocess.run(
        [sys.executable, "-m", "tests.kubeapi", "--port", "0", "--kubeconfig", str(tmp_path / "k"),
         "--sa-client", "c0=robot=file"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert bad.returncode == 2
    assert "expected NAME=NAMESPACE/SERVICEACCOUNT=KUBECONFIG_PATH" in bad.stderr
