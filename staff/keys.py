"""The clinic's key pair for the intake form: make it (`invoke keygen`), protect the private key
with a passphrase, read it.

A protected private key is a compact JWE (RFC 7516) with `PBES2-HS512+A256KW` and `A256GCM`
(RFC 7518 §4.8) whose content is the private key as a JWK. jwcrypto reads it, and a browser opens
it with WebCrypto alone (PBKDF2, AES-KW, AES-GCM): the staff inbox does. The PBKDF2 iteration
count (`p2c`) is checked on reading, so a weakened file is refused.

The public-key primitives (key id, base64url) and the development key pair are the build's, in
plugins/intake_form/keys.py; these tools use them from there.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TextIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap
from intake_form.keys import (
    KEY_BITS,
    b64url,
    b64url_decode,
    int_bytes,
    key_id,
    plain_pem,
    public_pem,
    write_private,
)

KEY_ALG = "PBES2-HS512+A256KW"
KEY_ENC = "A256GCM"
KEY_CTY = "jwk+json"
# OWASP's figure for PBKDF2-HMAC-SHA512 (2023). A file asking for fewer is refused; one asking for
# more than MAX_ITERATIONS is refused too, so a file cannot make the reader work for minutes.
MIN_ITERATIONS = 600_000
MAX_ITERATIONS = 10_000_000
MIN_PASSPHRASE = 12
# The members WebCrypto's importKey("jwk") takes for an RSA-OAEP private key (others can conflict).
JWK_MEMBERS = ("kty", "n", "e", "d", "p", "q", "dp", "dq", "qi")


class StaffError(Exception):
    """A staff tool cannot do what was asked; the message says why in one line."""


class KeyFileError(StaffError):
    """A key file is missing, unreadable, of the wrong kind, or in an unsafe place."""


def private_jwk(private_key: rsa.RSAPrivateKey) -> dict:
    """The private key as a JWK with only the members WebCrypto imports as RSA-OAEP-256."""
    numbers = private_key.private_numbers()
    public = numbers.public_numbers
    values = {
        "n": public.n,
        "e": public.e,
        "d": numbers.d,
        "p": numbers.p,
        "q": numbers.q,
        "dp": numbers.dmp1,
        "dq": numbers.dmq1,
        "qi": numbers.iqmp,
    }
    jwk = {"kty": "RSA", **{k: b64url(int_bytes(v)) for k, v in values.items()}}
    return {**jwk, "alg": "RSA-OAEP-256", "ext": False}


def _kek(passphrase: str, salt_input: bytes, iterations: int) -> bytes:
    salt = KEY_ALG.encode("ascii") + b"\x00" + salt_input  # RFC 7518 §4.8.1.1
    kdf = PBKDF2HMAC(algorithm=hashes.SHA512(), length=32, salt=salt, iterations=iterations)
    return kdf.derive(passphrase.encode("utf-8"))


def protect_private_key(
    private_key: rsa.RSAPrivateKey, passphrase: str, iterations: int = MIN_ITERATIONS
) -> str:
    """The private key as a passphrase-protected compact JWE (PBES2-HS512+A256KW, A256GCM)."""
    header = {
        "alg": KEY_ALG,
        "enc": KEY_ENC,
        "cty": KEY_CTY,
        "p2s": b64url(os.urandom(16)),
        "p2c": iterations,
        "kid": key_id(private_key.public_key()),
    }
    protected = b64url(json.dumps(header, separators=(",", ":")).encode("ascii"))
    cek, iv = os.urandom(32), os.urandom(12)
    wrapped = aes_key_wrap(_kek(passphrase, b64url_decode(header["p2s"]), iterations), cek)
    content = json.dumps(private_jwk(private_key), separators=(",", ":")).encode("ascii")
    sealed = AESGCM(cek).encrypt(iv, content, protected.encode("ascii"))
    parts = [protected, b64url(wrapped), b64url(iv), b64url(sealed[:-16]), b64url(sealed[-16:])]
    return ".".join(parts)


def protected_key_header(text: str, source: str = "the key") -> dict:
    """The header of a protected key file, checked (algorithms, salt, iteration count)."""
    try:
        header = json.loads(b64url_decode(text.strip().split(".")[0]))
    except (ValueError, RecursionError) as error:
        raise KeyFileError(f"{source} is not a protected key (unreadable header)") from error
    if not isinstance(header, dict) or (header.get("alg"), header.get("enc")) != (KEY_ALG, KEY_ENC):
        raise KeyFileError(f"{source} is not a protected key ({KEY_ALG} with {KEY_ENC})")
    count = header.get("p2c")
    if not isinstance(count, int) or isinstance(count, bool) or count < MIN_ITERATIONS:
        raise KeyFileError(
            f"{source}: too few PBKDF2 iterations ({count!r}; at least {MIN_ITERATIONS:,} "
            "are required): the file was weakened, or made by another tool"
        )
    if count > MAX_ITERATIONS:
        raise KeyFileError(f"{source}: too many PBKDF2 iterations ({count:,}; at most 10,000,000)")
    salt = header.get("p2s")
    if not isinstance(salt, str) or len(salt) < 11:  # at least 8 bytes (RFC 7518 §4.8.1.1)
        raise KeyFileError(f"{source}: the salt (p2s) is missing or too short")
    return header


def open_protected_key(text: str, passphrase: str, source: str = "the key") -> rsa.RSAPrivateKey:
    """The private key inside a protected key file; KeyFileError on a wrong passphrase."""
    parts = text.strip().split(".")
    if len(parts) != 5:
        raise KeyFileError(f"{source} is not a protected key (five parts separated by dots)")
    header = protected_key_header(text, source)
    try:
        wrapped, iv, ciphertext, tag = (b64url_decode(p) for p in parts[1:])
        kek = _kek(passphrase, b64url_decode(header["p2s"]), header["p2c"])
        cek = aes_key_unwrap(kek, wrapped)
        content = AESGCM(cek).decrypt(iv, ciphertext + tag, parts[0].encode("ascii"))
    except InvalidUnwrap as error:
        raise KeyFileError(f"{source}: wrong passphrase") from error
    except (ValueError, InvalidTag) as error:
        raise KeyFileError(f"{source}: the key file was changed or cut short") from error
    try:
        jwk = json.loads(content)
        numbers = {k: int.from_bytes(b64url_decode(jwk[k]), "big") for k in JWK_MEMBERS[1:]}
        public = rsa.RSAPublicNumbers(numbers["e"], numbers["n"])
        key = rsa.RSAPrivateNumbers(
            numbers["p"],
            numbers["q"],
            numbers["d"],
            numbers["dp"],
            numbers["dq"],
            numbers["qi"],
            public,
        ).private_key()
    except (ValueError, KeyError, TypeError) as error:
        raise KeyFileError(f"{source} does not hold an RSA private key") from error
    if header.get("kid") and header["kid"] != key_id(key.public_key()):
        raise KeyFileError(f"{source}: the key id in the header does not match the key")
    return key


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
    protect: bool = True,
    iterations: int = MIN_ITERATIONS,
) -> str:
    """Make a new RSA-3072 key pair for the intake form, print where it went and its key id.

    Both files go into OUT_DIR, named by date and key id, so a new pair never replaces an old one
    (staff need old private keys to read old submissions). The private key is a protected key file
    (`…-private.jwe`, passphrase required) unless `protect` is False (tests only: then it is a
    plain PEM). It has mode 0600; OUT_DIR must be outside the repository or git-ignored. With
    PUBLIC_PATH the public key is also written there, where the site reads it. Returns the key id.
    """
    if protect and (passphrase is None or len(passphrase) < MIN_PASSPHRASE):
        raise KeyFileError(
            f"a passphrase of at least {MIN_PASSPHRASE} characters is required "
            "(several words are easier to remember than symbols)"
        )
    if iterations < MIN_ITERATIONS:
        raise KeyFileError(f"at least {MIN_ITERATIONS:,} PBKDF2 iterations are required")
    out_dir = Path(out_dir).expanduser()
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    kid = key_id(private_key.public_key())
    stem = f"intake-{datetime.date.today().isoformat()}-{kid[:8]}"
    private_path = out_dir / (f"{stem}-private.jwe" if protect else f"{stem}-private.pem")
    if _tracked_by_git(private_path.resolve()):
        raise KeyFileError(
            f"{out_dir} is inside the repository and not git-ignored: keep the private key outside "
            "the repository (or in var/, which git ignores)"
        )
    if protect:
        data = (protect_private_key(private_key, passphrase, iterations) + "\n").encode("ascii")
    else:
        data = plain_pem(private_key)
    write_private(private_path, data, overwrite=False)
    public_key_pem = public_pem(private_key)
    written = [out_dir / f"{stem}-public.pem"]
    if public_path is not None:
        written.append(Path(public_path))
    for path in written:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(public_key_pem)
    print(f"key id:      {kid}")
    shield = "protected by your passphrase" if protect else "NOT protected: for tests only"
    print(
        f"private key: {private_path}  (mode 0600, {shield}; keep it off the site and repository)"
    )
    for path in written:
        print(f"public key:  {path}")
    if public_path is None:
        print("Next: point INTAKE_PUBLIC_KEY at the public key for the production build.")
    return kid


def read_passphrase_file(path: Path) -> str:
    """The first line of a passphrase file (without its line ending)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise KeyFileError(f"{path}: cannot read the passphrase file ({error})") from error
    line = text.splitlines()[0] if text else ""
    if not line:
        raise KeyFileError(f"{path}: the first line (the passphrase) is empty")
    return line


