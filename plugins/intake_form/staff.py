"""Staff tools for the intake form: make key pairs, and decrypt what the form service received.

The visitor's browser encrypts each submission as a compact JWE (RFC 7516) with RSA-OAEP-256 and
A256GCM. Only the holder of the private key can read it; these functions are what `invoke keygen`
and `invoke decrypt` run. Nothing here writes plaintext anywhere but the output stream it is given.
"""

from __future__ import annotations

import base64
import csv as csv_module
import datetime
import email
import email.policy
import getpass
import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BITS = 3072
# Where the development key pair lives, relative to the repository root (git-ignored).
DEV_KEY_DIR = Path("var") / "intake-dev"
DEV_PUBLIC_KEY = "public.pem"
DEV_PRIVATE_KEY = "private.pem"

JWE_ALG = "RSA-OAEP-256"
JWE_ENC = "A256GCM"
# A compact JWE: five base64url parts; the protected header is JSON, so it starts with "eyJ" ('{"').
JWE_PATTERN = re.compile(
    r"(?<![A-Za-z0-9_.-])eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+"
)
# Quoted-printable soft line breaks, which mail systems put inside long lines (and so inside a JWE).
_SOFT_BREAK = re.compile(r"=\r?\n")
# Spreadsheets run a cell that starts with one of these as a formula: never pass visitor text so.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# What an error line may quote from an unauthenticated header: printable, short, on one line.
_UNSAFE_IN_MESSAGE = re.compile(r"[^\x20-\x7e]")
# JSON escapes C0 controls but not DEL and C1 (U+0080-U+009F), which some terminals obey.
_C1_CONTROL = re.compile("[\x7f-\x9f]")
_OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


class StaffError(Exception):
    """A staff tool cannot do what was asked; the message says why in one line."""


class KeyFileError(StaffError):
    """A key file is missing, unreadable, of the wrong kind, or in an unsafe place."""


class DecryptionError(StaffError):
    """One submission cannot be decrypted (changed in transit, or encrypted for another key)."""


# ---------------------------------------------------------------- keys


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _int_bytes(number: int) -> bytes:
    return number.to_bytes((number.bit_length() + 7) // 8, "big")


def key_id(public_key: rsa.RSAPublicKey) -> str:
    """The key's RFC 7638 JWK thumbprint (SHA-256, base64url): the JWE `kid` the form sends."""
    numbers = public_key.public_numbers()
    jwk = {"e": b64url(_int_bytes(numbers.e)), "kty": "RSA", "n": b64url(_int_bytes(numbers.n))}
    canonical = json.dumps(jwk, separators=(",", ":"), sort_keys=True).encode("ascii")
    return b64url(hashlib.sha256(canonical).digest())


def spki_base64(public_key: rsa.RSAPublicKey) -> str:
    """The key as base64 DER SubjectPublicKeyInfo: what WebCrypto's importKey("spki") reads."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode("ascii")


def _public_pem(private_key: rsa.RSAPrivateKey) -> bytes:
    return private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _private_pem(private_key: rsa.RSAPrivateKey, passphrase: str | None) -> bytes:
    encryption = (
        serialization.BestAvailableEncryption(passphrase.encode("utf-8"))
        if passphrase
        else serialization.NoEncryption()
    )
    return private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def _write_private(path: Path, data: bytes, *, overwrite: bool) -> None:
    """Write with mode 0600 from the first byte (never readable by others, even briefly)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    descriptor = os.open(path, flags, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
    os.chmod(path, 0o600)


def _tracked_by_git(path: Path) -> bool:
    """True when `path` is inside a git work tree and not git-ignored (so it could be committed)."""
    folder = path.parent
    while not folder.exists():
        folder = folder.parent
    try:
        top = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "--show-toplevel"],
            capture_output=True,
            text=True,
            check=False,
        )
        if top.returncode != 0:
            return False
        ignored = subprocess.run(
            ["git", "-C", top.stdout.strip(), "check-ignore", "-q", str(path)],
            capture_output=True,
            check=False,
        )
    except OSError:  # no git on this machine: nothing could commit the key either
        return False
    return ignored.returncode != 0


