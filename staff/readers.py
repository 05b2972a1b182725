"""Reading intake submissions: find each JWE in a stored file, decrypt it, group and order them.

The staff inbox (staff/inbox/reader.js) does the same steps in the same order, and both
are checked on the shared test vectors in tests/data/inbox-vectors/. Keep the two in step.

- A file is read as text. JWEs are found in it as they are, with quoted-printable decoded (soft
  line breaks and =XX escapes), and inside base64 blocks (email parts). No MIME tree is built, so a deeply nested email
  cannot exhaust the stack; a file with more than MAX_MIME_BOUNDARIES boundaries, or over
  MAX_FILE_BYTES, is refused on its own line.
- The service's receipt time comes from a JSON record (RECEIPT_KEYS next to the JWE, or above it),
  a CSV export (a RECEIPT_KEYS column), or an email's Date header. Without one, the time shown is
  the sender's claim (`submitted_at`), and says so.
- Copies of one submission (same id, same content but for `submitted_at`) are shown once. Two
  different contents under one id are both kept, with a warning: no version is picked.
"""

from __future__ import annotations

import base64
import csv
import datetime
import email.utils
import io
import json
import re
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from intake_form.keys import b64url_decode, key_id

from .keys import StaffError

JWE_ALG = "RSA-OAEP-256"
JWE_ENC = "A256GCM"
# A compact JWE: five base64url parts; the protected header is JSON, so it starts with "eyJ" ('{"').
JWE_PATTERN = re.compile(
    r"(?<![A-Za-z0-9_.-])eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+"
)
MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_MIME_BOUNDARIES = 32
MAX_JSON_DEPTH = 64
RECEIPT_KEYS = ("received_at", "created_at", "createdAt")
# The columns staff tools add around a submission's fields (CSV, inbox). A form field may not use
# one of these names (the build refuses it): it would collide with them.
METADATA_FIELDS = frozenset(
    {
        "time",
        "time_source",
        "received_at",
        "submitted_at",
        "sid",
        "form",
        "page",
        "lang",
        "likely_spam",
        "warning",
        "consent_phone",
        "consent_email",
        "consent_sms",
        "consent_wording_version",
    }
)
SENDER_CLAIM = "sender's claim"
SERVICE = "service"

_SOFT_BREAK = re.compile(r"=\r?\n")
_QP_ESCAPE = re.compile(r"=([0-9A-F]{2})")
_BASE64_BLOCK = re.compile(r"(?m)^[A-Za-z0-9+/=]{16,}(?:\r?\n[A-Za-z0-9+/=]{4,})*")
_BOUNDARY = re.compile(r"(?i)boundary\s*=")
_MIME_HEAD = re.compile(r"(?im)^(content-type|content-transfer-encoding|mime-version):")
_DATE_HEADER = re.compile(r"(?im)^date:[ \t]*([^\r\n]+)")
_ISO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$")
# C0 and C1 controls (but line feed), and the characters that reorder text (bidi controls).
_INVISIBLE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_TOO_DEEP = object()
_UNSAFE_IN_MESSAGE = re.compile(r"[^\x20-\x7e]")
_OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


class DecryptionError(StaffError):
    """One submission cannot be decrypted (changed in transit, or encrypted for another key)."""


def visible(text: str) -> str:
    """Text with every control and bidi character shown as [U+XXXX], so none acts on a terminal,
    a spreadsheet or a page (a line feed stays a line feed)."""
    return _INVISIBLE.sub(lambda m: f"[U+{ord(m.group()):04X}]", text)


def quoted(text: str, limit: int = 64) -> str:
    """Text from a header, safe to print in a one-line error (anyone can write a header)."""
    text = _UNSAFE_IN_MESSAGE.sub("?", text)
    return text if len(text) <= limit else text[:limit] + "..."


# ---------------------------------------------------------------- decrypting one JWE


@dataclass(frozen=True)
class Header:
    alg: str
    enc: str
    kid: str
    sid: str


def jwe_header(token: str) -> Header:
    """The protected header of a compact JWE (not authenticated until the content decrypts)."""
    try:
        data = json.loads(b64url_decode(token.split(".", 1)[0]))
    except (ValueError, RecursionError) as error:
        raise DecryptionError("the header is not readable (the text was changed)") from error
    if not isinstance(data, dict):
        raise DecryptionError("the header is not a JSON object (the text was changed)")
    return Header(*(str(data.get(k, "")) for k in ("alg", "enc", "kid", "sid")))


