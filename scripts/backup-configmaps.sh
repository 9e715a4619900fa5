#!/usr/bin/env bash
# Back up and restore the helloworld ConfigMaps.
#
# Usage:
#   scripts/backup-configmaps.sh backup [DIR]
#   scripts/backup-configmaps.sh restore DIR
#
# backup  writes one file per ConfigMap selected by SELECTOR in NAMESPACE to DIR
#         (default: BACKUP_ROOT/configmaps-NAMESPACE-<UTC timestamp>), plus a
#         SHA256SUMS file. Metadata is sanitised: only name, namespace, labels
#         and user annotations are kept (no uid, resourceVersion, timestamps,
#         managedFields or last-applied configuration), keys are sorted, so the
#         same cluster state always gives the same bytes. The directory appears
#         only when every file is complete.
# restore checks SHA256SUMS and every file, runs a server-side dry run of the
#         whole restore, and only then restores each ConfigMap exactly as saved
#         (replacing it if it exists, creating it if not).
#
# Environment: NAMESPACE (default shipshape), SELECTOR (default app=helloworld),
# BACKUP_ROOT (default backups), KUBECTL (default kubectl). Needs kubectl, jq
# and sha256sum. Exit codes: 0 done, 1 failed, 2 usage error.
set -euo pipefail

NAMESPACE="${NAMESPACE:-shipshape}"
SELECTOR="${SELECTOR:-app=helloworld}"
BACKUP_ROOT="${BACKUP_ROOT:-backups}"
KUBECTL="${KUBECTL:-kubectl}"
PROG="backup-configmaps"

die() {
    printf '%s: error: %s\n' "$PROG" "$*" >&2
    exit 1
}

usage() {
    printf 'usage: %s backup [DIR] | restore DIR\n' "$0" >&2
    exit 2
}

require() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 || die "$tool is required but not on PATH"
    done
}

kube() {
    "$KUBECTL" --namespace "$NAMESPACE" "$@"
}

# Keep what defines the ConfigMap, drop what the cluster generated.
SANITISE='{
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: (
    {name: .metadata.name, namespace: .metadata.namespace}
    + (if (.metadata.labels // {}) == {} then {} else {labels: .metadata.labels} end)
    + ((.metadata.annotations // {})
       | with_entries(select(.key != "kubectl.kubernetes.io/last-applied-configuration"))
       | if . == {} then {} else {annotations: .} end)
  )
}
+ (if .data then {data: .data} else {} end)
+ (if .binaryData then {binaryData: .binaryData} else {} end)
+ (if .immutable then {immutable: .immutable} else {} end)'

backup() {
    local target="${1:-}"
    if [ -z "$target" ]; then
        target="$BACKUP_ROOT/configmaps-$NAMESPACE-$(date -u +%Y%m%dT%H%M%SZ)"
    fi
    if [ -e "$target" ]; then
        die "$target already exists; choose a new directory"
    fi
    mkdir -p "$(dirname "$target")"

    local listing staging count name
    listing="$(kube get configmaps --selector "$SELECTOR" --output json)" \
        || die "cannot list ConfigMaps ($SELECTOR) in namespace $NAMESPACE"
    count="$(jq '.items | length' <<<"$listing")"
    [ "$count" -gt 0 ] || die "no ConfigMaps match $SELECTOR in namespace $NAMESPACE"

    staging="$(mktemp -d "$(dirname "$target")/.configmaps.XXXXXX")"
    trap 'rm -rf "$staging"' EXIT
    while IFS= read -r name; do
        jq --sort-keys --arg name "$name" \
            ".items[] | select(.metadata.name == \$name) | $SANITISE" \
            <<<"$listing" >"$staging/$name.json"
    done < <(jq -r '.items[].metadata.name' <<<"$listing" | LC_ALL=C sort)
    (cd "$staging" && LC_ALL=C sha256sum -- *.json >SHA256SUMS)
    mv "$staging" "$target"
    trap - EXIT
    printf '%s: saved %s ConfigMap(s) from %s to %s\n' "$PROG" "$count" "$NAMESPACE" "$target"
}

check_backup() {
    local dir="$1" file
    [ -d "$dir" ] || die "$dir is not a directory"
    [ -f "$dir/SHA256SUMS" ] || die "$dir has no SHA256SUMS; not a backup made by this script"
    (cd "$dir" && sha256sum --check --quiet --strict SHA256SUMS >/dev/null 2>&1) \
        || die "$dir: files do not match SHA256SUMS (corrupt or edited backup)"
    local files=("$dir"/*.json)
    [ -e "${files[0]}" ] || die "$dir holds no ConfigMap files"
    for file in "${files[@]}"; do
        jq --exit-status --arg ns "$NAMESPACE" \
            '.kind == "ConfigMap" and .apiVersion == "v1"
             and (.metadata.name | type) == "string"
             and .metadata.namespace == $ns' "$file" >/dev/null 2>&1 \
            || die "$file is not a ConfigMap of namespace $NAMESPACE"
    done
}

# restore_one FILE [DRY_RUN_FLAG]: replace the ConfigMap if it exists, else create it.
restore_one() {
    local file="$1" name
    shift
    name="$(jq -r '.metadata.name' "$file")"
    if kube get configmap "$name" --output name >/dev/null 2>&1; then
        kube replace --filename "$file" "$@" >/dev/null
    else
        kube create --filename "$file" "$@" >/dev/null
    fi
}

restore() {
    local dir="${1:-}" file
    [ -n "$dir" ] || usage
    check_backup "$dir"
    local files=("$dir"/*.json)
    for file in "${files[@]}"; do
        restore_one "$file" --dry-run=server \
            || die "server-side dry run rejected $file; nothing was restored"
    done
    for file in "${files[@]}"; do
        restore_one "$file" || die "restoring $file failed; re-run the restore to finish"
    done
    printf '%s: restored %s ConfigMap(s) to %s from %s\n' "$PROG" "${#files[@]}" "$NAMESPACE" "$dir"
}

main() {
    [ "$#" -ge 1 ] || usage
    local command="$1"
    shift
    case "$command" in
        backup)
            [ "$#" -le 1 ] || usage
            require "$KUBECTL" jq sha256sum
            backup "$@"
            ;;
        restore)
            [ "$#" -eq 1 ] || usage
            require "$KUBECTL" jq sha256sum
            restore "$1"
            ;;
        -h | --help)
            sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'
            ;;
        *) usage ;;
    esac
}

main "$@"
