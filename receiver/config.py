"""The receiver's settings: environment variables (a container's way), overridden by command-line
options. docs/receiver.md lists them; `python -m receiver serve --help` too.

| variable | meaning | default |
|---|---|---|
| RECEIVER_DATABASE_URL | sqlite:///PATH or postgresql://USER:PASSWORD@HOST/DB | sqlite:///var/receiver/submissions.sqlite3 |
| RECEIVER_ALLOWED_ORIGINS | the site's origins, comma-separated (https://www.example.org) | none: required |
| RECEIVER_KEY_IDS | the clinic's key ids (kid) the form may encrypt for, comma-separated | none: required |
| RECEIVER_FORMS | form names taken | intake |
| RECEIVER_MAX_BODY_BYTES | larger posts get 413 | 65536 |
| RECEIVER_CLIENT_RATE | posts a minute from one client address (burst: the same number) | 10 |
| RECEIVER_GLOBAL_RATE | posts a second to the whole service, per container (burst: twice that) | 100 |
| RECEIVER_DB_TIMEOUT | seconds to wait for the database before answering 503 | 2 |
| RECEIVER_PROXY_HOPS | proxies in front that append to X-Forwarded-For (0: use the peer) | 0 |
| RECEIVER_RETENTION_DAYS | `purge` without --older-than deletes exported rows older than this | none |
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from urllib.parse import urlsplit

from .wire import FORM_NAME, KEY_ID

DEFAULT_DATABASE = "sqlite:///var/receiver/submissions.sqlite3"
PREFIX = "RECEIVER_"


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names it."""


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE
    allowed_origins: tuple[str, ...] = ()
    key_ids: tuple[str, ...] = ()
    forms: tuple[str, ...] = ("intake",)
    max_body_bytes: int = 64 * 1024
    client_rate: float = 10.0
    global_rate: float = 100.0
    db_timeout: float = 2.0
    proxy_hops: int = 0
    retention_days: int | None = None

    def checked(self, *, serving: bool = True) -> Settings:
        """These settings, or SettingsError naming the first one that cannot work."""
        if not self.database_url.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:")):
            raise SettingsError("RECEIVER_DATABASE_URL must start with sqlite:/// or postgresql://")
        if serving:
            if not self.allowed_origins:
                raise SettingsError(
                    "RECEIVER_ALLOWED_ORIGINS is empty: give the site's origin, e.g. "
                    "https://www.example.org"
                )
            for origin in self.allowed_origins:
                check_origin(origin)
            if not self.key_ids:
                raise SettingsError(
                    "RECEIVER_KEY_IDS is empty: give the key id `invoke keygen` printed"
                )
            for kid in self.key_ids:
                if not KEY_ID.fullmatch(kid):
                    raise SettingsError(f"RECEIVER_KEY_IDS: {kid!r} is not a key id")
        for form in self.forms:
            if not FORM_NAME.fullmatch(form):
                raise SettingsError(f"RECEIVER_FORMS: {form!r} is not a form name")
        positive = {
            "max_body_bytes": self.max_body_bytes,
            "client_rate": self.client_rate,
            "global_rate": self.global_rate,
            "db_timeout": self.db_timeout,
        }
        for name, value in positive.items():
            if not value > 0 or not math.isfinite(value):
                raise SettingsError(f"{PREFIX}{name.upper()} must be a positive number")
        if self.proxy_hops < 0:
            raise SettingsError(f"{PREFIX}PROXY_HOPS cannot be negative")
        if self.retention_days is not None and self.retention_days < 1:
            raise SettingsError(f"{PREFIX}RETENTION_DAYS must be at least 1")
        return self


def check_origin(origin: str) -> str:
    """An origin as browsers send it: scheme://host[:port], no path, no trailing slash."""
    parts = urlsplit(origin)
    loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if (
        parts.scheme not in ("https", "http")
        or (parts.scheme == "http" and not loopback)
        or not parts.hostname
        or parts.path
        or parts.query
        or parts.fragment
        or parts.username
        or parts.password
    ):
        raise SettingsError(
            f"RECEIVER_ALLOWED_ORIGINS: {origin!r} is not an https:// origin "
            "(scheme://host[:port], no path; plain http only for loopback)"
        )
    return origin


def _convert(name: str, text: str, example: object) -> object:
    text = text.strip()
    if name in ("allowed_origins", "key_ids", "forms"):
        return tuple(item.strip() for item in text.split(",") if item.strip())
    try:
        if name == "retention_days":
            return int(text) if text else None
        if isinstance(example, int) and not isinstance(example, bool):
            return int(text)
        if isinstance(example, float):
            return float(text)
    except ValueError:
        raise SettingsError(f"{PREFIX}{name.upper()}: {text!r} is not a number") from None
    return text


def from_environment(environ: Mapping[str, str] | None = None, **overrides) -> Settings:
    """Settings from RECEIVER_* variables, then `overrides` (None values are ignored)."""
    environ = os.environ if environ is None else environ
    defaults = Settings()
    values = {}
    for item in fields(Settings):
        variable = PREFIX + item.name.upper()
        if variable in environ:
            values[item.name] = _convert(item.name, environ[variable], getattr(defaults, item.name))
    values.update({k: v for k, v in overrides.items() if v is not None})
    return replace(defaults, **values)
