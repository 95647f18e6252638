"""`cli.py source check`: the installed source against the contract, then the data.

Contract violations (a relation, column or function missing, a column of
another type) mean a job would fail: the check exits 1. Data findings (a time
zone PostgreSQL does not know, users without a usable address, a currency that
is not ISO 4217, a budget without a limit, an expiring table this database
lacks) never stop a job (each is treated as the jobs document and reported
here), so they exit 0 unless --strict. So does drift of the budget state from
a fresh sum (a sample of users; `jobs run budget_state_rebuild` repairs it),
and of a copy of app rows the source keeps from a fresh copy
(`migrate --reinstall-source` repairs it).
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass

from babel.numbers import list_currencies
from psycopg.rows import dict_row

from wheels_core import db, queries
from wheels_core.errors import MigrationError
from wheels_jobs.migrate import installed_source

Q = queries.load("wheels_jobs", "source.sql")
DRIFT_SAMPLE_USERS = 10_000  # about this many users' sums are compared per check
SCAN_ADVICE_MIN_ROWS = 100_000  # a whole-table read of fewer rows is not worth an index


@dataclass(frozen=True)
class Finding:
    severity: str  # "violation" (a job would fail), "data" (handled, reported) or "advice" (an index would help)
    subject: str  # what it is about: a relation, column or kind of data
    problem: str  # one line
    value: str | None = None  # the offending value, where one value says it
    count: int | None = None  # rows concerned


@dataclass(frozen=True)
class Check:
    source: str
    findings: list[Finding]

    @property
    def violations(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "violation"]

    def as_json(self) -> dict:
        return {"source": self.source, "findings": [asdict(f) for f in self.findings],
                "violations": len(self.violations)}


def check(url: str) -> Check:
    """Every finding about the installed source, contract violations first."""
    with db.connect(url, row_factory=dict_row) as conn:
        installed = installed_source(conn)
        if installed is None:
            raise MigrationError("no source is installed here: `cli.py migrate --source NAME` first")
        findings = [
            Finding("violation", f"wheels_source.{v['relation']}" + ("" if v["column_name"] == "returns"
                                                                   else f".{v['column_name']}"),
                    f"expected {v['expected']}, found {v['found'] or 'nothing'}")
            for v in conn.execute(Q["contract_violations"])
        ]
        findings += [Finding("violation", f"wheels_source.{r['relation']}",
                             "no trigger calls it: the budget state would not follow the app's writes")
                     for r in conn.execute(Q["unattached_triggers"])]
        if not findings:  # the data checks read the relations the contract promises
            findings += data_findings(conn)
    return Check(installed[0], findings)


def data_findings(conn) -> list[Finding]:
    findings = [Finding("data", "users.time_zone", "unknown time zone: counted as UTC", r["value"], r["users"])
                for r in conn.execute(Q["unknown_time_zones"])]
    findings += [Finding("data", "users.email", "no usable address: gets no email", r["value"], r["users"])
                 for r in conn.execute(Q["users_without_email"])]
    known = set(list_currencies())
    findings += [Finding("data", "users.currency", "not an ISO 4217 currency: amounts show the code as it is",
                         r["value"], r["users"])
                 for r in conn.execute(Q["currencies"]) if r["value"] not in known]
    findings += [Finding("data", "users.units", "neither metric nor imperial", r["value"], r["users"])
                 for r in conn.execute(Q["unknown_units"])]
    findings += [Finding("data", "budgets.monthly_limit", "no positive limit: budget_alerts skips it",
                         r["value"], r["budgets"])
                 for r in conn.execute(Q["budgets_without_limit"])]
    for e in conn.execute(Q["expiring_tables"]):
        if not e["present"]:
            findings.append(Finding("data", f"expiring {e['relation']}", "not in this database: cleanup skips it"))
        elif not e["has_column"]:
            findings.append(Finding("violation", f"expiring {e['relation']}",
                                    f"has no column {e['time_column']}: cleanup would fail"))
        elif not e["has_order_column"]:
            findings.append(Finding("violation", f"expiring {e['relation']}",
                                    f"has no column {e['in_order_of']}: cleanup would fail"))
        elif not e["order_indexed"]:
            findings.append(Finding("data", f"expiring {e['relation']}",
                                    f"no index leads with {e['in_order_of']}: each cleanup batch reads the whole table"))
    findings += budget_state_drift(conn)
    findings += [Finding("data", r["copy"], "differs from a fresh copy of the app's rows: the jobs read it; "
                         "`cli.py migrate --reinstall-source` copies it afresh", count=r["differing"])
                 for r in conn.execute(Q["copy_drift"])]
    findings += scan_advice(conn)
    return findings


def scan_advice(conn) -> list[Finding]:
    """The jobs' frequent reads that this database plans as a whole read of a large app table
    (the guest rule: wheels-jobs adds no index to the app's tables; the app may)."""
    large = {r["relation"]: r["rows"] for r in conn.execute(Q["large_tables"], {"min_rows": SCAN_ADVICE_MIN_ROWS})}
    findings = []
    for probe in conn.execute(Q["scan_probes"]).fetchall():
        plan = conn.execute("EXPLAIN (VERBOSE, FORMAT JSON) " + probe["query"]).fetchone()["QUERY PLAN"]
        for relation in sorted(set(_seq_scans(plan[0]["Plan"])) & large.keys()):
            findings.append(Finding("advice", relation,
                                    f"{probe['what']}, and reads all of it: {probe['fix']}; "
                                    "docs/SCALING.md says by how much", count=large[relation]))
    return findings


def _seq_scans(node: dict):
    """Schema-qualified names of the relations a plan reads whole."""
    if node.get("Node Type") == "Seq Scan":
        yield f"{node.get('Schema', 'public')}.{node['Relation Name']}".removeprefix("public.")
    for child in node.get("Plans", []):
        yield from _seq_scans(child)


def budget_state_drift(conn) -> list[Finding]:
    """Users of a random sample whose budget state differs from a fresh sum of the source."""
    users = conn.execute(Q["state_size"]).fetchone()["users"]
    buckets = max(1, users // DRIFT_SAMPLE_USERS)
    bucket = random.randrange(buckets)
    differing = conn.execute(Q["budget_state_drift"], {"buckets": buckets, "bucket": bucket}).fetchone()["users"]
    if not differing:
        return []
    sample = "all users" if buckets == 1 else f"a sample of 1 in {buckets} users"
    return [Finding("data", "budget state",
                    f"month sums differ from a fresh sum of the expenses ({sample}): budget alerts and digests read "
                    "them; `cli.py jobs run budget_state_rebuild` repairs it", count=differing)]
