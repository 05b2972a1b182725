"""The receiver's HTTP interface (Starlette): POST /submit, GET /healthz, GET /export.

    POST /submit   the form's post: 201 {"status": "stored", "received_at": …} once committed;
                   200 for the very same ciphertext again; 403 other origin; 413 too large;
                   415 not a form post; 400/422 not the form's fields or JWE; 429 rate limit;
                   503 the database did not answer within db_timeout (nothing stored)
    GET /healthz   200 when the database answers, else 503 (also at /health)
    GET /export    staff only (HTTP Basic): every stored row as one JSON file for the staff inbox

Each answer is JSON. Logs hold the method, path, status and latency of each request: never a body,
a submission id or an address.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import anyio
import anyio.to_thread
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import passwords
from .config import Settings
from .limits import RateLimiter, client_address
from .store import LATEST, POOL_SIZE, SchemaError, Store, StoreUnavailable, iso, now
from .wire import BadPost, read_post

logger = logging.getLogger("receiver")

FORM_TYPE = "application/x-www-form-urlencoded"
# Seconds a client is asked to wait after a 503 (the database is down or slow).
RETRY_AFTER_UNAVAILABLE = 10
# Export attempts: a minute per address, and a second in all (each costs an Argon2 check).
EXPORT_ATTEMPTS_PER_MINUTE = 10
EXPORT_ATTEMPTS_PER_SECOND = 5
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
}


def answer(status: int, content: dict | None = None, headers: dict[str, str] | None = None):
    body = b"" if content is None else json.dumps(content).encode("utf-8")
    return Response(
        body,
        status_code=status,
        headers={**SECURITY_HEADERS, **(headers or {})},
        media_type="application/json" if content is not None else None,
    )


class Receiver:
    """The endpoints, with the settings, store and rate limits they share."""

    def __init__(self, settings: Settings, store: Store):
        self.settings = settings
        self.store = store
        self.origins = frozenset(settings.allowed_origins)
        self.forms = frozenset(settings.forms)
        self.posts = RateLimiter(settings.client_rate, settings.global_rate)
        self.export_attempts = RateLimiter(EXPORT_ATTEMPTS_PER_MINUTE, EXPORT_ATTEMPTS_PER_SECOND)
        self.schema_ready = False
        self.started = False
        # Made inside the event loop (lifespan): anyio's primitives belong to one loop.
        self.db_threads: anyio.CapacityLimiter | None = None
        self.hash_threads: anyio.CapacityLimiter | None = None
        self.schema_lock: anyio.Lock | None = None

    # ------------------------------------------------------------ lifecycle

    @contextlib.asynccontextmanager
    async def lifespan(self, _app):
        self.db_threads = anyio.CapacityLimiter(POOL_SIZE)
        self.hash_threads = anyio.CapacityLimiter(2)
        self.schema_lock = anyio.Lock()
        logger.info("database %s", self.store.describe())
        try:
            await self._database(lambda: None)
        except StoreUnavailable:
            # Start anyway: posts get 503 and /healthz says so until the database answers. A
            # schema newer than this receiver's stops the start (SchemaError) instead.
            logger.warning("the database does not answer yet: posts get 503 until it does")
        self.started = True
        yield
        self.store.close()

    async def _database(self, call: Callable[..., Any], *args) -> Any:
        """`call(*args)` in a worker thread, after the schema is in place; StoreUnavailable when the
        database fails or all of it takes longer than db_timeout. A call still running then is
        left to finish on its own (its driver timeouts end it soon after): a row it commits late
        was answered 503, so the browser sends it again, and nothing is lost either way."""
        try:
            with anyio.fail_after(self.settings.db_timeout):
                if not self.schema_ready:
                    async with self.schema_lock:
                        if not self.schema_ready:
                            version = await self._in_thread(self.store.migrate)
                            logger.info("database schema version %d", version)
                            self.schema_ready = True
                return await self._in_thread(call, *args)
        except TimeoutError:
            raise StoreUnavailable("the database did not answer in time") from None
        except SchemaError as error:
            if not self.started:
                raise
            logger.error("%s", error)
            raise StoreUnavailable("the database's schema is newer than this receiver") from error
        except StoreUnavailable as error:
            logger.warning("database unavailable: %s", error)
            raise

    async def _in_thread(self, call: Callable[..., Any], *args) -> Any:
        return await anyio.to_thread.run_sync(
            call, *args, abandon_on_cancel=True, limiter=self.db_threads
        )

    def _client(self, request: Request) -> str:
        peer = request.client.host if request.client else None
        return client_address(peer, request.headers, self.settings.proxy_hops)

    # ------------------------------------------------------------ POST /submit

    def _cors(self, origin: str) -> dict[str, str]:
        return {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Expose-Headers": "Retry-After",
            "Vary": "Origin",
        }

    async def submit(self, request: Request) -> Response:
        origin = request.headers.get("origin", "")
        if request.method == "OPTIONS":
            return self._preflight(request, origin)
        if origin not in self.origins:
            # A simple cross-origin post is processed before CORS hides the answer: refuse it
            # here, so that another site open in a browser cannot fill the store.
            return answer(403, {"error": "this site may not post here"}, {"Vary": "Origin"})
        cors = self._cors(origin)
        wait = self.posts.admit(self._client(request))
        if wait:
            return answer(
                429,
                {"error": "too many posts: wait, then try again"},
                {**cors, "Retry-After": str(wait)},
            )
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != FORM_TYPE:
            return answer(415, {"error": f"send {FORM_TYPE}"}, cors)
        body = await self._body(request)
        if body is None:
            limit = self.settings.max_body_bytes
            return answer(
                413,
                {"error": f"the post is larger than {limit} bytes"},
                {**cors, "Connection": "close"},
            )
        try:
            post = read_post(body, forms=self.forms, key_ids=self.settings.key_ids)
        except BadPost as refused:
            return answer(refused.status, {"error": refused.reason}, cors)
        try:
            stored = await self._database(self.store.save, post, now())
        except StoreUnavailable:
            return answer(
                503,
                {"error": "the form service cannot store posts just now: nothing was stored"},
                {**cors, "Retry-After": str(RETRY_AFTER_UNAVAILABLE)},
            )
        status = 200 if stored.outcome == "already stored" else 201
        return answer(
            status, {"status": stored.outcome, "received_at": iso(stored.received_at)}, cors
        )

    async def _body(self, request: Request) -> bytes | None:
        """The body, or None as soon as it is over the limit (a 10 MB post is never read whole)."""
        limit = self.settings.max_body_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return None
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                return None
        return bytes(body)

    def _preflight(self, request: Request, origin: str) -> Response:
        if origin not in self.origins:
            return answer(204, None, {"Vary": "Origin"})
        headers = {
            **self._cors(origin),
            "Access-Control-Allow-Methods": "POST",
            "Access-Control-Allow-Headers": "Content-Type, Accept",
            "Access-Control-Max-Age": "600",
        }
        if request.headers.get("access-control-request-private-network") == "true":
            headers["Access-Control-Allow-Private-Network"] = "true"
        return answer(204, None, headers)

    # ------------------------------------------------------------ GET /healthz

    async def healthz(self, _request: Request) -> Response:
        try:
            await self._database(self.store.ping)
        except StoreUnavailable:
            return answer(
                503,
                {"database": "unreachable"},
                {"Retry-After": str(RETRY_AFTER_UNAVAILABLE)},
            )
        return answer(200, {"database": "reachable", "schema": LATEST})

    # ------------------------------------------------------------ GET /export

    async def export(self, request: Request) -> Response:
        wait = self.export_attempts.admit(self._client(request))
        if wait:
            return answer(429, {"error": "too many attempts: wait"}, {"Retry-After": str(wait)})
        since = None
        if "since" in request.query_params:
            since = _parse_time(request.query_params["since"])
            if since is None:
                return answer(400, {"error": "since must be a time like 2026-12-01T00:00:00Z"})
        try:
            user = await self._staff_user(request)
            if user is None:
                return answer(
                    401,
                    {"error": "staff sign-in needed"},
                    {"WWW-Authenticate": 'Basic realm="intake export", charset="UTF-8"'},
                )
            exported_at = now()
            document = await self._database(self.store.export, user, exported_at, since)
        except StoreUnavailable:
            return answer(
                503,
                {"error": "the database does not answer"},
                {"Retry-After": str(RETRY_AFTER_UNAVAILABLE)},
            )
        stamp = exported_at.strftime("%Y%m%dT%H%M%SZ")
        logger.info("export of %d rows", document["export"]["count"])
        return Response(
            json.dumps(document, indent=1).encode("utf-8"),
            media_type="application/json",
            headers={
                **SECURITY_HEADERS,
                "Content-Disposition": f'attachment; filename="intake-export-{stamp}.json"',
            },
        )

    async def _staff_user(self, request: Request) -> str | None:
        """The staff user named by valid HTTP Basic credentials, else None."""
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            name, colon, password = (
                base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
            )
        except (binascii.Error, UnicodeDecodeError):
            return None
        if not colon or not passwords.USER_NAME.fullmatch(name):
            name = ""
        stored = await self._database(self.store.password_hash, name) if name else None
        valid = await anyio.to_thread.run_sync(
            passwords.verify, stored, password, limiter=self.hash_threads
        )
        if not valid:
            return None
        if passwords.needs_rehash(stored):
            new_hash = await anyio.to_thread.run_sync(passwords.HASHER.hash, password)
            await self._database(self.store.set_password_hash, name, new_hash)
        return name

    # ------------------------------------------------------------ other paths

    async def http_error(self, _request: Request, error: HTTPException) -> Response:
        return answer(error.status_code, {"error": error.detail}, dict(error.headers or {}))


def _parse_time(value: str) -> datetime.datetime | None:
    try:
        moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else None


class AccessLog:
    """One log line a request: method, path, status, latency. No query, body, id or address."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            logger.info(
                "%s %s %d %.1fms",
                scope["method"],
                _shown_path(scope["path"]),
                status,
                (time.perf_counter() - started) * 1000,
            )


def _shown_path(path: str) -> str:
    shown = "".join(c if " " < c < "\x7f" else "?" for c in path[:80])
    return shown + ("..." if len(path) > 80 else "")


def create_app(settings: Settings, store: Store | None = None) -> AccessLog:
    """The ASGI application; `store` defaults to one on settings.database_url."""
    settings = settings.checked()
    receiver = Receiver(settings, store or Store(settings.database_url, settings.db_timeout))
    app = Starlette(
        routes=[
            Route("/submit", receiver.submit, methods=["POST", "OPTIONS"]),
            Route("/healthz", receiver.healthz, methods=["GET", "HEAD"]),
            # The same, for platforms that keep paths ending in "z" for themselves (Cloud Run).
            Route("/health", receiver.healthz, methods=["GET", "HEAD"]),
            Route("/export", receiver.export, methods=["GET"]),
        ],
        exception_handlers={HTTPException: receiver.http_error},
        lifespan=receiver.lifespan,
    )
    app.state.receiver = receiver
    return AccessLog(app)