def keygen(
    out_dir: Path,
    *,
    public_path: Path | None = None,
    passphrase: str | None = None,
) -> str:
    """Make a new RSA-3072 key pair for the intake form, print where it went and its key id.

    Both files go into OUT_DIR, named by date and key id, so a new pair never replaces an old one
    (staff need old private keys to read old submissions). The private key has mode 0600; OUT_DIR
    must be outside the repository or git-ignored (var/ is). With PUBLIC_PATH the public key is
    also written there, where the site reads it (the INTAKE_PUBLIC_KEY file). With a passphrase the
    private key is encrypted with it. Returns the key id (RFC 7638 thumbprint; the form's `kid`).
    """
    out_dir = Path(out_dir)
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    kid = key_id(private_key.public_key())
    stem = f"intake-{datetime.date.today().isoformat()}-{kid[:8]}"
    private_path = out_dir / f"{stem}-private.pem"
    if _tracked_by_git(private_path.resolve()):
        raise KeyFileError(
            f"{out_dir} is inside the repository and not git-ignored: keep the private key outside "
            "the repository (or in var/, which git ignores)"
        )
    public_pem = _public_pem(private_key)
    _write_private(private_path, _private_pem(private_key, passphrase), overwrite=False)
    written = [out_dir / f"{stem}-public.pem"]
    if public_path is not None:
        written.append(Path(public_path))
    for path in written:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(public_pem)
    print(f"key id:      {kid}")
    print(
        f"private key: {private_path}  (mode 0600: keep it safe, off the site and the repository)"
    )
    for path in written:
        print(f"public key:  {path}")
    if public_path is None:
        print("Next: point INTAKE_PUBLIC_KEY at the public key for the production build.")
    return kid


def ensure_dev_keypair(root: Path) -> Path:
    """Make the development key pair in ROOT/var/intake-dev/ when it is missing; return that folder.

    The local build and the local receiver use it, so a fresh clone works end to end. It is never a
    production key: the go-live checklist refuses it.
    """
    folder = Path(root) / DEV_KEY_DIR
    public_path, private_path = folder / DEV_PUBLIC_KEY, folder / DEV_PRIVATE_KEY
    if public_path.is_file() and private_path.is_file():
        if private_path.stat().st_mode & 0o077:
            os.chmod(private_path, 0o600)
        return folder
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    # Write both under temporary names, then rename: a build running at the same moment sees either
    # the old pair or the new one, never a public key without its private key.
    suffix = f".{os.getpid()}.tmp"
    private_tmp = private_path.with_name(private_path.name + suffix)
    public_tmp = public_path.with_name(public_path.name + suffix)
    _write_private(private_tmp, _private_pem(private_key, None), overwrite=True)
    public_tmp.write_bytes(_public_pem(private_key))
    os.replace(private_tmp, private_path)
    os.replace(public_tmp, public_path)
    return folder


def load_private_key(path: Path, passphrase: str | None = None) -> rsa.RSAPrivateKey:
    """Read a PEM RSA private key; asks for the passphrase on a terminal when the key needs one."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise KeyFileError(f"{path}: cannot read the private key ({error.strerror})") from error
    if b"PRIVATE KEY" not in data:
        raise KeyFileError(f"{path} is not a private key (PEM, -----BEGIN PRIVATE KEY-----)")
    if b"ENCRYPTED" in data and passphrase is None and sys.stdin.isatty():
        passphrase = getpass.getpass(f"Passphrase for {path}: ")
    try:
        key = serialization.load_pem_private_key(
            data, password=passphrase.encode("utf-8") if passphrase else None
        )
    except TypeError as error:
        raise KeyFileError(f"{path} is protected by a passphrase: give it") from error
    except ValueError as error:
        raise KeyFileError(
            f"{path}: cannot read the private key (wrong passphrase, or not a PEM key)"
        ) from error
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KeyFileError(f"{path} is not an RSA private key")
    return key


# ---------------------------------------------------------------- decrypting


@dataclass(frozen=True)
class Header:
    alg: str
    enc: str
    kid: str
    sid: str


def _quoted(text: str, limit: int = 64) -> str:
    """Text from a header, safe to print in a one-line error (anyone can write a header)."""
    text = _UNSAFE_IN_MESSAGE.sub("?", text)
    return text if len(text) <= limit else text[:limit] + "..."


def jwe_header(token: str) -> Header:
    """The protected header of a compact JWE (not authenticated until the content decrypts)."""
    try:
        data = json.loads(b64url_decode(token.split(".", 1)[0]))
    except (ValueError, RecursionError) as error:
        raise DecryptionError("the header is not readable (the text was changed)") from error
    if not isinstance(data, dict):
        raise DecryptionError("the header is not a JSON object (the text was changed)")
    return Header(
        alg=str(data.get("alg", "")),
        enc=str(data.get("enc", "")),
        kid=str(data.get("kid", "")),
        sid=str(data.get("sid", "")),
    )


def decrypt_jwe(token: str, private_key: rsa.RSAPrivateKey) -> dict:
    """Decrypt one compact JWE made by the intake form; DecryptionError says why it cannot."""
    parts = token.strip().split(".")
    if len(parts) != 5:
        raise DecryptionError("not a compact JWE (five parts separated by dots)")
    header = jwe_header(token)
    if header.alg != JWE_ALG or header.enc != JWE_ENC:
        raise DecryptionError(
            f"unexpected algorithms {_quoted(header.alg)}/{_quoted(header.enc)} "
            "(the header was changed)"
        )
    expected_kid = key_id(private_key.public_key())
    if header.kid and header.kid != expected_kid:
        raise DecryptionError(
            f"encrypted for another key (key id {_quoted(header.kid)}; this key is {expected_kid})"
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
    except (ValueError, RecursionError) as error:
        raise DecryptionError("the decrypted content is not JSON") from error
    if not isinstance(submission, dict) or not all(
        isinstance(submission.get(part, {}), dict) for part in ("fields", "consent")
    ):
        raise DecryptionError("the decrypted content is not an intake submission")
    if header.sid and str(submission.get("sid", "")) != header.sid:
        raise DecryptionError("the submission id inside does not match the header")
    return submission


def texts_in(data: bytes) -> list[str]:
    """The readable text of one stored file, however an endpoint delivered it.

    Raw form bodies and JSON hold the JWE as it is; mail may wrap it in quoted-printable soft line
    breaks or encode a part in base64, so a message is also read part by part.
    """
    text = data.decode("utf-8", errors="replace")
    texts = [text, _SOFT_BREAK.sub("", text)]
    head = text[:4096]
    if re.search(r"(?im)^(content-type|content-transfer-encoding|mime-version):", head):
        message = email.message_from_bytes(data, policy=email.policy.default)
        for part in message.walk():
            if part.is_multipart():
                continue
            try:
                payload = part.get_payload(decode=True) or b""
            except (ValueError, LookupError):
                continue
            texts.append(payload.decode("utf-8", errors="replace"))
    return texts


def find_jwes(data: bytes) -> list[str]:
    """Every distinct compact JWE in a file's bytes, in the order found."""
    found: dict[str, None] = {}
    for text in texts_in(data):
        for match in JWE_PATTERN.finditer(text):
            found.setdefault(match.group(0), None)
    return list(found)


