"""Serve a built site with Cloudflare Pages' own local runtime (`wrangler pages dev`, workerd).

The tests and `invoke audit` check the site as the host serves it: `_headers` and the host's own
defaults, 404.html with status 404, clean-URL redirects, compression. wrangler is pinned in
package-lock.json (`npm ci` installs it; scripts/dev does it) and runs with no network.

    with wrangler_pages_dev(Path("output"), port) as base_url:
        ...  # base_url is "http://127.0.0.1:PORT"
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WRANGLER = ROOT / "node_modules" / ".bin" / "wrangler"
# Given explicitly: without it wrangler uses today's date, which its bundled workerd may refuse.
COMPATIBILITY_DATE = "2026-05-01"
START_TIMEOUT = 60  # seconds; it starts in about 10 s on a busy 2-core machine


class HostError(RuntimeError):
    """wrangler is missing, or did not start."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def raise_priority(pid: int, nice: int) -> bool:
    """Run the session `pid` leads at niceness `nice` (negative: ahead of other work); False if refused.

    Linux schedules each session (an "autogroup") as one unit: a process's own nice value only
    counts against processes of its session, so a server or browser started in a session of its own
    needs the session's weight raised, and the processes' own for kernels without autogroups.
    Lowering niceness needs root (CAP_SYS_NICE); without it everything runs as before.
    """
    raised = False
    autogroup = Path(f"/proc/{pid}/autogroup")
    with contextlib.suppress(OSError):
        autogroup.write_text(str(nice), encoding="ascii")
        raised = True
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PGRP, pid, nice)
        raised = True
    return raised


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True  # any HTTP answer means the server is up
    except OSError:
        return False


@contextlib.contextmanager
def wrangler_pages_dev(
    directory: Path, port: int | None = None, nice: int | None = None
) -> Iterator[str]:
    """Serve `directory` with `wrangler pages dev` on 127.0.0.1:`port` (a free one if None).

    wrangler runs in its own process group (it starts workerd as a child) with telemetry off and
    a throwaway HOME for its config and cache; the whole group is stopped afterwards. With `nice`,
    the group runs at that niceness where allowed (raise_priority), once workerd has started.
    """
    if not WRANGLER.exists():
        raise HostError("wrangler is not installed: run `npm ci` (scripts/dev does it)")
    port = port or free_port()
    base_url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="wrangler-home-") as home:
        env = {
            **os.environ,
            "HOME": home,
            "XDG_CONFIG_HOME": str(Path(home) / ".config"),
            "WRANGLER_SEND_METRICS": "false",
            "WRANGLER_LOG_PATH": str(Path(home) / "logs"),
            "CI": "true",  # no interactive prompts
        }
        args = [str(WRANGLER), "pages", "dev", str(directory), "--ip", "127.0.0.1"]
        args += ["--port", str(port), "--compatibility-date", COMPATIBILITY_DATE]
        log = Path(home) / "wrangler.out"
        with log.open("wb") as out:
            process = subprocess.Popen(
                args,
                cwd=home,  # no wrangler.toml of ours to pick up
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while not answers(base_url + "/"):
                if process.poll() is not None or time.monotonic() > deadline:
                    output = log.read_text(encoding="utf-8", errors="replace")
                    raise HostError(f"wrangler pages dev did not start on {base_url}:\n{output}")
                time.sleep(0.25)
            if nice is not None:
                raise_priority(process.pid, nice)
            yield base_url
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            # workerd, its child, is in the same group: make sure nothing of it outlives us.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
