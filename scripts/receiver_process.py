"""Run the form receiver (`python -m receiver serve`) as a process of its own, as it runs when
deployed: for `invoke serve`, the tests and the benchmark, which also kill and restart it.

    with ReceiverProcess(db_url, origins=["http://127.0.0.1:8000"], key_ids=[kid]) as receiver:
        receiver.url  # "http://127.0.0.1:PORT"; with certfile= it speaks HTTPS
"""

from __future__ import annotations

import contextlib
import os
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path

from pgserver import free_port

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 30


class ReceiverError(RuntimeError):
    """The receiver did not start."""


def serve_command(
    database_url: str,
    port: int,
    origins: Iterable[str],
    key_ids: Iterable[str],
    certfile: Path | None = None,
) -> list[str]:
    """`python -m receiver serve` on 127.0.0.1:`port` with these settings."""
    command = [sys.executable, "-m", "receiver", "serve", "--db", database_url]
    command += ["--port", str(port)]
    for origin in origins:
        command += ["--origin", origin]
    for kid in key_ids:
        command += ["--key-id", kid]
    if certfile:
        command += ["--certfile", str(certfile)]
    return command


class ReceiverProcess:
    def __init__(
        self,
        database_url: str,
        *,
        origins: Iterable[str],
        key_ids: Iterable[str],
        port: int | None = None,
        certfile: Path | None = None,
        environment: Mapping[str, str] | None = None,
        extra_args: Iterable[str] = (),
        log: Path | None = None,
    ):
        self.port = port or free_port()
        self.certfile = certfile
        scheme = "https" if certfile else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self.command = serve_command(database_url, self.port, origins, key_ids, certfile)
        self.command += list(extra_args)
        self.environment = {**os.environ, **(environment or {})}
        self.cwd = ROOT
        self._own_log = log is None
        self.log = log or Path(tempfile.mkstemp(prefix="receiver-", suffix=".log")[1])
        self.process: subprocess.Popen | None = None

    def start(self) -> ReceiverProcess:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.command,
                cwd=self.cwd,
                env=self.environment,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise ReceiverError(f"the receiver did not start:\n{self.log_text()}")
            time.sleep(0.1)
        return self

    def _answers(self) -> bool:
        context = ssl._create_unverified_context() if self.certfile else None  # only "is it up?"
        try:
            with urllib.request.urlopen(self.url + "/healthz", timeout=2, context=context):
                return True
        except urllib.error.HTTPError:
            return True  # 503 (database down) is an answer too
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL: the process ends at once, as in a crash."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def __enter__(self) -> ReceiverProcess:
        return self.start()

    def __exit__(self, *_exc) -> None:
        self.stop()
        if self._own_log:
            self.log.unlink(missing_ok=True)
