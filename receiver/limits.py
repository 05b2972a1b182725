"""Rate limits: a token bucket per client address and one for the whole service (per container).

A refused post is answered 429 with Retry-After: the seconds until the bucket has a token again.
Buckets live in memory: each container counts on its own (docs/receiver.md).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping

# Forget full buckets (clients that have been quiet) once this many addresses are tracked.
MAX_TRACKED = 50_000


class Bucket:
    """`rate` tokens a second, holding at most `burst`; take() answers 0 or the seconds to wait."""

    __slots__ = ("rate", "burst", "tokens", "stamp")

    def __init__(self, rate: float, burst: float, now: float):
        self.rate, self.burst, self.tokens, self.stamp = rate, burst, burst, now

    def refill(self, now: float) -> None:
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def take(self, now: float) -> float:
        self.refill(now)
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class RateLimiter:
    """Posts a minute per client address, and posts a second in all."""

    def __init__(
        self,
        client_per_minute: float,
        global_per_second: float,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.client_rate = client_per_minute / 60.0
        self.client_burst = max(1.0, client_per_minute)
        self.global_rate = global_per_second
        self.clock = clock
        self.all = Bucket(global_per_second, max(1.0, 2 * global_per_second), clock())
        self.clients: dict[str, Bucket] = {}
        self.lock = threading.Lock()

    def admit(self, client: str) -> int:
        """0 when a post from `client` may go ahead, else the whole seconds to wait (Retry-After).

        A post refused for its client takes nothing from the global bucket, so one busy address
        cannot use up everyone's share.
        """
        with self.lock:
            now = self.clock()
            bucket = self.clients.get(client)
            if bucket is None:
                if len(self.clients) >= MAX_TRACKED:
                    self._forget_full(now)
                bucket = self.clients[client] = Bucket(self.client_rate, self.client_burst, now)
            wait = bucket.take(now)
            if wait:
                return max(1, math.ceil(wait))
            wait = self.all.take(now)
            if wait:
                bucket.tokens += 1  # not this client's fault: give its token back
                return max(1, math.ceil(wait))
            return 0

    def _forget_full(self, now: float) -> None:
        for address in list(self.clients):
            bucket = self.clients[address]
            bucket.refill(now)
            if bucket.tokens >= bucket.burst:
                del self.clients[address]


def client_address(peer: str | None, headers: Mapping[str, str], hops: int) -> str:
    """The address a post came from: the TCP peer, or with `hops` proxies in front (each appending
    the address it saw to X-Forwarded-For), the entry the outermost trusted proxy added. Entries
    further left are whatever the client wrote, so they are never trusted."""
    if hops <= 0:
        return peer or "unknown"
    forwarded = headers.get("x-forwarded-for", "")
    entries = [entry.strip() for entry in forwarded.split(",") if entry.strip()]
    if len(entries) < hops:
        return peer or "unknown"
    return entries[-hops]
