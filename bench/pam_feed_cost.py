"""The PAM event feed trigger's cost per app write on supabase-wheels, on a database freshly
grown to one size (bench/scale.py's data), as the load left the cache and with the day's feed
partition and the app log's indexes in shared buffers (as a day of writes keeps them):

    .venv/bin/python bench/pam_feed_cost.py [--users 1000000] [--writes 10000] [--no-write]

bench/scale.py measures the same loop after its heavier steps, which leave less of it cached.
The µs per single-row INSERT with the trigger and without (replica mode), medians of 3, replace
the `## PAM event feed: the trigger's cost per app write` section of docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import scale  # noqa: E402
from bench.sections import write_section  # noqa: E402
from tests import supabase_support  # noqa: E402
from wheels_jobs.migrate import migrate  # noqa: E402

CACHE_THE_DAY = """
WITH rels AS (
    SELECT p.partition AS r FROM wheels.day_partitions('wheels.pam_event_feed') p
    WHERE p.day = (%(as_of)s::timestamptz AT TIME ZONE 'UTC')::date
    UNION ALL SELECT 'public.pam_analytics_logs'::regclass)
SELECT count(pg_prewarm(x)) FROM (SELECT r AS x FROM rels
                                  UNION SELECT i.indexrelid::regclass FROM pg_index i JOIN rels ON i.indrelid = rels.r) y
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--writes", type=int, default=10_000)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    started, when = time.perf_counter(), datetime.now(timezone.utc)
    rows = []
    scale.Q = scale.Q_SUPABASE
    folder = Path(tempfile.mkdtemp(prefix="wheels-pam-feed-cost-"))
    folder.chmod(0o755)
    instance = supabase_support.start(folder, settings=scale.SERVER_SETTINGS)
    try:
        migrate(instance.owner_url, "supabase-wheels", schedule_jobs=False)
        url = instance.admin_url
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(scale.Q["pam_partitions"], {"as_of": scale.AS_OF})
        scale.grow(url, 0, args.users)
        rows.append(("as the load left it", scale.trigger_cost(url, args.writes, "new_pam_events")))
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
            conn.execute(CACHE_THE_DAY, {"as_of": scale.AS_OF})
        for n in (1, 2):
            rows.append((f"the day's feed partition and the log's indexes cached, run {n}",
                         scale.trigger_cost(url, args.writes, "new_pam_events")))
    finally:
        instance.cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)
    table = "\n".join(f"| {what} | {c['with triggers']:.1f} | {c['without']:.1f} | "
                       f"+{c['with triggers'] - c['without']:.1f} |" for what, c in rows)
    body = f"""## PAM event feed: the trigger's cost per app write

Command: `.venv/bin/python bench/pam_feed_cost.py --users {args.users} --writes {args.writes}` ({when:%Y-%m-%d %H:%M} UTC,
{(time.perf_counter() - started) / 60:.1f} min with the load). Machine: {scale.machine()}. The supabase-wheels source on the
Supabase-shaped test database, grown to {args.users:,} users with bench/scale.py's data (17 PAM events per user over a
week, copied into the feed); then a PL/pgSQL loop of {args.writes:,} single-row INSERTs into the app's
`pam_analytics_logs` (each a statement: the trigger's per-statement cost, its exception block and the copy are in
it), with the feed's triggers and without them (replica mode), medians of 3 runs, each rolled back.

| the cache | µs with the trigger | µs without | the trigger's cost |
| --- | ---: | ---: | ---: |
{table}
"""
    print(body)
    if not args.no_write:
        write_section(body)


if __name__ == "__main__":
    main()
