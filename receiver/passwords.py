"""Staff credentials for the export: only an Argon2id hash is stored (argon2-cffi's defaults,
the second profile RFC 9106 recommends: 3 passes over 64 MiB)."""

from __future__ import annotations

import functools
import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_PASSWORD = 12
USER_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
HASHER = PasswordHasher()


class CredentialError(ValueError):
    """A user name or password that cannot be used; the message says why."""


def check_name(name: str) -> str:
    if not USER_NAME.fullmatch(name):
        raise CredentialError(
            f"{name!r} is not a user name: lower-case letters, digits, '.', '_' and '-', "
            "up to 64, starting with a letter or digit"
        )
    return name


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise CredentialError(
            f"the password is too short: at least {MIN_PASSWORD} characters (several ordinary "
            "words are easiest)"
        )
    return HASHER.hash(password)


@functools.cache
def _stand_in() -> str:
    return HASHER.hash("a hash checked for names that do not exist")


def verify(stored_hash: str | None, password: str) -> bool:
    """Whether `password` matches `stored_hash`. An unknown user (None) costs the same time as a
    known one, so the answer's timing does not tell which names exist."""
    try:
        HASHER.verify(stored_hash or _stand_in(), password)
    except (VerificationError, InvalidHashError):
        return False
    return stored_hash is not None


def needs_rehash(stored_hash: str) -> bool:
    return HASHER.check_needs_rehash(stored_hash)
