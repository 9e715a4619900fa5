#!/usr/bin/env python3
"""Check the render-time invariants of the Shipshape manifests.

Usage (from the repository root)::

    python3 hack/validate_manifests.py --overlay test --overlay prod \\
        --controller-egress-patch examples/controller-egress/eks.patch.yaml

For each overlay it renders ``k8s/overlays/ENV`` and checks that no Namespace is
emitted, that the NetworkPolicy peers in other namespaces (ingress gateway,
istiod, DNS, Prometheus) reach the cluster exactly as written in the sources,
and that names, labels, hosts and ports agree across Deployment, ConfigMap,
Service, Gateway, VirtualService, DestinationRule, Certificate, the Istio
policies, the app ServiceMonitor and the rate-limit EnvoyFilter's vhosts.
Each ``--controller-egress-patch`` is applied as a JSON merge patch (what
``kubectl patch --type merge`` does) to the controller's NetworkPolicy, which
must then no longer contain the placeholder CIDR 127.255.255.255/32.
"""

from __future__ import annotations

import copy
import ipaddress
from pathlib import Path
from typing import Any

import k8slib
from controller_variants import check_controller_variant
from k8slib import (
    API_EGRESS_PLACEHOLDER,
    ENVIRONMENTS,
    NAMESPACE,
    Manifest,
    ValidationError,
    find,
    one,
)

SCRIPT = "validate_manifests"

#: Pods in other namespaces our NetworkPolicies may name, and the only pod
#: selectors allowed for each. A label transform that leaks app/env into
#: these selectors makes them match nothing.
EXTERNAL_PEERS: dict[str, list[dict[str, str]]] = {
    "istio-system": [{"istio": "ingressgateway"}, {"app": "istiod"}],
    "kube-system": [{"k8s-app": "kube-dns"}],
    "monitoring": [{"app.kubernetes.io/name": "prometheus"}],
}
PROMETHEUS_PRINCIPAL = "cluster.local/ns/monitoring/sa/prometheus-k8s"
APP_PORT = 8080
#: The host the k8s/istio templates carry until an overlay fills in its own.
TEMPLATE_HOST = "ENV.helloworld.shipshape.example.com"


def host_for(env: str) -> str:
    """Return the public host of an environment."""
    return f"{env}.helloworld.shipshape.example.com"


def labels(obj: Manifest) -> dict[str, str]:
    """Return an object's metadata labels."""
    return obj["metadata"].get("labels") or {}


def match_labels(selector: Any) -> dict[str, str] | None:
    """Return a label selector's matchLabels (None when it is not a plain selector)."""
    if not isinstance(selector, dict):
        return None
    return selector.get("matchLabels") or {}


def peers(policy: Manifest) -> list[tuple[str, dict[str, Any]]]:
    """Return every (direction, peer) of a NetworkPolicy."""
    spec = policy.get("spec") or {}
    found = []
    for direction, key in (("ingress", "from"), ("egress", "to")):
        for rule in spec.get(direction) or []:
            found.extend((direction, peer) for peer in rule.get(key) or [])
    return found


def check_external_peers(policy: Manifest, where: str) -> list[str]:
    """Check that every peer in another namespace uses an allowed pod selector."""
    problems = []
    name = policy["metadata"]["name"]
    for direction, peer in peers(policy):
        if "namespaceSelector" not in peer:
            continue
        ns = (match_labels(peer["namespaceSelector"]) or {}).get("kubernetes.io/metadata.name")
        pod_selector = match_labels(peer.get("podSelector"))
        allowed = EXTERNAL_PEERS.get(ns or "")
        if allowed is None:
            problems.append(
                f"{where}: NetworkPolicy {name} {direction} peer selects namespace {ns!r}, "
                f"which is not one of {sorted(EXTERNAL_PEERS)}"
            )
        elif pod_selector not in allowed:
            problems.append(
                f"{where}: NetworkPolicy {name} {direction} peer in {ns} has podSelector "
                f"{pod_selector}, expected one of {allowed} (a label transform mutated it?)"
            )
    return problems