def decrypt_jwe(token: str, private_key: rsa.RSAPrivateKey) -> dict:
    """Decrypt one compact JWE made by the intake form; DecryptionError says why it cannot."""
    parts = token.strip().split(".")
    if len(parts) != 5:
        raise DecryptionError("not a compact JWE (five parts separated by dots)")
    header = jwe_header(token)
    if header.alg != JWE_ALG or header.enc != JWE_ENC:
        raise DecryptionError(
            f"unexpected algorithms {quoted(header.alg)}/{quoted(header.enc)} "
            "(the header was changed)"
        )
    expected_kid = key_id(private_key.public_key())
    if header.kid and header.kid != expected_kid:
        raise DecryptionError(
            f"encrypted for another key (key id {quoted(header.kid)}; this key is {expected_kid})"
        )
    try:
        encrypted_key, iv, ciphertext, tag = (b64url_decode(part) for part in parts[1:])
    except ValueError as error:
        raise DecryptionError("a part is not base64url (the text was changed)") from error
    try:
        content_key = private_key.decrypt(encrypted_key, _OAEP)
    except ValueError as error:
        raise DecryptionError(
            "the encrypted key does not open with this private key (changed, or for another key)"
        ) from error
    if len(content_key) != 32 or len(iv) != 12 or len(tag) != 16:
        raise DecryptionError("wrong key, IV or tag length (the text was changed)")
    try:
        plaintext = AESGCM(content_key).decrypt(iv, ciphertext + tag, parts[0].encode("ascii"))
    except InvalidTag as error:
        raise DecryptionError("authentication failed: the header or content was changed") from error
    # Anyone with the public key can encrypt content that decrypts: check its shape before use.
    try:
        submission = json.loads(plaintext.decode("utf-8"))
    except RecursionError as error:
        raise DecryptionError("the decrypted content is too deeply nested") from error
    except ValueError as error:
        raise DecryptionError("the decrypted content is not JSON") from error
    if _depth(submission) > MAX_JSON_DEPTH:
        raise DecryptionError("the decrypted content is too deeply nested")
    if not _is_submission(submission):
        raise DecryptionError("the decrypted content is not an intake submission")
    if header.sid and submission["sid"] != header.sid:
        raise DecryptionError("the submission id inside does not match the header")
    return submission


def _depth(value) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return deepest


def _is_submission(data) -> bool:
    if not isinstance(data, dict) or not isinstance(data.get("sid"), str) or not data["sid"]:
        return False
    if not all(isinstance(data.get(part, {}), dict) for part in ("fields", "consent")):
        return False
    texts = ("form", "page", "lang", "submitted_at")
    return all(isinstance(data.get(k, ""), str) for k in texts) and isinstance(
        data.get("likely_spam", False), bool
    )


# ---------------------------------------------------------------- finding JWEs in a file


def normal_time(value) -> str | None:
    """A service time as UTC `YYYY-MM-DDTHH:MM:SS.mmmZ`; None when it is not a time with a zone."""
    if not isinstance(value, str) or not _ISO_TIME.match(value.strip()):
        return None
    try:
        moment = datetime.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return _utc(moment)


