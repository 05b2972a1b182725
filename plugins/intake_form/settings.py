"""The intake form's settings and keys: the INTAKE_FORM setting, the endpoint, the clinic's public key,
the field files (one per language), the development key, and the go-live items.

Settings: one dict, `INTAKE_FORM` (keys in DEFAULTS); the environment variables INTAKE_ENDPOINT and
INTAKE_PUBLIC_KEY override it. `fields` is one field file, or a dict {language code: field file}.
Relative paths are read from the folder Pelican runs in (the repository root).
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from clinic_facts import SettingsError as _OptionsError
from clinic_facts import is_placeholder, placeholders_in, plugin_options
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .keys import DEV_KEY_DIR, DEV_PUBLIC_KEY, ensure_dev_keypair, key_id, spki_base64
from .schema import FormDefinition, IntakeFormError, load_form

LOG_PREFIX = "[intake_form]"

DEFAULTS = {
    "endpoint": "http://127.0.0.1:8788/submit",
    "public_key": "var/intake-dev/public.pem",
    "fields": "content/forms/intake.toml",
}
# Environment variables that override a setting, so CI can point production at the real service.
ENVIRONMENT = {"endpoint": "INTAKE_ENDPOINT", "public_key": "INTAKE_PUBLIC_KEY"}

MIN_KEY_BITS = 3072
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
# A language code as pages give it in their `lang` metadata (en, es, pt-br, zh-hant).
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})*$")
# A DNS name in ASCII (internationalized names in their xn-- form). The origin goes into the
# Content-Security-Policy, where a ';' or a quote in the host would start a directive of its own.
_HOST_NAME = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*\.?$")


class SettingsError(IntakeFormError):
    """The INTAKE_FORM setting itself is malformed."""


class EndpointError(IntakeFormError):
    """The endpoint URL is unusable or unsafe."""


class PublicKeyError(IntakeFormError):
    """The public key file is missing, unreadable, not RSA, too small, or a private key."""


# ---------------------------------------------------------------- settings


def merged_options(settings: Mapping, environ: Mapping[str, str] | None = None) -> dict:
    """INTAKE_FORM merged over DEFAULTS, checked key by key, then the environment overrides."""
    try:
        options = plugin_options(settings, "INTAKE_FORM", DEFAULTS)
    except _OptionsError as error:
        raise SettingsError(str(error)) from error
    for key, variable in ENVIRONMENT.items():
        value = (environ or {}).get(variable, "").strip()
        if value:
            options[key] = value
    for key, value in options.items():
        if key == "fields" and isinstance(value, dict):
            _check_field_files(value)
        elif not isinstance(value, str) or not value.strip():
            what = (
                " (a field file) or a dict {language code: field file}" if key == "fields" else ""
            )
            raise SettingsError(f"INTAKE_FORM['{key}'] must be a non-empty string{what}")
    return options


def _check_field_files(files: dict) -> None:
    if not files:
        raise SettingsError(
            "INTAKE_FORM['fields'] is an empty dict: give {language code: field file}"
        )
    for lang, path in files.items():
        if not isinstance(lang, str) or not _LANGUAGE.match(lang):
            raise SettingsError(
                f"INTAKE_FORM['fields'] has the language code {lang!r}: use a lower-case code such "
                "as 'en', 'es' or 'pt-br', as the pages' `lang` metadata gives it"
            )
        if not isinstance(path, str) or not path.strip():
            raise SettingsError(
                f"INTAKE_FORM['fields']['{lang}'] must be a non-empty string (a field file)"
            )


def field_files(options: Mapping, default_lang: str) -> dict[str, Path]:
    """The field file of each language: `fields` as a dict, or one file for DEFAULT_LANG."""
    files = options["fields"]
    if isinstance(files, str):
        return {default_lang.lower(): Path(files.strip())}
    return {lang: Path(path.strip()) for lang, path in files.items()}


def check_endpoint(url: str) -> str:
    """The endpoint's origin (scheme://host[:port]); EndpointError when it is not acceptable."""
    if any(character.isspace() for character in url):
        raise EndpointError(f"the endpoint {url!r} contains spaces")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise EndpointError(f"the endpoint {url!r} is not a valid URL ({error})") from error
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    if scheme not in {"https", "http"}:
        raise EndpointError(f"the endpoint {url!r} must start with https://")
    if not host:
        raise EndpointError(f"the endpoint {url!r} has no host name")
    if not _is_host(host):
        raise EndpointError(
            f"the endpoint {url!r} has an invalid host name {host!r} (letters, digits, '-' and "
            "'.' only; write an international name in its xn-- form)"
        )
    if parts.username is not None or parts.password is not None:
        raise EndpointError(f"the endpoint {url!r} must not contain a user name or password")
    if parts.fragment:
        raise EndpointError(f"the endpoint {url!r} must not contain a #fragment")
    if scheme == "http" and host not in LOOPBACK_HOSTS:
        raise EndpointError(
            f"the endpoint {url!r} is plain http://: use https:// (http:// is allowed only for "
            "127.0.0.1, localhost and [::1], for local testing)"
        )
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != {"https": 443, "http": 80}[scheme]:
        netloc += f":{port}"
    return f"{scheme}://{netloc}"