def source_peer_rules(root: Path, relative: str) -> tuple[list[Any], list[Any]]:
    """Return the ingress and egress rules of the NetworkPolicy source file."""
    source = k8slib.load_yaml_file(root / relative)
    spec = (source or {}).get("spec") or {}
    return spec.get("ingress") or [], spec.get("egress") or []


def check_overlay(root: Path, env: str, objects: list[Manifest]) -> list[str]:
    """Check one rendered overlay."""
    where = f"k8s/overlays/{env}"
    app = {"app": "helloworld", "env": env}
    problems = check_placement(where, objects)
    problems += check_app(where, env, objects, app)
    problems += check_app_network_policy(root, where, env, objects, app)
    service = one(objects, "Service", f"helloworld-{env}", where)
    port = {p.get("name"): p.get("port") for p in service["spec"].get("ports") or []}.get("http")
    problems += check_routing(where, env, objects, port)
    problems += check_mesh_policies(where, env, objects, app)
    if env == "prod":
        problems += check_prod_scaling(where, objects, app)
    return problems


def check_placement(where: str, objects: list[Manifest]) -> list[str]:
    """Check that an overlay emits only namespaced app objects, fully filled in."""
    problems = []
    if find(objects, "Namespace"):
        problems.append(f"{where}: emits a Namespace; only k8s/namespace may own it")
    for kind in ("ServiceMonitor", "PrometheusRule"):
        if find(objects, kind):
            problems.append(f"{where}: emits a {kind}; app monitoring lives in k8s/monitoring")
    for obj in objects:
        name = f"{obj['kind']} {obj['metadata']['name']}"
        ns = obj["metadata"].get("namespace")
        if ns != NAMESPACE:
            problems.append(f"{where}: {name} is in namespace {ns!r}, not {NAMESPACE}")
        if TEMPLATE_HOST in str(obj):
            problems.append(f"{where}: {name} still holds the template host {TEMPLATE_HOST}")
    return problems


def check_app(where: str, env: str, objects: list[Manifest], app: dict[str, str]) -> list[str]:
    """Check the ConfigMap -> Deployment -> Service chain of one environment."""
    problems = []
    config = one(objects, "ConfigMap", f"helloworld-config-{env}", where)
    if not app.items() <= labels(config).items():
        problems.append(f"{where}: ConfigMap helloworld-config-{env} lacks labels {app}")
    if "MESSAGE" not in (config.get("data") or {}):
        problems.append(f"{where}: ConfigMap helloworld-config-{env} has no MESSAGE key")

    deployment = one(objects, "Deployment", f"helloworld-{env}", where)
    spec = deployment["spec"]
    if not app.items() <= labels(deployment).items():
        problems.append(f"{where}: Deployment helloworld-{env} lacks labels {app}")
    selector = match_labels(spec.get("selector"))
    if selector != app:
        problems.append(f"{where}: Deployment helloworld-{env} selector is {selector}, not {app}")
    template_labels = spec["template"]["metadata"].get("labels") or {}
    if not app.items() <= template_labels.items():
        problems.append(f"{where}: Deployment helloworld-{env} pod template lacks labels {app}")
    problems += check_app_container(where, env, spec["template"]["spec"])

    service = one(objects, "Service", f"helloworld-{env}", where)
    if not app.items() <= labels(service).items():
        problems.append(f"{where}: Service helloworld-{env} lacks labels {app}")
    if service["spec"].get("selector") != app:
        problems.append(
            f"{where}: Service helloworld-{env} selector is {service['spec'].get('selector')}, "
            f"not {app}"
        )
    ports = {p.get("name"): p.get("port") for p in service["spec"].get("ports") or []}
    if ports.get("http") != APP_PORT:
        problems.append(f"{where}: Service helloworld-{env} has no port http={APP_PORT}")
    return problems


