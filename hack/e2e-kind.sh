#!/usr/bin/env bash
# Smoke-test Shipshape on a real kind cluster.
#
#   ./hack/e2e-kind.sh                 # build both images here, load them into kind
#   APP_IMAGE=REPO@sha256:... CONTROLLER_IMAGE=REPO@sha256:... ./hack/e2e-kind.sh
#                                      # the released images (release workflow)
#
# Steps: create a kind cluster; register the custom kinds our manifests use
# (hack/e2e_crds.py); render the release bundle for the images
# (hack/render_release_manifests.py) and apply it in the canonical order;
# replace the controller's placeholder API egress with the cluster's API
# addresses, checked by hack/validate_manifests.py first, as the runbook's
# hand-off does; allow kubelet probes from the node network; then check that
# both app environments and the controller StatefulSet roll out, that one
# replica holds the Lease, that a ConfigMap change restarts helloworld-test
# (and nothing else) and reaches its responses, that every replica's journal
# verifies and holds the restart, and that a standby takes over when the
# leader's pod is deleted.
#
# Needs docker, kind, kubectl and python3 with PyYAML (the project's .venv has
# kubectl and PyYAML: PATH=".venv/bin:$PATH" PYTHON=.venv/bin/python).
#
# Environment:
#   APP_IMAGE, CONTROLLER_IMAGE   released image references (both or neither)
#   KIND_CLUSTER_NAME             default shipshape-e2e (an existing one is reused)
#   KIND_NODE_IMAGE               node image, pinned by digest
#   KEEP_CLUSTER=1                leave the cluster running afterwards
#   E2E_ARTIFACTS                 directory for diagnostics on failure
#   E2E_TIMEOUT                   rollout timeout, default 240s
#   E2E_REGISTRY_SERVER, E2E_REGISTRY_USER, E2E_REGISTRY_PASSWORD
#                                 pull credentials for private released images
#   PYTHON                        interpreter for the hack/ helpers (python3)
#
# Exit codes: 0 every check passed, 1 a check failed, 2 usage or a missing tool.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NAMESPACE=shipshape
CLUSTER="${KIND_CLUSTER_NAME:-shipshape-e2e}"
# kind v0.26's node image for Kubernetes 1.32.
NODE_IMAGE="${KIND_NODE_IMAGE:-kindest/node:v1.32.0@sha256:c48c62eac5da28cdadcf560d1d8616cfa6783b58f0d94cf63ad1bf49600cb027}"
APP_IMAGE="${APP_IMAGE:-}"
CONTROLLER_IMAGE="${CONTROLLER_IMAGE:-}"
KEEP_CLUSTER="${KEEP_CLUSTER:-0}"
TIMEOUT="${E2E_TIMEOUT:-240s}"
PYTHON="${PYTHON:-python3}"
ARTIFACTS="${E2E_ARTIFACTS:-}"
LEASE=helloworld-controller-leader

WORK=""
CREATED_CLUSTER=0

log() { printf '==> %s\n' "$*"; }
fail() { printf 'e2e-kind: FAIL: %s\n' "$*" >&2; exit 1; }
usage_error() { printf 'e2e-kind: %s\n' "$*" >&2; exit 2; }

usage() {
    sed -n '2,/^set -euo pipefail$/{/^set /d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
}

require() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 || usage_error "$tool is not installed (see --help)"
    done
}

# Poll a command until it succeeds or the deadline (seconds) passes.
wait_for() {
    local seconds=$1 what=$2
    shift 2
    local deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || fail "$what did not happen within ${seconds}s"
        sleep 2
    done
}

k() { kubectl --namespace "$NAMESPACE" "$@"; }

collect_diagnostics() {
    [ -n "$ARTIFACTS" ] || return 0
    mkdir -p "$ARTIFACTS"
    log "collecting diagnostics into $ARTIFACTS"
    kubectl get all,networkpolicy,lease,configmap -A -o wide >"$ARTIFACTS/objects.txt" 2>&1 || true
    kubectl get events -A --sort-by=.lastTimestamp >"$ARTIFACTS/events.txt" 2>&1 || true
    k describe pods >"$ARTIFACTS/pods.txt" 2>&1 || true
    local pod
    for pod in $(k get pods -o name 2>/dev/null); do
        k logs --all-containers --prefix "$pod" >"$ARTIFACTS/${pod#pod/}.log" 2>&1 || true
    done
}

cleanup() {
    local status=$?
    if [ "$status" -ne 0 ] && [ -n "$WORK" ]; then
        collect_diagnostics
    fi
    if [ "$CREATED_CLUSTER" = 1 ] && [ "$KEEP_CLUSTER" != 1 ]; then
        log "deleting kind cluster $CLUSTER"
        kind delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true
    fi
    if [ -n "$WORK" ]; then rm -rf "$WORK"; fi
    exit "$status"
}

case "${1:-}" in
    -h | --help) usage; exit 0 ;;
    "") ;;
    *) usage_error "unexpected argument: $1 (see --help)" ;;
