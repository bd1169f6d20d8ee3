"""Real database engines for tests and agreement scripts: a throwaway PostgreSQL server and a local
SparkSession. No mocks: the SQL nqa writes is only checked by engines that run it.

PostgreSQL comes from Debian's packages (`/usr/lib/postgresql/<version>/bin`: initdb, pg_ctl), with
its data directory and unix socket in a fresh temporary directory, on a free TCP port of 127.0.0.1,
`trust` authentication (only this machine's users can reach it) and no fsync (a test server loses
nothing worth keeping). PostgreSQL refuses to run as root, so as root the server runs as Debian's
`postgres` system user (`runuser`); its temporary directory is handed to that user.

Spark runs in local mode with pyspark from PyPI (pyspark 4.x needs Java 17 or newer; Debian's
openjdk-17-jre-headless): two shuffle partitions, no UI, a warehouse directory in a
temporary directory, quiet logs.

    with postgres_server() as pg:        # pg.url: postgresql://nqa@127.0.0.1:PORT/nqa
        ...
    with spark_session() as spark:
        ...

`EngineUnavailable` says why an engine cannot start (binaries, Java or pyspark missing); tests
skip on it locally and fail on it in CI.
"""
from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PG_USER = "nqa"  # the server's superuser, created by initdb
PG_DATABASE = "nqa"
PG_SYSTEM_USER = "postgres"  # Debian's system user the server runs as when we are root


class EngineUnavailable(RuntimeError):
    """An engine cannot start here; the message says what is missing and how to install it."""


# =============================================================================================
# PostgreSQL
# =============================================================================================


@dataclass(frozen=True)
class PostgresServer:
    """A running throwaway server: connect with `url` (psycopg) or by its socket directory."""

    host: str
    port: int
    user: str
    database: str
    socket_dir: str
    data_dir: str
    bin_dir: str
    run_as: str | None  # the system user the server runs as (None: this process's user)

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.database}"

    def stop(self) -> None:
        """Stop the server (fast shutdown: open connections are cut)."""
        _run_pg(self, ["pg_ctl", "-D", self.data_dir, "-m", "fast", "-w", "stop"], check=False)

    def start(self) -> None:
        """Start the server again after `stop` (same data, same port)."""
        _start(self)