def check_app_network_policy(
    root: Path, where: str, env: str, objects: list[Manifest], app: dict[str, str]
) -> list[str]:
    """Check the app NetworkPolicy: env-scoped, external peers exactly as in the source."""
    problems = []
    policy = one(objects, "NetworkPolicy", f"helloworld-{env}", where)
    selector = match_labels(policy["spec"].get("podSelector"))
    if selector != app:
        problems.append(
            f"{where}: NetworkPolicy helloworld-{env} podSelector is {selector}, not {app}"
        )
    problems += check_external_peers(policy, where)
    ingress, egress = source_peer_rules(root, "k8s/base/networkpolicy.yaml")
    if policy["spec"].get("ingress") != ingress or policy["spec"].get("egress") != egress:
        problems.append(
            f"{where}: NetworkPolicy helloworld-{env} rules differ from "
            "k8s/base/networkpolicy.yaml: a kustomize transform rewrote the peer selectors"
        )
    return problems


def check_app_container(where: str, env: str, pod_spec: Manifest) -> list[str]:
    """Check the app container's port and its MESSAGE and PORT variables."""
    problems = []
    main = next(iter(pod_spec.get("containers") or []), None)
    if main is None:
        return [f"{where}: Deployment helloworld-{env} has no container"]
    variables = {var["name"]: var for var in main.get("env") or []}
    ref = (variables.get("MESSAGE", {}).get("valueFrom") or {}).get("configMapKeyRef") or {}
    if ref.get("name") != f"helloworld-config-{env}" or ref.get("key") != "MESSAGE":
        problems.append(
            f"{where}: Deployment helloworld-{env} MESSAGE must come from ConfigMap "
            f"helloworld-config-{env} key MESSAGE, found {ref or 'nothing'}"
        )
    if variables.get("PORT", {}).get("value") != str(APP_PORT):
        problems.append(f"{where}: Deployment helloworld-{env} must set PORT={APP_PORT}")
    ports = {p.get("name"): p.get("containerPort") for p in main.get("ports") or []}
    if ports.get("http") != APP_PORT:
        problems.append(
            f"{where}: Deployment helloworld-{env} lacks container port http={APP_PORT}"
        )
    return problems


def check_routing(where: str, env: str, objects: list[Manifest], port: Any) -> list[str]:
    """Check that Gateway, VirtualService, DestinationRule and Certificate agree."""
    problems = []
    host = host_for(env)
    service_hosts = {
        f"helloworld-{env}",
        f"helloworld-{env}.{NAMESPACE}",
        f"helloworld-{env}.{NAMESPACE}.svc.cluster.local",
    }
    certificate = one(objects, "Certificate", f"helloworld-cert-{env}", where)
    if host not in (certificate["spec"].get("dnsNames") or []):
        problems.append(f"{where}: Certificate helloworld-cert-{env} does not cover {host}")
    gateway = one(objects, "Gateway", f"helloworld-gateway-{env}", where)
    for server in gateway["spec"].get("servers") or []:
        if server.get("hosts") != [host]:
            problems.append(
                f"{where}: Gateway helloworld-gateway-{env} serves {server.get('hosts')}, "
                f"expected [{host!r}]"
            )
        credential = (server.get("tls") or {}).get("credentialName")
        if credential is not None and credential != certificate["spec"].get("secretName"):
            problems.append(
                f"{where}: Gateway helloworld-gateway-{env} uses secret {credential}, but "
                f"Certificate helloworld-cert-{env} writes {certificate['spec'].get('secretName')}"
            )
    virtual_service = one(objects, "VirtualService", f"helloworld-virtualservice-{env}", where)
    vs_spec = virtual_service["spec"]
    if vs_spec.get("hosts") != [host]:
        problems.append(
            f"{where}: VirtualService helloworld-virtualservice-{env} hosts are "
            f"{vs_spec.get('hosts')}, expected [{host!r}]"
        )
    if vs_spec.get("gateways") != [f"helloworld-gateway-{env}"]:
        problems.append(
            f"{where}: VirtualService helloworld-virtualservice-{env} gateways are "
            f"{vs_spec.get('gateways')}, expected ['helloworld-gateway-{env}']"
        )
    for route in vs_spec.get("http") or []:
        for target in route.get("route") or []:
            destination = target.get("destination") or {}
            if destination.get("host") not in service_hosts:
                problems.append(
                    f"{where}: VirtualService helloworld-virtualservice-{env} routes to "
                    f"{destination.get('host')}, not Service helloworld-{env}"
                )
            if (destination.get("port") or {}).get("number") != port:
                problems.append(
                    f"{where}: VirtualService helloworld-virtualservice-{env} routes to port "
                    f"{(destination.get('port') or {}).get('number')}, Service port is {port}"
                )
    rule = one(objects, "DestinationRule", f"helloworld-destinationrule-{env}", where)
    if rule["spec"].get("host") not in service_hosts:
        problems.append(
            f"{where}: DestinationRule helloworld-destinationrule-{env} host is "
            f"{rule['spec'].get('host')}, not Service helloworld-{env}"
        )
    return problems


