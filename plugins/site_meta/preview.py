"""An emulation of the host on loopback: `_headers` applied, gzip, 404.html for misses.

The tests and `invoke audit` use the host's own runtime instead (`wrangler pages dev`: scripts/host.py
and the `wrangler_url` fixture). Only tests/test_intake_browser.py still uses this; delete it once that
module moves to `wrangler_url`.

    with serve(Path("output")) as base_url:
        ...  # base_url is "http://127.0.0.1:PORT"
"""

from __future__ import annotations

import contextlib
import gzip
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from .site_meta import HEADERS_FILE, headers_for, parse_headers_file

COMPRESSIBLE = {".html", ".css", ".js", ".svg", ".xml", ".txt", ".json"}


class SiteHandler(SimpleHTTPRequestHandler):
    """Static files with the site's `_headers`, gzip when asked, and a real 404 page."""

    def __init__(self, *args, directory: str, rules: list, **kwargs):
        self.rules = rules
        super().__init__(*args, directory=directory, **kwargs)

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass  # quiet: tests and the audit print their own results

    def do_GET(self):  # noqa: N802 (the base class's name)
        self.respond(head=False)

    def do_HEAD(self):  # noqa: N802
        self.respond(head=True)

    def respond(self, *, head: bool) -> None:
        path = unquote(urlsplit(self.path).path)
        root = Path(self.directory).resolve()
        target = (root / path.lstrip("/")).resolve()
        if root != target and root not in target.parents:
            target = root / "missing"
        if target.is_dir():
            if not path.endswith("/"):
                self.send_response(301)
                self.send_header("Location", path + "/")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            target = target / "index.html"
        status = 200
        if not target.is_file() or target.name == HEADERS_FILE:
            status, target = 404, root / "404.html"
        body = target.read_bytes() if target.is_file() else b"Not found"
        self.send_response(status)
        self.send_header("Content-Type", self.guess_type(str(target)))
        if target.suffix in COMPRESSIBLE and "gzip" in self.headers.get("Accept-Encoding", ""):
            body = gzip.compress(body, mtime=0)
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Vary", "Accept-Encoding")
        self.send_header("Cache-Control", "no-cache")
        for name, value in headers_for(self.rules, path):
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)


@contextlib.contextmanager
def serve(directory: Path, port: int = 0, leave_out: frozenset[str] = frozenset()) -> Iterator[str]:
    """Serve `directory` on 127.0.0.1 (any free port unless given) in a thread; yield its URL.

    `leave_out` names `_headers` headers not to send (see scripts/audit.py for why).
    """
    headers = Path(directory) / HEADERS_FILE
    rules = parse_headers_file(headers.read_text(encoding="utf-8")) if headers.is_file() else []
    rules = [
        (pattern, [(name, value) for name, value in pairs if name not in leave_out])
        for pattern, pairs in rules
    ]
    handler = partial(SiteHandler, directory=str(directory), rules=rules)
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
