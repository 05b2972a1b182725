"""The local form receiver: the development endpoint that `invoke serve` runs on loopback.

It does what a production form service does for this site, no more: accept the form's post (CORS,
no credentials), keep one copy of each ciphertext, and store only the ciphertext (the JWE) with its
id and time in a git-ignored folder. A second, different ciphertext under a `submission_id` already
stored is kept too (up to MAX_VERSIONS), never dropped: the staff tools decide whether it is the same
submission sent again or a different one, and warn about the latter. It never sees what the visitor typed, and logs only the method,
path and status. Production uses an external HTTPS service (docs/intake-form.md).
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import logging
import os
import re
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from .readers import JWE_ALG, JWE_ENC, JWE_PATTERN, DecryptionError, jwe_header

logger = logging.getLogger(__name__)
LOG_PREFIX = "[intake_form]"

MAX_BODY_BYTES = 256 * 1024
MAX_VERSIONS = 10
_SUBMISSION_ID = re.compile(r"^[A-Za-z0-9-]{8,64}$")
_FORM_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
_FORM_TYPE = "application/x-www-form-urlencoded"


class ReceiverServer(ThreadingHTTPServer):
    """A threaded HTTP(S) server that stores intake posts in `store_dir`.

    `allowed_origins` lists the sites whose pages may post ("*": any). Test knobs: `fail_next`
    answers 503 to that many posts; `delay` waits that many seconds before answering a post;
    `record` keeps each post's path, headers and body in `requests` (ciphertext only: the browser
    sends nothing else).
    """

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        store_dir: Path,
        *,
        path: str = "/submit",
        allowed_origins: tuple[str, ...] = ("*",),
        ssl_context: ssl.SSLContext | None = None,
        fail_next: int = 0,
        delay: float = 0.0,
        record: bool = False,
    ):
        host = address[0]
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__(address, ReceiverHandler)
        self.store_dir = Path(store_dir)
        self.path = path
        self.allowed_origins = allowed_origins
        self.ssl_context = ssl_context
        self.fail_next = fail_next
        self.delay = delay
        self.record = record
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self.store_dir.mkdir(parents=True, exist_ok=True, mode=0o700)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        scheme = "https" if self.ssl_context else "http"
        shown = f"[{host}]" if ":" in host else host
        return f"{scheme}://{shown}:{port}{self.path}"

    def finish_request(self, request, client_address) -> None:
        # TLS handshakes happen here, in the request's own thread, so a slow client cannot hold up
        # the accept loop.
        if self.ssl_context is None:
            super().finish_request(request, client_address)
            return
        with self.ssl_context.wrap_socket(request, server_side=True) as tls:
            super().finish_request(tls, client_address)

    def handle_error(self, request, client_address) -> None:
        # Browsers open and drop spare connections (and TLS handshakes fail on untrusted test
        # certificates): nothing for the console.
        logger.info("%s receiver: a connection from %s failed", LOG_PREFIX, client_address[0])

    def take_failure(self) -> bool:
        with self.lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                return True
            return False

    def stored(self) -> list[dict]:
        """The stored submissions (id, form, time, JWE), oldest first."""
        records = [json.loads(p.read_text("utf-8")) for p in self.store_dir.glob("*.json")]
        return sorted(records, key=lambda r: r["received_at"])

    def store(self, submission_id: str, form: str, jwe: str) -> str:
        """Keep one post: "stored", "version" (another ciphertext under a stored id), "duplicate"
        (this very ciphertext was stored before) or "full" (MAX_VERSIONS under this id)."""
        record = {
            "submission_id": submission_id,
            "form": form,
            "received_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds"),
            "jwe": jwe,
        }
        with self.lock:
            for number in range(1, MAX_VERSIONS + 1):
                name = f"{submission_id}.json" if number == 1 else f"{submission_id}.{number}.json"
                target = self.store_dir / name
                try:
                    # O_EXCL makes "already stored?" and "store" one step, even for two posts.
                    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                except FileExistsError:
                    if json.loads(target.read_text("utf-8")).get("jwe") == jwe:
                        return "duplicate"
                    continue
                with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                    json.dump(record, handle)
                return "stored" if number == 1 else "version"
        return "full"


class ReceiverHandler(BaseHTTPRequestHandler):
    server: ReceiverServer
    server_version = "intake-receiver"
    sys_version = ""
    protocol_version = "HTTP/1.1"

    # ------------------------------------------------------------ responses

    def _origin_allowed(self) -> bool:
        allowed = self.server.allowed_origins
        return "*" in allowed or self.headers.get("Origin", "") in allowed

    def _cors_headers(self) -> None:
        if "*" in self.server.allowed_origins:
            self.send_header("Access-Control-Allow-Origin", "*")
        elif self._origin_allowed():
            self.send_header("Access-Control-Allow-Origin", self.headers["Origin"])
        self.send_header("Vary", "Origin")

    def _answer(self, status: int, message: str, extra: dict[str, str] | None = None) -> None:
        body = json.dumps({"status": message}).encode("utf-8")
        self.send_response(status)
        self._cors_headers()
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the base class's name)
        # The request line holds only the path; bodies are never logged.
        logger.info("%s receiver: %s", LOG_PREFIX, format % args)

    # ------------------------------------------------------------ methods

    def do_OPTIONS(self) -> None:
        self.send_response(204)
        self._cors_headers()
        self.send_header("Access-Control-Allow-Methods", "POST, OPTIONS")
        self.send_header("Access-Control-Allow-Headers", "Content-Type, Accept")
        self.send_header("Access-Control-Max-Age", "600")
        if (
            self._origin_allowed()
            and self.headers.get("Access-Control-Request-Private-Network") == "true"
        ):
            self.send_header("Access-Control-Allow-Private-Network", "true")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        if urlsplit(self.path).path == "/":
            self._answer(200, "the intake receiver is running")
        else:
            self._answer(404, "not found")

    def do_POST(self) -> None:
        length_text = self.headers.get("Content-Length", "")
        length = int(length_text) if length_text.isdigit() else -1
        if urlsplit(self.path).path != self.server.path:
            self._answer(404, "not found")
            self.close_connection = True
            return
        if length < 0:
            self._answer(411, "a Content-Length is required")
            self.close_connection = True
            return
        if length > MAX_BODY_BYTES:
            self._answer(413, "too large")
            self.close_connection = True
            return
        body = self.rfile.read(length)
        if self.server.record:
            with self.server.lock:
                self.server.requests.append(
                    {
                        "method": "POST",
                        "path": self.path,
                        "headers": dict(self.headers.items()),
                        "body": body,
                    }
                )
        if not self._origin_allowed():
            # A simple cross-origin post is processed before CORS hides the answer: refuse it here,
            # so that other sites open in the browser cannot fill the store.
            self._answer(403, "this origin may not post here")
            return
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type != _FORM_TYPE:
            self._answer(415, f"send {_FORM_TYPE}")
            return
        problem, fields = self._read_fields(body)
        if problem:
            self._answer(400, problem)
            return
        if self.server.delay:
            time.sleep(self.server.delay)
        if self.server.take_failure():
            self._answer(503, "unavailable (test)", {"Retry-After": "1"})
            return
        outcome = self.server.store(fields["submission_id"], fields["form"], fields["jwe"])
        if outcome in ("stored", "version"):
            logger.info("%s receiver: stored submission %s", LOG_PREFIX, fields["submission_id"])
            self._answer(201, "stored" if outcome == "stored" else "stored as another version")
        elif outcome == "duplicate":
            self._answer(409, "already stored")
        else:
            self._answer(429, "too many versions of this submission_id")

    def _read_fields(self, body: bytes) -> tuple[str, dict[str, str]]:
        try:
            parsed = parse_qs(body.decode("ascii"), strict_parsing=True, max_num_fields=10)
        except (UnicodeDecodeError, ValueError):
            return "the body is not a form post", {}
        fields = {key: values[0] for key, values in parsed.items() if len(values) == 1}
        if set(fields) != {"form", "submission_id", "jwe"}:
            return "expected exactly the fields form, submission_id and jwe", {}
        if not _FORM_NAME.match(fields["form"]):
            return "bad form name", {}
        if not _SUBMISSION_ID.match(fields["submission_id"]):
            return "bad submission_id", {}
        match = JWE_PATTERN.fullmatch(fields["jwe"])
        if match is None:
            return "jwe is not a compact JWE", {}
        try:
            header = jwe_header(fields["jwe"])
        except DecryptionError:
            return "unreadable JWE header", {}
        if header.alg != JWE_ALG or header.enc != JWE_ENC:
            return f"expected {JWE_ALG} and {JWE_ENC}", {}
        if header.sid != fields["submission_id"]:
            return "the JWE is for another submission_id", {}
        return "", fields


def _require_loopback(host: str) -> None:
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"the development receiver listens on loopback only, not {host!r}")


def make_receiver(
    host: str = "127.0.0.1",
    port: int = 8788,
    store_dir: Path = Path("var/intake-submissions"),
    certfile: Path | None = None,
    keyfile: Path | None = None,
    **knobs,
) -> ReceiverServer:
    """A receiver bound to HOST:PORT (port 0 picks a free one), not yet serving.

    With CERTFILE (and KEYFILE, unless the certificate file holds the key too) it speaks HTTPS.
    `knobs` are ReceiverServer's keyword arguments (path, allowed_origins, fail_next, delay,
    record).
    """
    _require_loopback(host)
    if certfile is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(certfile), str(keyfile) if keyfile else None)
        knobs.setdefault("ssl_context", context)
    return ReceiverServer((host, port), Path(store_dir), **knobs)


def start_receiver(*args, **kwargs) -> ReceiverServer:
    """make_receiver(...), serving in a daemon thread (stop: .shutdown(), then .server_close())."""
    server = make_receiver(*args, **kwargs)
    threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name="intake-receiver",
        daemon=True,
    ).start()
    return server