def check_mesh_policies(
    where: str, env: str, objects: list[Manifest], app: dict[str, str]
) -> list[str]:
    """Check strict mTLS and the ingress-only authorization of one environment."""
    problems = []
    peer_auth = find(objects, "PeerAuthentication")
    strict = [
        pa
        for pa in peer_auth
        if (pa["spec"].get("mtls") or {}).get("mode") == "STRICT"
        and match_labels(pa["spec"].get("selector")) == app
    ]
    if not strict:
        problems.append(f"{where}: no STRICT PeerAuthentication selects {app}")
    allow = one(objects, "AuthorizationPolicy", f"helloworld-allow-ingress-only-{env}", where)
    if match_labels(allow["spec"].get("selector")) != app:
        problems.append(
            f"{where}: AuthorizationPolicy helloworld-allow-ingress-only-{env} does not "
            f"select {app}"
        )
    problems += check_metrics_access(where, env, allow)
    return problems


def check_metrics_access(where: str, env: str, allow: Manifest) -> list[str]:
    """Check that only the Prometheus principal may reach /metrics."""
    problems = []
    name = f"AuthorizationPolicy helloworld-allow-ingress-only-{env}"
    if allow["spec"].get("action", "ALLOW") != "ALLOW":
        return [f"{where}: {name} must be an ALLOW policy"]
    prometheus_allowed = False
    for rule in allow["spec"].get("rules") or []:
        principals = {
            principal
            for source in rule.get("from") or []
            for principal in (source.get("source") or {}).get("principals") or []
        }
        operations = [target.get("operation") or {} for target in rule.get("to") or []]
        metrics_open = not operations or any(
            "/metrics" in (op.get("paths") or []) or "/metrics" not in (op.get("notPaths") or [])
            for op in operations
        )
        if principals == {PROMETHEUS_PRINCIPAL}:
            prometheus_allowed = prometheus_allowed or metrics_open
        elif metrics_open:
            problems.append(
                f"{where}: {name} lets {sorted(principals) or 'anyone'} reach /metrics; "
                f"only {PROMETHEUS_PRINCIPAL} may"
            )
    if not prometheus_allowed:
        problems.append(f"{where}: {name} does not let {PROMETHEUS_PRINCIPAL} scrape /metrics")
    return problems