esac
if { [ -n "$APP_IMAGE" ] && [ -z "$CONTROLLER_IMAGE" ]; } || { [ -z "$APP_IMAGE" ] && [ -n "$CONTROLLER_IMAGE" ]; }; then
    usage_error "set both APP_IMAGE and CONTROLLER_IMAGE, or neither to build them here"
fi
require docker kind kubectl "$PYTHON"

WORK="$(mktemp -d)"
trap cleanup EXIT
export KUBECONFIG="$WORK/kubeconfig"
cd "$ROOT"

# --- Images ------------------------------------------------------------------
RENDER_FLAGS=()
if [ -z "$APP_IMAGE" ]; then
    commit="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
    APP_IMAGE="shipshape/helloworld:e2e-${commit:0:12}"
    CONTROLLER_IMAGE="shipshape/controller:e2e-${commit:0:12}"
    log "building $APP_IMAGE and $CONTROLLER_IMAGE"
    docker build --quiet -f webapp/Dockerfile --build-arg "GIT_COMMIT=$commit" -t "$APP_IMAGE" . >/dev/null
    docker build --quiet -f reloader/Dockerfile --build-arg "GIT_COMMIT=$commit" -t "$CONTROLLER_IMAGE" . >/dev/null
    RENDER_FLAGS+=(--allow-tags)
    LOCAL_IMAGES=1
else
    LOCAL_IMAGES=0
fi

# --- Cluster -----------------------------------------------------------------
if kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
    log "reusing kind cluster $CLUSTER"
    kind export kubeconfig --name "$CLUSTER" --kubeconfig "$KUBECONFIG" >/dev/null
else
    log "creating kind cluster $CLUSTER ($NODE_IMAGE)"
    CREATED_CLUSTER=1
    kind create cluster --name "$CLUSTER" --image "$NODE_IMAGE" --kubeconfig "$KUBECONFIG" --wait 180s
fi
if [ "$LOCAL_IMAGES" = 1 ]; then
    kind load docker-image --name "$CLUSTER" "$APP_IMAGE" "$CONTROLLER_IMAGE"
fi

log "registering the custom kinds the manifests use"
"$PYTHON" hack/e2e_crds.py >"$WORK/crds.yaml"
kubectl apply -f "$WORK/crds.yaml"
kubectl wait --for=condition=Established --timeout=60s -f "$WORK/crds.yaml"

# --- Manifests, in the canonical order ----------------------------------------
log "rendering the release bundle"
"$PYTHON" hack/render_release_manifests.py --app-image "$APP_IMAGE" \
    --controller-image "$CONTROLLER_IMAGE" --out "$WORK/bundle" "${RENDER_FLAGS[@]}"
BUNDLE_ORDER=(
    01-namespace.yaml
    02-istio-ingress.yaml
    03-overlays-test.yaml
    04-overlays-prod.yaml
    05-monitoring.yaml
    06-controller.yaml
)
for file in "${BUNDLE_ORDER[@]}"; do
    [ -f "$WORK/bundle/$file" ] || fail "the bundle has no $file"
done

# istio-system and monitoring are namespaces of other stacks; the bundle's
# objects that live there need them to exist.
for ns in istio-system monitoring; do
    kubectl create namespace "$ns" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
done

for file in "${BUNDLE_ORDER[@]}"; do
    log "kubectl apply -f $file"
    kubectl apply -f "$WORK/bundle/$file"
    if [ "$file" = 01-namespace.yaml ] && [ -n "${E2E_REGISTRY_USER:-}" ]; then
        # Private released images: pull with these credentials. The service
        # accounts exist before their workloads so every pod gets the secret;
        # the later apply keeps the field (it is not in the applied manifest).
        k create secret docker-registry shipshape-e2e-pull \
            --docker-server="${E2E_REGISTRY_SERVER:?E2E_REGISTRY_SERVER is required with E2E_REGISTRY_USER}" \
            --docker-username="$E2E_REGISTRY_USER" \
            --docker-password="${E2E_REGISTRY_PASSWORD:?E2E_REGISTRY_PASSWORD is required with E2E_REGISTRY_USER}" \
            --dry-run=client -o yaml | kubectl apply -f - >/dev/null
        for sa in helloworld-test helloworld-prod helloworld-controller; do
            k create serviceaccount "$sa" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
            k patch serviceaccount "$sa" --type merge \
                -p '{"imagePullSecrets":[{"name":"shipshape-e2e-pull"}]}' >/dev/null
        done
    fi
done

# --- Controller API egress: the runbook's hand-off, against this cluster --------
log "replacing the controller's placeholder API egress with this cluster's API addresses"
api_ips="$(kubectl -n default get endpoints kubernetes -o jsonpath='{.subsets[*].addresses[*].ip}')"
api_ports="$(kubectl -n default get endpoints kubernetes -o jsonpath='{.subsets[*].ports[*].port}')"
cluster_ip="$(kubectl -n default get svc kubernetes -o jsonpath='{.spec.clusterIP}')"
if [ -z "$api_ips" ] || [ -z "$api_ports" ]; then
    fail "could not resolve the API server endpoints"
