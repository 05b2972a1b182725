"""What the intake form sends: three form fields, the last a compact JWE (RFC 7516).

    form=intake&submission_id=<uuid>&jwe=<header>.<encrypted key>.<iv>.<ciphertext>.<tag>

The JWE's protected header is `{"alg":"RSA-OAEP-256","enc":"A256GCM","kid":…,"cty":…,"sid":…}`.
The receiver cannot decrypt: it checks only what it can see, so that nothing but the form's own
kind of post is stored. Standard library only (this module ships in the receiver's image).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl

JWE_ALG = "RSA-OAEP-256"
JWE_ENC = "A256GCM"
FIELDS = frozenset({"form", "submission_id", "jwe"})
# A compact JWE: five base64url parts; the protected header is JSON, so it starts with "eyJ" ('{"').
JWE_PATTERN = re.compile(
    r"(?<![A-Za-z0-9_.-])eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+"
)
SUBMISSION_ID = re.compile(r"[A-Za-z0-9-]{8,64}")
FORM_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
# An RFC 7638 thumbprint in base64url (43 characters for SHA-256); kept loose for other hashes.
KEY_ID = re.compile(r"[A-Za-z0-9_-]{16,128}")
MAX_HEADER_CHARS = 2048


class BadPost(ValueError):
    """The post is not the form's post. `status` is 400 (malformed) or 422 (well formed, but not
    for this service: another algorithm, key, form or submission id)."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Post:
    form: str
    submission_id: str
    jwe: str
    kid: str


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def protected_header(token: str) -> dict:
    """The protected header of a compact JWE as a dict; BadPost when it is not a JSON object."""
    encoded = token.split(".", 1)[0]
    if len(encoded) > MAX_HEADER_CHARS:
        raise BadPost(400, "the JWE header is too long")
    try:
        header = json.loads(b64url_decode(encoded))
    except (ValueError, binascii.Error, RecursionError):
        raise BadPost(400, "the JWE header is not readable") from None
    if not isinstance(header, dict):
        raise BadPost(400, "the JWE header is not a JSON object")
    return header


def read_post(
    body: bytes, *, forms: frozenset[str] | tuple[str, ...], key_ids: tuple[str, ...]
) -> Post:
    """The form's three fields from a urlencoded body, checked; BadPost says what is wrong."""
    try:
        pairs = parse_qsl(
            body.decode("ascii"), keep_blank_values=True, strict_parsing=True, max_num_fields=8
        )
    except (UnicodeDecodeError, ValueError):
        raise BadPost(400, "the body is not a form post") from None
    names = [name for name, _ in pairs]
    if sorted(names) != sorted(FIELDS):
        raise BadPost(400, "expected exactly the fields form, submission_id and jwe, once each")
    fields = dict(pairs)
    if not FORM_NAME.fullmatch(fields["form"]):
        raise BadPost(400, "the form name is malformed")
    if not SUBMISSION_ID.fullmatch(fields["submission_id"]):
        raise BadPost(400, "the submission_id is malformed")
    token = fields["jwe"]
    if not JWE_PATTERN.fullmatch(token):
        raise BadPost(400, "jwe is not a compact JWE")
    header = protected_header(token)
    if header.get("alg") != JWE_ALG or header.get("enc") != JWE_ENC:
        raise BadPost(422, f"the JWE must use {JWE_ALG} with {JWE_ENC}")
    kid = header.get("kid")
    if not isinstance(kid, str) or kid not in key_ids:
        raise BadPost(422, "the JWE is not encrypted for the clinic's key (kid)")
    if header.get("sid") != fields["submission_id"]:
        raise BadPost(422, "the JWE is for another submission_id")
    if fields["form"] not in forms:
        raise BadPost(422, "this service does not take that form")
    return Post(fields["form"], fields["submission_id"], token, kid)
