"""The preview server behind `invoke serve`: serves output/ and reloads open pages after a rebuild.

A file watcher (watchfiles, which Pelican itself depends on) rebuilds the site when a source changes;
open pages then reload through a Server-Sent Events stream. The reload script is a file the server
injects into the HTML it serves (never an inline script, so the site's Content-Security-Policy holds, and
nothing of it reaches the built site). Only for local use: it binds to loopback.
"""

from __future__ import annotations

import http.server
import re
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

RELOAD_SCRIPT_PATH = "/__reload.js"
RELOAD_EVENTS_PATH = "/__reload"
RELOAD_SCRIPT = (
    b"""new EventSource("/__reload").addEventListener("reload", () => location.reload());\n"""
)
INJECTED_TAG = f'<script src="{RELOAD_SCRIPT_PATH}" defer></script>'.encode()
# Reading pages forbid scripts altogether (no script-src, default-src 'none'); the preview lets its
# own reload script run. The built files keep the strict policy.
_CSP_META = re.compile(rb'(http-equiv="Content-Security-Policy" content=")([^"]*)(")')


def allow_reload_script(page: bytes) -> bytes:
    def add_script_src(match: re.Match) -> bytes:
        policy = match.group(2)
        if b"script-src" in policy:
            return match.group(0)
        return match.group(1) + policy + b"; script-src &#39;self&#39;" + match.group(3)

    page = _CSP_META.sub(add_script_src, page, count=1)
    return page.replace(b"</head>", INJECTED_TAG + b"</head>", 1)


class Reloader:
    """Counts finished builds; event streams wait for the count to change."""

    def __init__(self) -> None:
        self.generation = 0
        self._changed = threading.Condition()

    def built(self) -> None:
        with self._changed:
            self.generation += 1
            self._changed.notify_all()

    def wait_for_build(self, seen: int, timeout: float) -> int:
        with self._changed:
            self._changed.wait_for(lambda: self.generation != seen, timeout=timeout)
            return self.generation


def make_handler(root: Path, reloader: Reloader) -> type[http.server.SimpleHTTPRequestHandler]:
    class PreviewHandler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, format: str, *args) -> None:  # noqa: A002 (the stdlib's name)
            pass  # the terminal is for build messages

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == RELOAD_SCRIPT_PATH:
                self._send(200, "text/javascript", RELOAD_SCRIPT)
            elif path == RELOAD_EVENTS_PATH:
                self._stream_reloads()
            else:
                self._send_page(path)

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def _send_page(self, path: str) -> None:
            file = Path(self.translate_path(path))
            if file.is_dir():
                if not path.endswith("/"):
                    self.send_response(301)
                    self.send_header("Location", path + "/")
                    self.end_headers()
                    return
                file = file / "index.html"
            status = 200
            if not file.is_file():
                status, file = 404, root / "404.html"
                if not file.is_file():
                    self.send_error(404)
                    return
            body = file.read_bytes()
            content_type = self.guess_type(str(file))
            if file.suffix == ".html":
                body = allow_reload_script(body)
                content_type = "text/html; charset=utf-8"
            self._send(status, content_type, body)

        def _stream_reloads(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            seen = reloader.generation
            try:
                while True:
                    now = reloader.wait_for_build(seen, timeout=15)
                    if now != seen:
                        self.wfile.write(b"event: reload\ndata: \n\n")
                        seen = now
                    else:
                        self.wfile.write(b": still here\n\n")
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                return

    return PreviewHandler


def watch_and_rebuild(
    paths: Iterable[Path], build: Callable[[], object], reloader: Reloader
) -> None:
    from watchfiles import watch

    for _changes in watch(*paths, debounce=50, step=25, rust_timeout=0):
        build()
        reloader.built()


def serve(
    root: Path,
    build: Callable[[], object],
    watched: Iterable[Path],
    host: str = "127.0.0.1",
    port: int = 8000,
) -> None:
    """Build once, then serve `root` on host:port, rebuilding and reloading on every change."""
    build()
    reloader = Reloader()
    watcher = threading.Thread(
        target=watch_and_rebuild, args=(list(watched), build, reloader), daemon=True
    )
    watcher.start()
    server = http.server.ThreadingHTTPServer((host, port), make_handler(root, reloader))
    server.daemon_threads = True
    print(f"Preview: http://{host}:{port}/   (Ctrl+C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
