"""PostgreSQL for the test suite: the machine's server on 127.0.0.1:5432 when it answers, else a throwaway cluster
started from the installed server binaries (and stopped at exit). The schema is migrated once per session into a
template database (as the owner), and every test gets its own `CREATE DATABASE … TEMPLATE` copy, reached as the
application role `harmonia_app` — not a superuser, so row-level security applies in every test."""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator

import psycopg

ADMIN_USER = "postgres"
_started: dict[str, str] = {}


def _answers(port: int) -> bool:
    try:
        with psycopg.connect(f"host=127.0.0.1 port={port} user={ADMIN_USER} dbname=postgres", connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_throwaway() -> int | None:
    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not binaries:
        return None
    bindir = os.path.dirname(binaries[-1])
    data = tempfile.mkdtemp(prefix="harmonia-pg-")
    port = _free_port()
    run_as: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        shutil.chown(data, "postgres", "postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    subprocess.run([*run_as, f"{bindir}/initdb", "-D", data, "-A", "trust", "-U", ADMIN_USER], check=True,
                   capture_output=True)  # fmt: skip
    subprocess.run([*run_as, f"{bindir}/pg_ctl", "-D", data, "-w", "-l", f"{data}/log", "-o",
                    f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off", "start"], check=True,
                   capture_output=True)  # fmt: skip
    _started["data"] = data

    def stop() -> None:
        subprocess.run([*run_as, f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(data, ignore_errors=True)

    atexit.register(stop)
    return port


def server_port() -> int | None:
    """A PostgreSQL port to use, or None when no server can be had on this machine."""
    if "port" in _started:
        return int(_started["port"])
    port = 5432 if _answers(5432) else _start_throwaway()
    if port is not None:
        _started["port"] = str(port)
    return port


def admin(port: int, sql: str) -> None:
    with psycopg.connect(f"host=127.0.0.1 port={port} user={ADMIN_USER} dbname=postgres", autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


def new_database_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


@contextlib.contextmanager
def cluster_lock() -> Iterator[None]:
    """Serialise work on cluster-wide objects (the application role) between pytest-xdist workers: two first
    migrations racing on a fresh cluster would both try to create the role."""
    with open(os.path.join(tempfile.gettempdir(), "harmonia-tests-pg.lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
