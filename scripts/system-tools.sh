#!/usr/bin/env bash
# Installs the distribution's tools that `make test` (or `make bench`) runs,
# when one is missing. Tools packaged for Python (shellcheck, kubectl, hadolint,
# ...) come from pyproject.toml's dev extra into .venv instead.
#
#   scripts/system-tools.sh test|bench
#
# Nothing missing: prints nothing, runs no package manager. Something missing:
# as root, `apt-get update` once and `apt-get install` of the missing Debian
# packages; as anyone else, one line with the exact command to run, exit 1.
set -euo pipefail

usage="usage: scripts/system-tools.sh test|bench"
[ "$#" -eq 1 ] || { echo "$usage" >&2; exit 2; }

# "check:package" pairs. A check is a command on PATH, or a glob that must
# match an executable file (PostgreSQL keeps its server programs off PATH).
case "$1" in
    test) wanted=(
        promtool:prometheus    # checks and unit-tests the alert rules (tests/k8s)
        prometheus:prometheus  # the server that loads the rendered rules
        jq:jq                  # what scripts/backup-configmaps.sh runs on
        node:nodejs            # checks and evaluates hack/load-test-k6.js
        chromium:chromium      # headless page tests
        '/usr/lib/postgresql/*/bin/pg_ctl:postgresql'  # a throw-away PostgreSQL journal
    ) ;;
    bench) wanted=(
        wrk:wrk                # drives the web app's benchmark
    ) ;;
    *) echo "$usage" >&2; exit 2 ;;
esac

present() {
    local check=$1 match
    if [[ "$check" == /* ]]; then
        for match in $check; do [ -x "$match" ] && return 0; done
        return 1
    fi
    command -v "$check" >/dev/null 2>&1
}

missing=()
for pair in "${wanted[@]}"; do
    package=${pair##*:}
    present "${pair%:*}" || [[ " ${missing[*]} " == *" $package "* ]] || missing+=("$package")
done
[ "${#missing[@]}" -eq 0 ] && exit 0

install=(apt-get install -y -qq --no-install-recommends "${missing[@]}")
if [ "$(id -u)" != 0 ]; then
    echo "missing system tools for make $1; run: sudo apt-get update && sudo ${install[*]}" >&2
    exit 1
fi
echo "installing ${missing[*]} with apt-get (make $1 needs them)" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${install[@]}" >/dev/null
