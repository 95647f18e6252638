"""render.yaml, the Render Blueprint (issue 16, item 2): its services run commands that exist, the
web service is health-checked at a route the app has, and every environment variable the
deployed processes read is declared for the service that runs them (or deliberately left to its
default, with the reason here), secrets never with a value."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer.main
import yaml

import cli
from sender import cli as sender_cli
from wheels_core.email_settings import EmailSettings
from sender.transports import transport_from_env
from web.app import WebSettings, create_app
from web.store import Store
from wheels_jobs.embedded import PROJECT_ROOT

BLUEPRINT = yaml.safe_load((PROJECT_ROOT / "render.yaml").read_text())
ENVIRONMENTS = ("production", "staging")
SECRETS = {"DATABASE_URL", "RESEND_API_KEY", "RESEND_WEBHOOK_SECRET", "DASHBOARD_TOKEN", "UNSUBSCRIBE_SECRET"}
# Read by Render itself, not by our processes.
PLATFORM = {"PYTHON_VERSION"}
# Read by a process but left to its default on Render, and why.
NOT_DECLARED = {
    "worker": {
        "OUTBOX_DIR": "only without RESEND_API_KEY, which the worker has",
        "RESEND_API_URL": "only to point the SDK at a stand-in (tests)",
        "SENDER_RATE_LIMIT": "default: the sender_rate_limit_per_s setting, shared by every sender",
        "SENDER_MAX_ATTEMPTS": "default: the sender_max_attempts setting",
        "SENDER_VISIBILITY_TIMEOUT": "default 30 s",
        "SENDER_POLL_INTERVAL": "default 5 s; inserts wake it at once",
        "SENDER_RETRY_INITIAL": "default 1 s",
        "SENDER_LOG_LEVEL": "default INFO",
    },
    "web": {
        "WEB_HOST": "given as --host in startCommand",
        "WEB_PORT": "given as --port $PORT (Render's) in startCommand",
        "WEB_LOG_LEVEL": "default INFO",
        "EMAIL_FROM": "read through the sender's EmailSettings, unused by the web service",
        "UNSUBSCRIBE_BASE_URL": "read through the sender's EmailSettings, unused by the web service",
    },
    "cron": {},
}


class Reads(dict):
    """An environment that records which variables a reader asks for."""

    def __init__(self, values: dict[str, str]) -> None:
        super().__init__(values)
        self.asked: set[str] = set()

    def get(self, key, default=None):
        self.asked.add(key)
        return super().get(key, default)

    def __getitem__(self, key):
        self.asked.add(key)
        return super().__getitem__(key)

    def __contains__(self, key):
        self.asked.add(key)
        return super().__contains__(key)


def command(app: typer.Typer, name: str):
    """The click command (typer's own click) behind a subcommand."""
    return typer.main.get_command(app).commands[name]


def option_variables(cmd) -> set[str]:
    return {p.envvar for p in cmd.params if getattr(p, "envvar", None)}


def worker_reads() -> set[str]:
    env = Reads({"RESEND_API_KEY": "re_test", "UNSUBSCRIBE_SECRET": "s"})
    EmailSettings.from_env(env, require_secret=True)
    transport_from_env(env)
    return option_variables(command(sender_cli.app, "drain")) | env.asked


def web_reads() -> set[str]:
    env = Reads({"UNSUBSCRIBE_SECRET": "s"})
    WebSettings.from_env(env, require_secret=True)
    return option_variables(command(cli.app, "web")) | env.asked


# What each kind of service runs: its start command's click command and the variables it reads.
PROCESSES = {
    "worker": ("sender drain", command(sender_cli.app, "drain"), worker_reads),
    "web": ("python cli.py web --host 0.0.0.0 --port $PORT", command(cli.app, "web"), web_reads),
    "cron": ("python cli.py sender-health", command(cli.app, "sender-health"),
             lambda: option_variables(command(cli.app, "sender-health"))),
}


def environments() -> dict[str, dict]:
    (project,) = BLUEPRINT["projects"]
    return {env["name"]: env for env in project["environments"]}


def services(environment: str) -> dict[str, dict]:
    """The environment's services by type (one of each)."""
    found = {}
    for service in environments()[environment]["services"]:
        assert service["type"] not in found, f"two {service['type']} services in {environment}"
        found[service["type"]] = service
    return found


def declared(environment: str, service: dict) -> dict[str, dict]:
    """{variable: its declaration} for a service, its environment group's included."""
    groups = {g["name"]: g["envVars"] for g in environments()[environment]["envVarGroups"]}
    found: dict[str, dict] = {}
    for entry in service.get("envVars", []):
        for var in groups[entry["fromGroup"]] if "fromGroup" in entry else [entry]:
            assert var["key"] not in found, f"{service['name']} declares {var['key']} twice"
            found[var["key"]] = var
    return found


def test_each_environment_has_its_group_and_the_three_services():
    assert set(environments()) == set(ENVIRONMENTS)
    names = []
    for environment in ENVIRONMENTS:
        env = environments()[environment]
        assert [g["name"] for g in env["envVarGroups"]] == [f"wheels-{environment}"]
        assert set(services(environment)) == {"worker", "web", "cron"}
        names += [s["name"] for s in env["services"]]
    assert len(names) == len(set(names))  # Render matches services by name across the Blueprint


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_services_build_the_project_and_start_real_commands(environment):
    for kind, service in services(environment).items():
        start, cmd, _ = PROCESSES[kind]
        assert service["runtime"] == "python" and service["buildCommand"] == "pip install ."
        assert service["startCommand"] == start
        words = start.replace("$PORT", "10000").split()
        cmd.make_context(cmd.name, words[words.index(cmd.name) + 1:])  # its arguments parse, or this raises
    assert re.fullmatch(r"(\S+ ){4}\S+", services(environment)["cron"]["schedule"])
    assert services(environment)["web"]["healthCheckPath"] == "/healthz"


def test_the_health_check_path_is_a_route_of_the_app():
    app = create_app(Store("postgresql://nobody@127.0.0.1:1/none"), WebSettings.from_env({}))
    assert "/healthz" in {route.path for route in app.routes}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_variable_a_process_reads_is_declared_for_its_service(environment):
    for kind, service in services(environment).items():
        reads = PROCESSES[kind][2]()
        assert set(NOT_DECLARED[kind]) <= reads, f"{kind}: NOT_DECLARED lists what it no longer reads"
        has = set(declared(environment, service))
        assert reads - set(NOT_DECLARED[kind]) - has == set(), f"{service['name']} lacks these"
        assert has - reads - PLATFORM == set(), f"{service['name']} declares what it never reads"
        assert has & set(NOT_DECLARED[kind]) == set()


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_secrets_are_never_in_the_file(environment):
    for service in services(environment).values():
        for key, var in declared(environment, service).items():
            if key in SECRETS:
                assert var.get("sync") is False or var.get("generateValue") is True, (service["name"], key)
                assert "value" not in var, (service["name"], key)
    for group in environments()[environment]["envVarGroups"]:
        assert all("sync" not in var for var in group["envVars"])  # Render ignores sync: false in a group


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_link_signer_and_verifier_share_one_generated_secret(environment):
    sender, web = services(environment)["worker"], services(environment)["web"]
    assert declared(environment, sender)["UNSUBSCRIBE_SECRET"] is declared(environment, web)["UNSUBSCRIBE_SECRET"]


def test_staging_is_production_under_other_names():
    def shape(environment: str) -> dict:
        return {kind: ({k: v for k, v in service.items() if k not in ("name", "envVars")},
                       {key: {k: v for k, v in var.items()} for key, var in declared(environment, service).items()})
                for kind, service in services(environment).items()}
    assert shape("staging") == shape("production")


def test_every_variable_named_in_the_process_code_is_accounted_for():
    """A new os.environ/env.get/envvar in the deployed packages fails here until it is in
    render.yaml or NOT_DECLARED (WHEELS_PGDATA: the embedded cluster, only without a URL)."""
    named = set()
    for package in ("sender", "web", "wheels_core", "wheels_jobs"):
        for path in Path(PROJECT_ROOT, package).glob("*.py"):
            named |= set(re.findall(r'(?:environ\.get\(|environ\[|env\.get\(|env\[|envvar=)"([A-Z][A-Z0-9_]+)"',
                                    path.read_text()))
    known = worker_reads() | web_reads() | {"WHEELS_PGDATA"}
    assert named and named - known == set()