def load_private_key(
    path: Path,
    passphrase: str | None = None,
    *,
    warn: TextIO | None = None,
    ask=None,
) -> rsa.RSAPrivateKey:
    """Read a private key: a protected key file (asks for the passphrase on a terminal when none
    is given), or an older PEM key (with a one-line warning on `warn` when it has no passphrase)."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise KeyFileError(f"{path}: cannot read the private key ({error.strerror})") from error
    text = data.decode("ascii", errors="replace").strip()
    if text.startswith("eyJ") and text.count(".") == 4:
        protected_key_header(text, str(path))  # refuse a weakened file before asking
        if passphrase is None:
            if ask is None and not sys.stdin.isatty():
                raise KeyFileError(f"{path} is protected by a passphrase: give --passphrase-file")
            passphrase = (ask or _getpass)(f"Passphrase for {path}: ")
        return open_protected_key(text, passphrase, str(path))
    if b"PRIVATE KEY" not in data:
        raise KeyFileError(
            f"{path} is not a private key (a protected …-private.jwe file, or a PEM key)"
        )
    if b"ENCRYPTED" in data and passphrase is None and sys.stdin.isatty():
        passphrase = (ask or _getpass)(f"Passphrase for {path}: ")
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
    if b"ENCRYPTED" not in data and warn is not None:
        print(
            f"warning: {path} has no passphrase: make a protected key with `invoke keygen`",
            file=warn,
        )
    return key


def _getpass(prompt: str) -> str:
    import getpass  # noqa: PLC0415 (only on a terminal)

    return getpass.getpass(prompt)
