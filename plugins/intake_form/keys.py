"""The public-key primitives the build needs, and the development key pair.

The form's page carries the clinic's public key (`spki_base64`) and its key id (`key_id`, the JWE
`kid` the form sends). A development build on a fresh clone makes its own throw-away key pair
(`ensure_dev_keypair`). The clinic's real key pair, passphrase-protected private keys and reading
them are the staff tools' (staff/keys.py), which use these primitives too.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

KEY_BITS = 3072
# Where the development key pair lives, relative to the repository root (git-ignored).
DEV_KEY_DIR = Path("var") / "intake-dev"
DEV_PUBLIC_KEY = "public.pem"
DEV_PRIVATE_KEY = "private.pem"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def int_bytes(number: int) -> bytes:
    """A JWK integer: big-endian, as few bytes as hold it (RFC 7518 §6.3)."""
    return number.to_bytes(max(1, (number.bit_length() + 7) // 8), "big")


def key_id(public_key: rsa.RSAPublicKey) -> str:
    """The key's RFC 7638 JWK thumbprint (SHA-256, base64url): the JWE `kid` the form sends."""
    numbers = public_key.public_numbers()
    jwk = {"e": b64url(int_bytes(numbers.e)), "kty": "RSA", "n": b64url(int_bytes(numbers.n))}
    canonical = json.dumps(jwk, separators=(",", ":"), sort_keys=True).encode("ascii")
    return b64url(hashlib.sha256(canonical).digest())


def spki_base64(public_key: rsa.RSAPublicKey) -> str:
    """The key as base64 DER SubjectPublicKeyInfo: what WebCrypto's importKey("spki") reads."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode("ascii")


def public_pem(private_key: rsa.RSAPrivateKey) -> bytes:
    return private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def plain_pem(private_key: rsa.RSAPrivateKey) -> bytes:
    """The private key as PEM with no passphrase (the development key; keygen's test-only keys)."""
    return private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def write_private(path: Path, data: bytes, *, overwrite: bool) -> None:
    """Write with mode 0600 from the first byte (never readable by others, even briefly)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    descriptor = os.open(path, flags, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
    os.chmod(path, 0o600)


def ensure_dev_keypair(root: Path) -> Path:
    """Make the development key pair in ROOT/var/intake-dev/ when it is missing; return that folder.

    The local build and the local receiver use it, so a fresh clone works end to end. It is never a
    production key: the go-live checklist refuses it. It has no passphrase (tests read it).
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
    write_private(private_tmp, plain_pem(private_key), overwrite=True)
    public_tmp.write_bytes(public_pem(private_key))
    os.replace(private_tmp, private_path)
    os.replace(public_tmp, public_path)
    return folder