def check_prod_scaling(where: str, objects: list[Manifest], app: dict[str, str]) -> list[str]:
    """Check the prod HPA and PDB target the prod Deployment."""
    problems = []
    hpa = one(objects, "HorizontalPodAutoscaler", "helloworld-prod", where)
    target = hpa["spec"].get("scaleTargetRef") or {}
    if (target.get("kind"), target.get("name")) != ("Deployment", "helloworld-prod"):
        problems.append(f"{where}: HPA helloworld-prod scales {target}, not helloworld-prod")
    pdb = one(objects, "PodDisruptionBudget", "helloworld-prod", where)
    if match_labels(pdb["spec"].get("selector")) != app:
        problems.append(f"{where}: PDB helloworld-prod does not select {app}")
    return problems


def check_monitoring(
    objects: list[Manifest], services: dict[str, Manifest], controller: list[Manifest]
) -> list[str]:
    """Check that the ServiceMonitors find the Services and carry env into the series."""
    where = "k8s/monitoring"
    problems = []
    monitor = one(objects, "ServiceMonitor", "helloworld", where)
    spec = monitor["spec"]
    if "env" not in (spec.get("targetLabels") or []):
        problems.append(f"{where}: ServiceMonitor helloworld must have targetLabels [env]")
    selector = match_labels(spec.get("selector")) or {}
    ports = {endpoint.get("port") for endpoint in spec.get("endpoints") or []}
    for env, service in services.items():
        if not selector.items() <= labels(service).items():
            problems.append(
                f"{where}: ServiceMonitor helloworld selector {selector} misses "
                f"Service helloworld-{env}"
            )
        names = {p.get("name") for p in service["spec"].get("ports") or []}
        if not ports <= names:
            problems.append(
                f"{where}: ServiceMonitor helloworld scrapes ports {sorted(ports)}, "
                f"Service helloworld-{env} has {sorted(names)}"
            )
        if "env" not in labels(service):
            problems.append(f"{where}: Service helloworld-{env} has no env label to propagate")
    controller_monitor = one(objects, "ServiceMonitor", "helloworld-controller", where)
    controller_service = one(controller, "Service", "helloworld-controller", "k8s/controller")
    selector = match_labels(controller_monitor["spec"].get("selector")) or {}
    if not selector or not selector.items() <= labels(controller_service).items():
        problems.append(
            f"{where}: ServiceMonitor helloworld-controller selector {selector} misses "
            "Service helloworld-controller"
        )
    if not find(objects, "PrometheusRule"):
        problems.append(f"{where}: no PrometheusRule")
    return problems