def postgres_bin_dir() -> str:
    """The newest Debian PostgreSQL bin directory ($NQA_PG_BIN overrides)."""
    if os.environ.get("NQA_PG_BIN"):
        return os.environ["NQA_PG_BIN"]
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[-3]))
    if not found:
        raise EngineUnavailable("PostgreSQL binaries not found under /usr/lib/postgresql/*/bin "
                                "(apt-get install postgresql, or set NQA_PG_BIN)")
    return str(Path(found[-1]).parent)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_pg(server: PostgresServer, argv: list[str], check: bool = True) -> subprocess.CompletedProcess:
    cmd = [os.path.join(server.bin_dir, argv[0]), *argv[1:]]
    if server.run_as is not None:
        cmd = ["runuser", "-u", server.run_as, "--", *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        log = Path(server.data_dir).parent / "server.log"
        tail = log.read_text(errors="replace")[-2000:] if log.is_file() else ""
        raise EngineUnavailable(f"{' '.join(argv[:2])} failed ({proc.returncode}): "
                                f"{proc.stderr.strip() or proc.stdout.strip()}\n{tail}")
    return proc


def _start(server: PostgresServer) -> None:
    options = (f"-p {server.port} -k {server.socket_dir} -c listen_addresses={server.host} "
               "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=40")
    log = str(Path(server.data_dir).parent / "server.log")
    _run_pg(server, ["pg_ctl", "-D", server.data_dir, "-o", options, "-l", log, "-w", "-t", "60", "start"])


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """A fresh PostgreSQL server with an empty database `nqa`, stopped and deleted on exit."""
    bin_dir = postgres_bin_dir()
    run_as = None
    if os.geteuid() == 0:  # postgres will not run as root
        try:
            pw = pwd.getpwnam(PG_SYSTEM_USER)
        except KeyError as e:
            raise EngineUnavailable(f"running as root and there is no {PG_SYSTEM_USER!r} system user to run "
                                    "PostgreSQL as (Debian's postgresql package creates it)") from e
        if shutil.which("runuser") is None:
            raise EngineUnavailable("running as root and runuser (util-linux) is missing")
        run_as = PG_SYSTEM_USER
    root = tempfile.mkdtemp(prefix="nqa-pg-")
    try:
        if run_as is not None:
            os.chown(root, pw.pw_uid, pw.pw_gid)
        server = PostgresServer("127.0.0.1", free_port(), PG_USER, PG_DATABASE, root,
                                os.path.join(root, "data"), bin_dir, run_as)
        _run_pg(server, ["initdb", "-D", server.data_dir, "-U", PG_USER, "--auth=trust", "--encoding=UTF8",
                         "--locale=C.UTF-8", "--no-sync"])
        _start(server)
        try:
            _run_pg(server, ["createdb", "-h", server.socket_dir, "-p", str(server.port), "-U", PG_USER,
                             PG_DATABASE])
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def postgres_connect(url: str, autocommit: bool = True) -> Any:
    """A psycopg (3) connection to `url`."""
    try:
        import psycopg
    except ImportError as e:
        raise EngineUnavailable('psycopg is not installed (pip install -e ".[engines]")') from e
    return psycopg.connect(url, autocommit=autocommit)


# =============================================================================================
# Spark
# =============================================================================================


def java_home() -> str | None:
    """$JAVA_HOME, else Debian's Java 17 when installed, else None (java on PATH)."""
    if os.environ.get("JAVA_HOME"):
        return os.environ["JAVA_HOME"]
    for candidate in sorted(glob.glob("/usr/lib/jvm/java-17-openjdk-*")):
        if os.path.isfile(os.path.join(candidate, "bin", "java")):
            return candidate
    return None


@contextlib.contextmanager
def spark_session(cores: int = 2) -> Iterator[Any]:
    """A local SparkSession (`local[cores]`), stopped on exit; a temporary warehouse directory."""
    # pyspark 4.3 warns (on import and on first use) that it does not yet fully support pandas 3;
    # nqa hands Spark no pandas objects in its SQL path
    warnings.filterwarnings("ignore", message=".*PySpark does not yet fully support pandas", category=FutureWarning)
    try:
        from pyspark.sql import SparkSession
    except ImportError as e:
        raise EngineUnavailable('pyspark is not installed (pip install -e ".[engines]")') from e
    home = java_home()
    if home is not None:
        os.environ.setdefault("JAVA_HOME", home)
    elif shutil.which("java") is None:
        raise EngineUnavailable("no Java for Spark (apt-get install openjdk-17-jre-headless)")
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", shutil.which("python3") or "python3")
    root = tempfile.mkdtemp(prefix="nqa-spark-")
    quiet = "-Dlog4j2.level=ERROR -Dlog4j.rootLogger=ERROR"
    start = time.perf_counter()
    try:
        spark = (SparkSession.builder.master(f"local[{cores}]").appName("nqa-tests")
                 .config("spark.ui.enabled", "false")
                 .config("spark.ui.showConsoleProgress", "false")
                 .config("spark.sql.shuffle.partitions", str(cores))
                 .config("spark.default.parallelism", str(cores))
                 .config("spark.sql.warehouse.dir", os.path.join(root, "warehouse"))
                 .config("spark.driver.extraJavaOptions", quiet)
                 .config("spark.driver.memory", "1g")
                 .getOrCreate())
    except Exception as e:  # a JVM that does not start: Java missing or too old
        shutil.rmtree(root, ignore_errors=True)
        raise EngineUnavailable(f"Spark did not start ({type(e).__name__}: {e}); pyspark 4 needs Java 17+") from e
    spark.sparkContext.setLogLevel("ERROR")
    spark.conf.set("nqa.started_in_s", f"{time.perf_counter() - start:.1f}")
    try:
        yield spark
    finally:
        spark.stop()
        shutil.rmtree(root, ignore_errors=True)