def _utc(moment: datetime.datetime) -> str:
    utc = moment.astimezone(datetime.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _email_date(text: str) -> str | None:
    head = re.split(r"\r?\n\r?\n", text, maxsplit=1)[0]
    match = _DATE_HEADER.search(head)
    if not match:
        return None
    try:
        moment = email.utils.parsedate_to_datetime(match.group(1).strip())
    except (TypeError, ValueError, IndexError):
        return None
    return _utc(moment) if moment.tzinfo else None


@dataclass
class FileScan:
    """What one file holds: JWEs with the service's receipt time (None: not given), or an error."""

    found: dict[str, str | None] = field(default_factory=dict)
    error: str = ""
    code: str = ""


def _walk_json(value, received: str | None, scan: FileScan) -> None:
    stack = [(value, received, 0)]
    while stack:
        item, when, depth = stack.pop(0)
        if depth > MAX_JSON_DEPTH:
            raise ValueError("nested")
        if isinstance(item, dict):
            for key in RECEIPT_KEYS:
                if normal_time(item.get(key)):
                    when = normal_time(item[key])
                    break
            children = list(item.values())
        elif isinstance(item, list):
            children = item
        else:
            if isinstance(item, str) and JWE_PATTERN.fullmatch(item.strip()):
                scan.found.setdefault(item.strip(), when)
            continue
        stack.extend((child, when, depth + 1) for child in children)


def _read_csv(text: str, scan: FileScan) -> None:
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error:  # not a table (a NUL byte, a cell over the size limit): read it as text
        return
    if not rows:
        return
    header = [cell.strip() for cell in rows[0]]
    column = next((header.index(k) for k in RECEIPT_KEYS if k in header), -1)
    if column < 0:
        return
    for row in rows[1:]:
        when = normal_time(row[column]) if column < len(row) else None
        for cell in row:
            for match in JWE_PATTERN.finditer(cell):
                scan.found.setdefault(match.group(0), when)


def _base64_texts(text: str) -> list[str]:
    texts = []
    for match in _BASE64_BLOCK.finditer(text):
        data = re.sub(r"[\r\n=]", "", match.group(0))
        data = data[: len(data) - 1] if len(data) % 4 == 1 else data
        try:
            texts.append(base64.b64decode(data + "=" * (-len(data) % 4)).decode("utf-8", "replace"))
        except ValueError:
            continue
    return texts


def _unquote(match: re.Match) -> str:
    """A quoted-printable escape as its character (ASCII only: a JWE is ASCII)."""
    code = int(match.group(1), 16)
    return chr(code) if code < 0x80 else "?"


def scan_file(data: bytes) -> FileScan:
    """Every distinct compact JWE in a file's bytes, in the order found, with its receipt time."""
    scan = FileScan()
    if len(data) > MAX_FILE_BYTES:
        scan.error, scan.code = f"too large ({len(data):,} bytes; at most 5 MB)", "too-large"
        return scan
    text = data.decode("utf-8", errors="replace")
    if len(_BOUNDARY.findall(text)) > MAX_MIME_BOUNDARIES:
        scan.error = f"too deeply nested (more than {MAX_MIME_BOUNDARIES} MIME boundaries)"
        scan.code = "too-nested"
        return scan
    start = text.lstrip()[:1]
    if start in ("{", "["):
        try:
            parsed = json.loads(text)
        except RecursionError:
            parsed = _TOO_DEEP
        except ValueError:
            parsed = None  # not JSON after all: read it as text below
        try:
            if parsed is _TOO_DEEP:
                raise ValueError("nested")
            _walk_json(parsed, None, scan)
        except ValueError:
            scan.found.clear()
            scan.error, scan.code = "too deeply nested (JSON)", "too-nested"
            return scan
    else:
        _read_csv(text, scan)
    when = _email_date(text) if _MIME_HEAD.search(text[:4096]) else None
    unquoted = _QP_ESCAPE.sub(_unquote, _SOFT_BREAK.sub("", text))
    for piece in [text, unquoted, *_base64_texts(text)]:
        for match in JWE_PATTERN.finditer(piece):
            scan.found.setdefault(match.group(0), when)
    return scan


# ---------------------------------------------------------------- grouping and ordering


@dataclass
class Entry:
    """One submission to show: its content, when, from which files, and any warning."""

    submission: dict
    received_at: str | None
    files: list[str]
    warning: str = ""

    @property
    def time(self) -> str:
        return self.received_at or self.submission.get("submitted_at", "")

    @property
    def time_source(self) -> str:
        return SERVICE if self.received_at else SENDER_CLAIM


def _content(submission: dict) -> dict:
    return {k: v for k, v in submission.items() if k != "submitted_at"}


def _earliest(*times: str | None) -> str | None:
    present = [t for t in times if t]
    return min(present) if present else None


def group(decrypted: list[tuple[dict, str | None, str]]) -> list[Entry]:
    """(submission, receipt time, file) in the order found → entries, newest first.

    Copies with the same id and content are one entry (earliest receipt time). Different contents
    under one id are all kept, each with a warning naming how many versions there are.
    """
    by_sid: dict[str, list[Entry]] = {}
    for submission, received, name in decrypted:
        versions = by_sid.setdefault(submission["sid"], [])
        same = next((e for e in versions if _content(e.submission) == _content(submission)), None)
        if same is None:
            versions.append(Entry(submission, received, [name]))
            continue
        same.received_at = _earliest(same.received_at, received)
        if name not in same.files:
            same.files.append(name)
    entries = []
    for sid, versions in by_sid.items():
        for entry in versions:
            if len(versions) > 1:
                entry.warning = (
                    f"{len(versions)} different versions share submission id {visible(sid)}: "
                    "all are shown; check with the sender which is right"
                )
            entries.append(entry)
    # Newest first; equal times keep the order found (both sorts are stable).
    entries.sort(key=lambda e: normal_time(e.time) or "", reverse=True)
    return entries