def check_ratelimit_vhosts(objects: list[Manifest], gateways: dict[str, Manifest]) -> list[str]:
    """Check that the EnvoyFilter limits exactly the Gateways' HTTPS hosts."""
    where = "k8s/istio-ingress"
    envoy_filter = one(objects, "EnvoyFilter", "helloworld-ingress-ratelimit", where)
    vhosts = {
        ((patch.get("match") or {}).get("routeConfiguration") or {}).get("vhost", {}).get("name")
        for patch in envoy_filter["spec"].get("configPatches") or []
    } - {None}
    expected = {
        f"{host}:{server['port']['number']}"
        for gateway in gateways.values()
        for server in gateway["spec"].get("servers") or []
        if server.get("port", {}).get("protocol") == "HTTPS"
        for host in server.get("hosts") or []
    }
    problems = []
    for missing in sorted(expected - vhosts):
        problems.append(
            f"{where}: EnvoyFilter helloworld-ingress-ratelimit has no vhost {missing}: "
            "that host is not rate limited"
        )
    stale = vhosts - expected
    environments_checked = {host.split(".", 1)[0] for host in expected}
    for extra in sorted(stale):
        if extra.split(".", 1)[0] in environments_checked:
            problems.append(
                f"{where}: EnvoyFilter helloworld-ingress-ratelimit vhost {extra} matches "
                "no Gateway host"
            )
    return problems


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply a JSON merge patch (RFC 7386), as ``kubectl patch --type merge`` does."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def check_egress_patch(root: Path, patch_path: Path, controller: list[Manifest]) -> list[str]:
    """Check one controller egress patch against the rendered controller policy."""
    where = str(patch_path)
    full = patch_path if patch_path.is_absolute() else root / patch_path
    if not full.is_file():
        return [f"{where}: no such file"]
    patch = k8slib.load_yaml_file(full)
    if not isinstance(patch, dict) or not isinstance(patch.get("spec"), dict):
        return [f"{where}: not a merge patch with a spec"]
    policy = one(controller, "NetworkPolicy", "helloworld-controller", "k8s/controller")
    patched = merge_patch(policy, patch)
    problems = []
    if API_EGRESS_PLACEHOLDER in str(patched):
        problems.append(
            f"{where}: the placeholder CIDR {API_EGRESS_PLACEHOLDER} is still in the patched "
            "helloworld-controller NetworkPolicy; replace it with your API server CIDRs"
        )
    egress = patched["spec"].get("egress") or []
    dns = any(any(port.get("port") == 53 for port in rule.get("ports") or []) for rule in egress)
    if not dns:
        problems.append(f"{where}: the patched policy allows no DNS egress (port 53)")
    api_rules = [
        rule
        for rule in egress
        if any(
            port.get("port") == 443 and port.get("protocol", "TCP") == "TCP"
            for port in rule.get("ports") or []
        )
    ]
    if not api_rules:
        problems.append(f"{where}: the patched policy allows no API egress on TCP/443")
    for rule in api_rules:
        for peer in rule.get("to") or []:
            if "ipBlock" not in peer:
                problems.append(f"{where}: API egress must be ipBlock entries only, found {peer}")
                continue
            cidr = peer["ipBlock"].get("cidr", "")
            try:
                network = ipaddress.ip_network(cidr, strict=True)
            except ValueError:
                problems.append(f"{where}: {cidr!r} is not a valid CIDR")
                continue
            if network.prefixlen == 0:
                problems.append(f"{where}: {cidr} opens API egress to everything")
    problems += check_external_peers(patched, where)
    return problems


def main() -> int:
    """Parse the arguments, run every check and report."""
    parser = k8slib.base_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--overlay",
        action="append",
        choices=ENVIRONMENTS,
        help="environment overlay to check (repeatable; default: all)",
    )
    parser.add_argument(
        "--controller-egress-patch",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="merge patch for the controller NetworkPolicy that must remove the placeholder",
    )
    args = parser.parse_args()
    root: Path = args.root
    overlays = args.overlay or list(ENVIRONMENTS)

    problems: list[str] = []
    services: dict[str, Manifest] = {}
    gateways: dict[str, Manifest] = {}
    for env in dict.fromkeys(overlays):
        objects = k8slib.render(root / "k8s" / "overlays" / env)
        try:
            problems += check_overlay(root, env, objects)
            services[env] = one(objects, "Service", f"helloworld-{env}", env)
            gateways[env] = one(objects, "Gateway", f"helloworld-gateway-{env}", env)
        except ValidationError as exc:
            problems.append(str(exc))

    controller = k8slib.render(root / "k8s" / "controller")
    for policy in find(controller, "NetworkPolicy"):
        problems += check_external_peers(policy, "k8s/controller")
    problems += check_monitoring(k8slib.render(root / "k8s" / "monitoring"), services, controller)
    problems += check_ratelimit_vhosts(k8slib.render(root / "k8s" / "istio-ingress"), gateways)
    for patch_path in args.controller_egress_patch:
        problems += check_egress_patch(root, patch_path, controller)
    for variant in k8slib.VARIANTS:
        problems += check_controller_variant(variant, k8slib.render(root / variant), controller)

    checked = f"overlays {', '.join(overlays)}"
    if args.controller_egress_patch:
        checked += f" and {len(args.controller_egress_patch)} controller egress patch(es)"
    return k8slib.report(SCRIPT, problems, f"{checked} hold every render-time invariant")


if __name__ == "__main__":
    k8slib.run(SCRIPT, main)