def _files(paths: Iterable[Path]) -> Iterable[Path]:
    for path in paths:
        path = Path(path)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file())
        else:
            yield path


def _cell(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        value = "; ".join(str(item) for item in value)
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def submission_row(submission: dict) -> dict[str, str]:
    """One submission flattened for a table: fields as columns, lists joined with '; '."""
    row = {
        "submitted_at": _cell(submission.get("submitted_at")),
        "sid": _cell(submission.get("sid")),
        "form": _cell(submission.get("form")),
        "page": _cell(submission.get("page")),
    }
    for name, value in (submission.get("fields") or {}).items():
        row[_cell(name)] = _cell(value)
    for name, value in (submission.get("consent") or {}).items():
        row[f"consent_{name}"] = _cell(value)
    return row


def write_csv(submissions: list[dict], out: TextIO) -> None:
    rows = [submission_row(s) for s in submissions]
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    writer = csv_module.DictWriter(out, fieldnames=list(columns), restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)


def decrypt_paths(
    key_path: Path,
    paths: Iterable[Path],
    csv: bool = False,
    *,
    passphrase: str | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Decrypt every intake submission in PATHS (files, or folders of them) with the private key.

    Finds each JWE however the endpoint delivered it (raw form bodies, JSON, email text) and prints
    the submissions as JSON lines, or as a CSV table with `csv`. A submission sent more than once is
    printed once. A changed or foreign submission gets a one-line error on stderr, and the others
    still decrypt. Returns the exit code: 0 when all found decrypted, 1 otherwise (or none found).
    """
    out = out or sys.stdout
    err = err or sys.stderr
    paths = [Path(p) for p in paths]
    try:
        private_key = load_private_key(Path(key_path), passphrase)
    except KeyFileError as error:
        print(f"error: {error}", file=err)
        return 1
    failures = 0
    found = 0
    by_sid: dict[str, dict] = {}
    for path in _files(paths):
        try:
            data = path.read_bytes()
        except OSError as error:
            print(f"{path}: cannot read ({error.strerror})", file=err)
            failures += 1
            continue
        for token in find_jwes(data):
            found += 1
            try:
                submission = decrypt_jwe(token, private_key)
            except DecryptionError as error:
                label = _sid_or_start(token)
                print(f"{path}: submission {label}: cannot decrypt: {error}", file=err)
                failures += 1
                continue
            sid = str(submission.get("sid") or token)
            earlier = by_sid.get(sid)
            # A retry re-encrypts under the same id; keep the most recent attempt.
            if earlier is None or _time(submission) >= _time(earlier):
                by_sid[sid] = submission
    if found == 0 and failures == 0:
        print("no encrypted submission found in " + ", ".join(map(str, paths)), file=err)
        return 1
    submissions = list(by_sid.values())
    if csv:
        write_csv(submissions, out)
    else:
        for submission in submissions:
            line = json.dumps(submission, ensure_ascii=False)
            print(_C1_CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", line), file=out)
    return 1 if failures else 0


def _time(submission: dict) -> str:
    return str(submission.get("submitted_at", ""))


def _sid_or_start(token: str) -> str:
    try:
        sid = jwe_header(token).sid
    except DecryptionError:
        sid = ""
    return _quoted(sid) if sid else token[:16] + "…"
