#!/usr/bin/env bash
# Idempotent set-up shared by both README commands: PostgreSQL + the matching
# pg_cron package and Chromium (apt, only when missing), then .venv with the project.
# A second run installs nothing and takes well under a second.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*" >&2; }

newest_pg_major() {
    # The newest server installed under Debian's layout, e.g. "15".
    ls -d /usr/lib/postgresql/*/bin/postgres 2>/dev/null | sed -E 's#.*/postgresql/([0-9]+)/bin/postgres#\1#' | sort -n | tail -1
}

# Another apt (unattended-upgrades on a fresh machine, a second terminal) may hold the
# dpkg or package-list lock: wait for it, up to 10 minutes, instead of failing at once.
# apt's own DPkg::Lock::Timeout covers install, not update's list lock: hence the loop.
APT_LOCK_WAIT_S=600
apt_get() {
    local waited=0 out
    while true; do
        if out=$(apt-get -o DPkg::Lock::Timeout="$APT_LOCK_WAIT_S" "$@" 2>&1); then
            return 0
        fi
        if ! grep -q 'Could not get lock\|Unable to lock' <<<"$out" || [ "$waited" -ge "$APT_LOCK_WAIT_S" ]; then
            printf '%s\n' "$out" >&2
            return 1
        fi
        if [ "$waited" = 0 ]; then
            say "another apt holds its lock: waiting for it (up to ${APT_LOCK_WAIT_S} s)"
        fi
        sleep 5
        waited=$((waited + 5))
    done
}

apt_updated=no
apt_install() {
    if [ "$(id -u)" != 0 ]; then
        say "missing system packages ($*): run 'sudo apt-get install -y $*' or re-run this as root"
        exit 1
    fi
    if [ "$apt_updated" = no ]; then
        say "apt-get update"
        apt_get update -qq
        apt_updated=yes
    fi
    say "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive apt_get install -y -qq "$@"
}

major=$(newest_pg_major)
if [ -z "$major" ]; then
    apt_install postgresql
    major=$(newest_pg_major)
fi
if [ ! -f "/usr/lib/postgresql/$major/lib/pg_cron.so" ]; then
    apt_install "postgresql-$major-cron"
fi

# Debian's headless Chromium: the browser tests (preferences page, dashboard at phone and
# desktop widths, the email gallery) and scripts/*_screenshot.py, scripts/email_gallery.py.
# Optional: without root it is only reported, and those tests are skipped.
if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = 0 ]; then
        apt_install chromium
    else
        say "no /usr/bin/chromium: the browser tests will be skipped ('sudo apt-get install -y chromium' adds it)"
    fi
fi

if [ ! -x .venv/bin/python ]; then
    say "creating .venv"
    python3 -m venv .venv
fi
# Re-install only when the dependency list changed.
stamp=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ "$(cat .venv/.setup-stamp 2>/dev/null || true)" != "$stamp" ]; then
    say "installing the project into .venv"
    # pip warns about this machine's local index folders; keep real errors.
    .venv/bin/pip install -q -e '.[test]' 2>&1 | { grep -v '^WARNING: Location' || true; }
    echo "$stamp" > .venv/.setup-stamp
fi