fi
{
    cat <<'EOF'
spec:
  egress:
    - to:
        - namespaceSelector:
            matchLabels:
              kubernetes.io/metadata.name: kube-system
          podSelector:
            matchLabels:
              k8s-app: kube-dns
      ports:
        - port: 53
          protocol: UDP
        - port: 53
          protocol: TCP
    - to:
EOF
    for ip in $cluster_ip $api_ips; do
        printf '        - ipBlock:\n            cidr: %s/32\n' "$ip"
    done
    printf '      ports:\n        - port: 443\n          protocol: TCP\n'
    for port in $api_ports; do
        [ "$port" = 443 ] || printf '        - port: %s\n          protocol: TCP\n' "$port"
    done
} >"$WORK/controller-egress.patch.yaml"
"$PYTHON" hack/validate_manifests.py --overlay test --overlay prod \
    --controller-egress-patch "$WORK/controller-egress.patch.yaml"
k patch networkpolicy helloworld-controller --type merge \
    --patch-file "$WORK/controller-egress.patch.yaml"

log "allowing kubelet probes from the node network"
for node_ip in $(kubectl get nodes -o jsonpath='{.items[*].status.addresses[?(@.type=="InternalIP")].address}'); do
    for policy in app controller; do
        sed -e "s|10.0.0.0/16|${node_ip}/32|g" \
            -e "s|-allow-kubelet-probes|-allow-kubelet-probes-${node_ip//[.:]/-}|" \
            "examples/networkpolicy-probe-allow/${policy}-kubelet-probes.yaml" | kubectl apply -f -
    done
done

# --- Rollouts ---------------------------------------------------------------------
log "waiting for the rollouts"
k rollout status deployment/helloworld-test --timeout="$TIMEOUT"
k rollout status deployment/helloworld-prod --timeout="$TIMEOUT"
k rollout status statefulset/helloworld-controller --timeout="$TIMEOUT"

lease_holder() { k get lease "$LEASE" -o jsonpath='{.spec.holderIdentity}' 2>/dev/null; }
has_leader() { [ -n "$(lease_holder)" ]; }
wait_for 90 "a controller replica acquiring the Lease" has_leader
leader="$(lease_holder)"
log "leader: $leader"

http_get() {
    # GET a URL from inside a pod with the image's own Python (no curl there).
    local target=$1 url=$2
    k exec "$target" -- python -c \
        'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' \
        "$url"
}
for replica in helloworld-controller-0 helloworld-controller-1; do
    leadz="$(http_get "pod/$replica" http://127.0.0.1:8080/leadz)"
    named="$("$PYTHON" -c 'import json, sys; print(json.loads(sys.argv[1]).get("leader") or "")' "$leadz")"
    [ "$named" = "$leader" ] || fail "$replica /leadz names ${named:-no leader}, the Lease $leader: $leadz"
done

# --- A ConfigMap change restarts helloworld-test, and only it --------------------
template_annotation() {
    k get deployment "$1" -o jsonpath='{.spec.template.metadata.annotations.shipshape\.io/restarted-at}'
}
prod_before="$(template_annotation helloworld-prod)"
message="e2e message $(date -u +%Y%m%dT%H%M%SZ)"
log "patching helloworld-config-test: MESSAGE=$message"
k patch configmap helloworld-config-test --type merge \
    -p "{\"data\":{\"MESSAGE\":\"$message\"}}"
restarted() { [ -n "$(template_annotation helloworld-test)" ]; }
wait_for 90 "the controller restarting helloworld-test" restarted
k rollout status deployment/helloworld-test --timeout="$TIMEOUT"
serves_message() { [ "$(http_get deployment/helloworld-test http://127.0.0.1:8080/)" = "$message" ]; }
wait_for 60 "helloworld-test serving the new message" serves_message
[ "$(template_annotation helloworld-prod)" = "$prod_before" ] \
    || fail "helloworld-prod was restarted by a change to helloworld-config-test"

# --- The journals -------------------------------------------------------------------
for replica in helloworld-controller-0 helloworld-controller-1; do
    log "$replica: shipshape-journal verify"
    k exec "$replica" -- shipshape-journal verify || fail "$replica's journal does not verify"
done
log "$leader: the restart in the journal"
k exec "$leader" -- shipshape-journal tail --kind restart -n 20 -o json >"$WORK/restarts.json"
grep -q '"kind": *"restart.patched".*deployment/helloworld-test' "$WORK/restarts.json" \
    || fail "no restart.patched record for deployment/helloworld-test in $leader's journal"
k exec "$leader" -- shipshape-journal replay || fail "replay of $leader's journal failed"

# --- Failover -----------------------------------------------------------------------
log "deleting the leader's pod ($leader)"
k delete pod "$leader" --wait=false
new_leader() { local holder; holder="$(lease_holder)"; [ -n "$holder" ] && [ "$holder" != "$leader" ]; }
wait_for 90 "a standby taking over the Lease" new_leader
log "new leader: $(lease_holder)"
k rollout status statefulset/helloworld-controller --timeout="$TIMEOUT"

log "PASS: kind smoke test"
