"""The project-local PostgreSQL cluster used when no DATABASE_URL is given.

initdb + pg_ctl on a data folder (default `.pgdata/` in the project), listening on
a unix socket inside that folder and on a loopback TCP port picked at initdb time,
with pg_cron preloaded and running its jobs through background workers (so it
needs no libpq connection, password or host setting). PostgreSQL refuses to run
as root: as root the server runs as the `postgres` OS user that Debian's package
creates; as anyone else it runs as that user.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from wheels_core.errors import ClusterError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = PROJECT_ROOT / ".pgdata"
SUPERUSER = "postgres"
SERVER_OS_USER_WHEN_ROOT = "postgres"
START_TIMEOUT_S = 60


def find_bin_dir() -> Path:
    """The newest PostgreSQL server binaries: pg_config's, else Debian's layout."""
    pg_config = shutil.which("pg_config")
    candidates = []
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        candidates.append(Path(out.stdout.strip()))
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True)
    candidates.extend(debian)
    for bin_dir in candidates:
        if (bin_dir / "initdb").exists() and (bin_dir / "pg_ctl").exists():
            return bin_dir
    raise ClusterError("no PostgreSQL server binaries found (initdb, pg_ctl): run scripts/setup.sh")


def free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Cluster:
    """One local cluster; `database` is the app database and pg_cron's home."""

    data_dir: Path = DEFAULT_DATA_DIR
    database: str = "wheels"
    settings: dict[str, str] = field(default_factory=dict)
    superuser: str = SUPERUSER
    # Another PostgreSQL tree (tests: a copy with pgmq 1.4.4's extension files); default: the newest installed.
    bin_dir: Path | None = None

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).resolve()

    # -- state -------------------------------------------------------------

    @property
    def initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    @property
    def running(self) -> bool:
        if not self.initialized:
            return False
        return self._pg_ctl("status", check=False).returncode == 0

    @property
    def port(self) -> int:
        conf = (self.data_dir / "postgresql.conf").read_text()
        ports = re.findall(r"^port = (\d+)", conf, flags=re.M)
        if not ports:
            raise ClusterError(f"no port in {self.data_dir}/postgresql.conf")
        return int(ports[-1])

    def url(self, database: str | None = None) -> str:
        return f"postgresql://{self.superuser}@127.0.0.1:{self.port}/{database or self.database}"

    # -- lifecycle ---------------------------------------------------------

    def ensure_running(self) -> str:
        """Create and start the cluster as needed; return the app database URL."""
        if not self.initialized:
            self.init()
        if not self.running:
            self.start()
        self._create_database()
        return self.url()

    def init(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            user = self._server_os_user()
            os.chown(self.data_dir, user.pw_uid, user.pw_gid)
            if self._run(["test", "-w", str(self.data_dir)], what="check", check=False).returncode:
                raise ClusterError(
                    f"the OS user '{user.pw_name}' cannot reach {self.data_dir}: "
                    "make its parent folders world-searchable (chmod o+x) or set WHEELS_PGDATA elsewhere"
                )
        self.data_dir.chmod(0o700)
        self._run(
            [self._bin("initdb"), "-D", str(self.data_dir), "-U", self.superuser,
             "--auth=trust", "--encoding=UTF8", "--no-locale"],
            what="initdb",
        )
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(free_loopback_port()),
            "unix_socket_directories": f"'{self.data_dir}'",
            "shared_preload_libraries": "'pg_cron'",
            "cron.database_name": f"'{self.database}'",
            # Jobs run in background workers: no libpq connection, so no host or password to set.
            "cron.use_background_workers": "on",
            "max_worker_processes": "32",
            **self.settings,
        }
        with open(self.data_dir / "postgresql.conf", "a") as conf:
            conf.write("\n# wheels-jobs embedded cluster\n")
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())

    def start(self) -> None:
        log = self.data_dir / "server.log"
        self._pg_ctl("start", "-w", "-t", str(START_TIMEOUT_S), "-l", str(log), what="start the server")

    def stop(self) -> None:
        if self.running:
            self._pg_ctl("stop", "-m", "fast", "-w", what="stop the server")

    def _create_database(self) -> None:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [self.database]).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{self.database}"')

    # -- processes ---------------------------------------------------------

    def _bin(self, name: str) -> str:
        return str((self.bin_dir or find_bin_dir()) / name)

    def _server_os_user(self) -> pwd.struct_passwd:
        try:
            return pwd.getpwnam(SERVER_OS_USER_WHEN_ROOT)
        except KeyError:
            raise ClusterError(
                f"running as root needs the '{SERVER_OS_USER_WHEN_ROOT}' OS user to own the server: "
                "install PostgreSQL with scripts/setup.sh"
            ) from None

    def _pg_ctl(self, *args: str, what: str = "pg_ctl", check: bool = True) -> subprocess.CompletedProcess:
        return self._run([self._bin("pg_ctl"), "-D", str(self.data_dir), *args], what=what, check=check)

    def _run(self, argv: list[str], what: str, check: bool = True) -> subprocess.CompletedProcess:
        if os.geteuid() == 0:
            argv = ["runuser", "-u", self._server_os_user().pw_name, "--", *argv]
        done = subprocess.run(argv, capture_output=True, text=True, cwd="/")
        if check and done.returncode != 0:
            detail = (done.stderr or done.stdout).strip().splitlines()
            log = self.data_dir / "server.log"
            if log.exists():
                detail += log.read_text(errors="replace").strip().splitlines()[-3:]
            raise ClusterError(f"could not {what} in {self.data_dir}: {' / '.join(detail[-4:]) or 'no output'}")
        return done


def embedded_cluster() -> Cluster:
    """The project-local cluster (data folder from WHEELS_PGDATA, default .pgdata/)."""
    return Cluster(Path(os.environ.get("WHEELS_PGDATA") or DEFAULT_DATA_DIR))


def resolve_url(url: str | None) -> str:
    """The URL given (--database-url or DATABASE_URL), else the embedded cluster, started on demand."""
    return url or embedded_cluster().ensure_running()
