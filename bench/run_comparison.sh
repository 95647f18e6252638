#!/usr/bin/env bash
# wheels-jobs vs Celery + Redis, side by side (bench/celery_compare.py). Installs
# what the baseline needs when missing (the `bench` extra into .venv, Debian's
# redis-server), then runs the comparison; extra arguments go to it (--quick).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if ! .venv/bin/python -c 'import celery, redis, psutil' 2>/dev/null; then
    echo "bench: installing the bench extra into .venv" >&2
    .venv/bin/pip install -q -e '.[test,bench]' 2>&1 | { grep -v '^WARNING: Location' || true; }
fi
if ! command -v redis-server >/dev/null; then
    if [ "$(id -u)" != 0 ]; then
        echo "bench: redis-server is missing: run 'sudo apt-get install -y redis-server' or re-run this as root" >&2
        exit 1
    fi
    echo "bench: apt-get install redis-server" >&2
    apt-get -o DPkg::Lock::Timeout=300 update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq redis-server >/dev/null
fi
exec .venv/bin/python -m bench.celery_compare "$@"
