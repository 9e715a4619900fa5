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
# restore takes only what SHA256SUMS vouches for: the directory must hold
#         exactly the ConfigMap files it lists, each with its digest (a file
#         added, edited or missing refuses the whole restore, naming it). The
#         files are copied to a private temporary directory and checked there,
#         so what is applied is what was checked. It then runs a server-side
#         dry run of the whole restore, and only then restores each ConfigMap
#         exactly as saved (replacing it if it exists, creating it if not).
#
# Environment: NAMESPACE (default shipshape), SELECTOR (default app=helloworld),
# BACKUP_ROOT (default backups), KUBECTL (default kubectl). Needs kubectl, jq
# and sha256sum. Exit codes: 0 done, 1 failed, 2 usage error; interrupted, it
# removes its temporary files and exits 128 + the signal's number.
set -euo pipefail

NAMESPACE="${NAMESPACE:-shipshape}"
SELECTOR="${SELECTOR:-app=helloworld}"
BACKUP_ROOT="${BACKUP_ROOT:-backups}"
KUBECTL="${KUBECTL:-kubectl}"
PROG="backup-configmaps"

# Temporary directories to remove however the script ends. A global, not a
# local in the trap's text: bash may run the EXIT trap after the function that
# made them has returned, where its locals are unset (and set -u stops the trap).
CLEANUP=()
cleanup() {
    if [ "${#CLEANUP[@]}" -gt 0 ]; then
        rm -rf -- "${CLEANUP[@]}"
    fi
}
trap cleanup EXIT
# Without these a signal may end bash without running the EXIT trap.
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

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
    CLEANUP+=("$staging")
    while IFS= read -r name; do
        jq --sort-keys --arg name "$name" \
            ".items[] | select(.metadata.name == \$name) | $SANITISE" \
            <<<"$listing" >"$staging/$name.json"
    done < <(jq -r '.items[].metadata.name' <<<"$listing" | LC_ALL=C sort)
    (cd "$staging" && LC_ALL=C sha256sum -- *.json >SHA256SUMS)
    # The names come through a process substitution, whose failure set -e
    # does not see: count what was written.
    [ "$(find "$staging" -name '*.json' | wc -l)" -eq "$count" ] \
        || die "wrote fewer files than the $count ConfigMap(s) listed; nothing was saved"
    mv "$staging" "$target"
    CLEANUP=()
    printf '%s: saved %s ConfigMap(s) from %s to %s\n' "$PROG" "$count" "$NAMESPACE" "$target"
}

# refuse MESSAGE: stop a restore before it has written anything.
refuse() {
    die "$*; nothing was restored"
}

# shown NAME: a file name from the backup, printable on one line.
shown() {
    printf '%q' "$1"
}

# read_sums DIR: set LISTED and DIGESTS from DIR/SHA256SUMS. Every line must be
# "<sha256>  NAME.json" (or sha256sum's binary-mode "<sha256> *NAME.json") with
# NAME a ConfigMap name: no path, nothing hidden, each file once.
LISTED=()
DIGESTS=()
read_sums() {
    local dir="$1" line number=0 sum name listed
    local line_form='^([0-9a-fA-F]{64}) [ *](.*)$'
    local name_form='^[a-z0-9]([-a-z0-9.]*[a-z0-9])?\.json$'
    while IFS= read -r line || [ -n "$line" ]; do
        number=$((number + 1))
        [[ $line =~ $line_form ]] \
            || refuse "$dir/SHA256SUMS line $number is not '<sha256>  NAME.json'"
        sum="$(printf '%s' "${BASH_REMATCH[1]}" | tr '[:upper:]' '[:lower:]')"
        name="${BASH_REMATCH[2]}"
        [[ $name =~ $name_form ]] \
            || refuse "$dir/SHA256SUMS line $number names $(shown "$name"), which is not a ConfigMap file of this backup"
        if [ "${#LISTED[@]}" -gt 0 ]; then
            for listed in "${LISTED[@]}"; do
                [ "$listed" != "$name" ] || refuse "$dir/SHA256SUMS line $number lists $name again"
            done
        fi
        LISTED+=("$name")
        DIGESTS+=("$sum")
    done <"$dir/SHA256SUMS"
    [ "${#LISTED[@]}" -gt 0 ] || refuse "$dir/SHA256SUMS lists no ConfigMap file"
}

is_listed() {
    local listed
    for listed in "${LISTED[@]}"; do
        [ "$listed" != "$1" ] || return 0
    done
    return 1
}

# take_backup DIR WORK: copy the files SHA256SUMS lists from DIR to WORK and
# check them there; refuse a backup holding anything else.
take_backup() {
    local dir="$1" work="$2" entry base index name actual
    [ -d "$dir" ] || die "$dir is not a directory"
    [ -f "$dir/SHA256SUMS" ] || die "$dir has no SHA256SUMS; not a backup made by this script"
    read_sums "$dir"
    # Every entry, hidden ones too; a pattern that matches nothing stays as
    # written and does not exist.
    for entry in "$dir"/* "$dir"/.[!.]* "$dir"/..?*; do
        [ -e "$entry" ] || [ -L "$entry" ] || continue
        base="${entry##*/}"
        [ "$base" = SHA256SUMS ] || is_listed "$base" \
            || refuse "$dir/$(shown "$base") is not listed in SHA256SUMS (a file added to the backup)"
    done
    for index in "${!LISTED[@]}"; do
        name="${LISTED[index]}"
        [ -e "$dir/$name" ] || refuse "$dir/$name is listed in SHA256SUMS but missing"
        [ -f "$dir/$name" ] || refuse "$dir/$name is not a regular file"
        cp -- "$dir/$name" "$work/$name" || refuse "cannot read $dir/$name"
        actual="$(sha256sum -- "$work/$name")" || refuse "cannot read $dir/$name"
        [ "${actual%% *}" = "${DIGESTS[index]}" ] \
            || refuse "$dir/$name does not match its SHA256SUMS digest (corrupt or edited backup)"
        jq --exit-status --arg ns "$NAMESPACE" \
            '.kind == "ConfigMap" and .apiVersion == "v1"
             and (.metadata.name | type) == "string"
             and .metadata.namespace == $ns' "$work/$name" >/dev/null 2>&1 \
            || die "$dir/$name is not a ConfigMap of namespace $NAMESPACE"
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
    local dir="${1:-}" work name
    [ -n "$dir" ] || usage
    [ "$dir" = / ] || dir="${dir%/}"
    work="$(mktemp -d "${TMPDIR:-/tmp}/$PROG.XXXXXX")"
    CLEANUP+=("$work")
    take_backup "$dir" "$work"
    for name in "${LISTED[@]}"; do
        restore_one "$work/$name" --dry-run=server \
            || die "server-side dry run rejected $dir/$name; nothing was restored"
    done
    for name in "${LISTED[@]}"; do
        restore_one "$work/$name" || die "restoring $dir/$name failed; re-run the restore to finish"
    done
    printf '%s: restored %s ConfigMap(s) to %s from %s\n' "$PROG" "${#LISTED[@]}" "$NAMESPACE" "$dir"
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
            sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"
            ;;
        *) usage ;;
    esac
}

main "$@"
