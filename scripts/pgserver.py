"""A throwaway PostgreSQL server on loopback, from Debian's `postgresql` package, for the receiver's
tests and benchmark.

initdb and pg_ctl refuse to run as root, so as root they run as the `postgres` user (runuser); the
data folder is a new temporary folder that user owns. The server listens on 127.0.0.1 only, with
trust authentication for the `postgres` user (loopback, test data only), and fsync left on, so a
committed row really is on disk.

    with PostgresServer() as server:
        url = server.create_database("receiver_test")  # postgresql://postgres@127.0.0.1:PORT/receiver_test
        server.stop()   # a database outage
        server.start()
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
from pathlib import Path


class PostgresError(RuntimeError):
    """PostgreSQL is not installed, or did not start or stop."""


def binaries() -> Path:
    """The newest installed server's bin folder (/usr/lib/postgresql/N/bin)."""
    found = sorted(
        (Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin") if Path(p, "initdb").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if not found:
        raise PostgresError(
            "PostgreSQL's server is not installed: `apt-get install postgresql` (scripts/dev test "
            "installs it)"
        )
    return found[-1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PostgresServer:
    def __init__(self, port: int | None = None):
        self.bin = binaries()
        self.port = port or free_port()
        self.as_root = os.geteuid() == 0
        self.folder = Path(tempfile.mkdtemp(prefix="receiver-pg-"))
        self.data = self.folder / "data"
        self.log = self.folder / "server.log"
        if self.as_root:
            owner = pwd.getpwnam("postgres")
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",  # initdb's own files only: the server itself syncs every commit
        )
        self.running = False

    def _run(self, program: str, *args: str) -> subprocess.CompletedProcess:
        command = [str(self.bin / program), *args]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise PostgresError(f"{program} failed:\n{result.stdout}\n{result.stderr}")
        return result

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.folder}"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: "fast" (clients are disconnected) or "immediate" (like a crash)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")
        self.running = False

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url.rsplit("/", 1)[0] + f"/{name}"

    def close(self) -> None:
        if self.running:
            with contextlib.suppress(PostgresError):
                self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        self.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.close()