def _is_host(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return bool(_HOST_NAME.match(host))
    return getattr(address, "scope_id", None) is None  # an IPv6 %zone is free text


@dataclass(frozen=True)
class PublicKey:
    path: Path
    kid: str
    spki: str
    bits: int


def load_public_key(path: Path) -> PublicKey:
    """Read the clinic's public key (PEM SubjectPublicKeyInfo, RSA, at least 3072 bits)."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise PublicKeyError(
            f"cannot read the public key {path} ({error.strerror}): run `invoke keygen`, "
            "or set INTAKE_PUBLIC_KEY to the clinic's public key file"
        ) from error
    if b"PRIVATE KEY" in data:
        raise PublicKeyError(
            f"{path} holds a private key: the site needs only the public key; keep the private key "
            "off the site and out of the repository"
        )
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as error:
        raise PublicKeyError(
            f"{path} is not a PEM public key (a file starting -----BEGIN PUBLIC KEY-----)"
        ) from error
    if not isinstance(key, rsa.RSAPublicKey):
        kind = type(key).__name__.removeprefix("_").replace("PublicKey", "")
        raise PublicKeyError(f"{path} is a {kind} key, not RSA: the form encrypts with RSA-OAEP")
    if key.key_size < MIN_KEY_BITS:
        raise PublicKeyError(
            f"{path} is a {key.key_size}-bit RSA key: use at least {MIN_KEY_BITS} bits "
            "(`invoke keygen` makes one)"
        )
    return PublicKey(path=Path(path), kid=key_id(key), spki=spki_base64(key), bits=key.key_size)


def is_development_key(public_key: PublicKey, root: Path) -> bool:
    """True for the key pair `ensure_dev_keypair` makes (by place, or by the same key elsewhere)."""
    dev_folder = (root / DEV_KEY_DIR).resolve()
    if dev_folder in public_key.path.resolve().parents:
        return True
    dev_key = dev_folder / DEV_PUBLIC_KEY
    try:
        return dev_key.is_file() and load_public_key(dev_key).kid == public_key.kid
    except PublicKeyError:
        return False


def make_missing_development_key(options: Mapping, root: Path) -> Path | None:
    """Make the throw-away development key pair when the public key setting is its place under ROOT
    and no key is there yet (a fresh clone); the folder made, else None. Only for builds without the
    go-live checks: the go-live checklist refuses this key."""
    key_path = root / Path(options["public_key"].strip())
    dev_key = root / DEV_KEY_DIR / DEV_PUBLIC_KEY
    if key_path.exists() or key_path.resolve() != dev_key.resolve():
        return None
    return ensure_dev_keypair(root)


# ---------------------------------------------------------------- the whole configuration


@dataclass(frozen=True)
class IntakeConfig:
    """What one form needs to render: checked settings (None for a part that is still a
    placeholder) and the form of one language."""

    endpoint: str | None
    origin: str
    public_key: PublicKey | None
    form: FormDefinition
    options: dict

    @property
    def ready(self) -> bool:
        return self.endpoint is not None and self.public_key is not None


@dataclass(frozen=True)
class IntakeSetup:
    """The checked INTAKE_FORM setting: endpoint, key, and the form of each language."""

    endpoint: str | None
    origin: str
    public_key: PublicKey | None
    forms: Mapping[str, FormDefinition]
    options: dict

    def config(self, lang: str) -> IntakeConfig:
        """The form of a page in language LANG; KeyError when that language has no field file."""
        form = self.forms[lang.lower()]
        return IntakeConfig(self.endpoint, self.origin, self.public_key, form, self.options)


def resolve(settings: Mapping, environ: Mapping[str, str] | None = None) -> IntakeSetup:
    """Check everything the form needs; IntakeFormError (one line) for the first problem found."""
    options = merged_options(settings, os.environ if environ is None else environ)
    endpoint: str | None = options["endpoint"].strip()
    origin = ""
    if is_placeholder(endpoint):
        endpoint = None
    else:
        origin = check_endpoint(endpoint)
    key_path = options["public_key"].strip()
    public_key = None if is_placeholder(key_path) else load_public_key(Path(key_path))
    default_lang = str(settings.get("DEFAULT_LANG") or "en")
    forms = {
        lang: load_form(path, lang) for lang, path in field_files(options, default_lang).items()
    }
    return IntakeSetup(endpoint, origin, public_key, forms, options)


# ---------------------------------------------------------------- go-live checklist


def go_live_items(
    settings: Mapping, environ: Mapping[str, str] | None = None, root: Path | None = None
) -> list[str]:
    """What still stops the intake form from going live (empty when ready)."""
    root = Path.cwd() if root is None else root
    try:
        setup = resolve(settings, environ)
    except IntakeFormError as error:
        return [f"{LOG_PREFIX} {error}"]
    items = []
    raw_endpoint = setup.options["endpoint"]
    if setup.endpoint is None:
        items.append(
            f"INTAKE_FORM endpoint is a placeholder ({raw_endpoint}): set INTAKE_ENDPOINT to the "
            "form service's https:// address"
        )
    elif urlsplit(setup.endpoint).hostname in LOOPBACK_HOSTS:
        items.append(
            f"INTAKE_FORM endpoint is the development receiver ({setup.endpoint}): set "
            "INTAKE_ENDPOINT to the form service's https:// address"
        )
    if setup.public_key is None:
        items.append(
            f"the intake public key is a placeholder ({setup.options['public_key']}): set "
            "INTAKE_PUBLIC_KEY to the clinic's public key file (made with `invoke keygen`)"
        )
    elif is_development_key(setup.public_key, root):
        items.append(
            f"the intake public key is the development key ({setup.options['public_key']}): set "
            "INTAKE_PUBLIC_KEY to the clinic's public key file (made with `invoke keygen`)"
        )
    for form in setup.forms.values():  # each language's field file
        for key, value in placeholders_in(form.raw):
            items.append(f"{form.source}: {key} is a placeholder ({value})")
    return items
