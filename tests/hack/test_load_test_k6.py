"""hack/load-test-k6.js: valid JavaScript, options driven by its variables (run by node).

k6 itself is not installed here; node checks the syntax and evaluates the script
with small stand-ins for the ``k6`` modules, so the options object and the URL
each iteration requests are checked as k6 would compute them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "hack/load-test-k6.js"

# Resolve `k6`, `k6/http` and `k6/metrics` to stand-ins that record what the
# script does, and load the script itself as an ES module (k6's format).
LOADER = """
const stubs = {
  'k6': 'export function check(value, checks) { return true; }',
  'k6/http': `export default { get(url, params) {
      globalThis.__requests.push({ url, params });
      return { status: 200, body: 'Hello, world!\\\\n' };
    } };`,
  'k6/metrics': 'export class Rate { constructor(name) { this.name = name; } add() {} }',
};
export async function resolve(specifier, context, next) {
  if (specifier in stubs) return { url: 'k6stub:' + specifier, shortCircuit: true };
  return next(specifier, context);
}
export async function load(url, context, next) {
  if (url.startsWith('k6stub:')) {
    return { format: 'module', source: stubs[url.slice(7)], shortCircuit: true };
  }
  if (url.endsWith('/load-test-k6.js')) {
    return { ...(await next(url, { ...context, format: 'module' })), format: 'module' };
  }
  return next(url, context);
}
"""
REGISTER = """
import { register } from 'node:module';
register('./loader.mjs', import.meta.url);
globalThis.__ENV = JSON.parse(process.env.K6_TEST_ENV);
globalThis.__requests = [];
"""
RUN = """
const script = await import(process.env.K6_SCRIPT);
script.default();
console.log(JSON.stringify({ options: script.options, requests: globalThis.__requests }));
"""


@pytest.fixture(scope="module")
def node():
    found = shutil.which("node")
    assert found, "node is not on PATH; `make test` installs it (scripts/system-tools.sh)"
    return found


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    directory = tmp_path_factory.mktemp("k6")
    (directory / "loader.mjs").write_text(LOADER)
    (directory / "register.mjs").write_text(REGISTER)
    (directory / "run.mjs").write_text(RUN)
    return directory


def evaluate(node, harness, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [node, "--no-warnings", "--import", "./register.mjs", "run.mjs"],
        cwd=harness,
        env={"K6_TEST_ENV": json.dumps(env), "K6_SCRIPT": SCRIPT.as_uri()},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_script_is_valid_javascript(node, tmp_path):
    module = tmp_path / "load-test-k6.mjs"
    module.write_text(SCRIPT.read_text())
    result = subprocess.run(
        [node, "--check", str(module)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_the_runbook_invocation_sets_the_gate_thresholds(node, harness):
    result = evaluate(
        node,
        harness,
        {
            "BASE_URL": "https://192.0.2.10",
            "HOST_HEADER": "prod.helloworld.shipshape.example.com",
            "VUS": "30",
            "DURATION": "5m",
        },
    )
    assert result.returncode == 0, result.stderr
    run = json.loads(result.stdout)
    options = run["options"]
    assert (options["vus"], options["duration"]) == (30, "5m")
    assert options["thresholds"] == {
        "http_req_duration": ["p(95)<=250", "p(99)<=500"],
        "server_errors": ["rate<=0.01"],
        "http_reqs": ["rate>=120"],
    }
    # The virtual host is requested by name and resolved to the ingress address,
    # so Host, SNI and the certificate all match what real clients send.
    assert options["hosts"] == {"prod.helloworld.shipshape.example.com": "192.0.2.10"}
    (request,) = run["requests"]
    assert request["url"] == "https://prod.helloworld.shipshape.example.com/"


def test_without_variables_it_loads_a_local_app(node, harness):
    result = evaluate(node, harness, {"MIN_RPS": "500"})
    assert result.returncode == 0, result.stderr
    run = json.loads(result.stdout)
    assert (run["options"]["vus"], run["options"]["duration"]) == (30, "5m")
    assert run["options"]["hosts"] == {}
    assert run["options"]["thresholds"]["http_reqs"] == ["rate>=500"]
    assert run["requests"][0]["url"] == "http://127.0.0.1:8080/"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"VUS": "many"}, 'VUS must be a positive whole number, got "many"'),
        ({"VUS": "0"}, 'VUS must be a positive whole number, got "0"'),
        ({"DURATION": "five minutes"}, "DURATION must be a k6 duration"),
        ({"BASE_URL": "192.0.2.10"}, "BASE_URL must look like http(s)://host[:port]"),
    ],
)
def test_bad_variables_stop_the_script_with_a_message(node, harness, env, message):
    result = evaluate(node, harness, env)
    assert result.returncode != 0
    assert message in result.stderr
