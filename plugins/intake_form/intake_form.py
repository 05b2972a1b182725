"""The encrypted intake form.

A page places the form with the line `<div data-intake-form></div>`. The plugin renders the fields
that editors define in a TOML file, and gives the browser script (theme/static/js/intake.js) the
endpoint and the clinic's public key through data- attributes. The browser encrypts each submission
as a JWE; the form service only ever receives ciphertext.

Settings: one dict, `INTAKE_FORM` (keys in DEFAULTS); the environment variables INTAKE_ENDPOINT and
INTAKE_PUBLIC_KEY override it. A bad endpoint, key or field file stops the build with one clear
line. Relative paths are read from the folder Pelican runs in (the repository root).
"""

from __future__ import annotations

import html
import ipaddress
import logging
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from clinic_facts import (
    BuildStopped,
    go_live_checklist,
    is_placeholder,
    phone_link,
    placeholders_in,
    plugin_options,
)
from clinic_facts import SettingsError as _OptionsError
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pelican import signals

from .staff import DEV_KEY_DIR, DEV_PUBLIC_KEY, key_id, spki_base64

logger = logging.getLogger(__name__)
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
# Lower case and free of text on purpose: Typogrify leaves it alone, whenever it runs.
MARKER = re.compile(r"""<div\s+data-intake-form(?:\s*=\s*(?:""|''))?\s*>\s*</div>""")

CONSENT_CHANNELS = ("phone", "email", "sms")
TEXT_TYPES = {"text", "email", "tel"}
CHOICE_TYPES = {"radios", "checkboxes"}
FIELD_TYPES = TEXT_TYPES | CHOICE_TYPES | {"textarea", "consent", "honeypot"}
_COMMON_KEYS = {"name", "type", "label", "hint"}
_ANSWER_KEYS = {"required", "required_if", "error_required"}
FIELD_KEYS = {
    "text": _COMMON_KEYS
    | _ANSWER_KEYS
    | {"error_invalid", "maxlength", "autocomplete", "inputmode", "pattern", "spellcheck"},
    "textarea": _COMMON_KEYS | _ANSWER_KEYS | {"maxlength", "rows", "autocomplete", "spellcheck"},
    "radios": _COMMON_KEYS | _ANSWER_KEYS | {"options"},
    "checkboxes": _COMMON_KEYS | _ANSWER_KEYS | {"options"},
    "consent": {"name", "type", "label", "channel"} | _ANSWER_KEYS,
    "honeypot": {"name", "type", "label"},
}
FIELD_KEYS["email"] = FIELD_KEYS["tel"] = FIELD_KEYS["text"]
FORM_TEXTS = (
    "submit",
    "sending",
    "retry",
    "no_script",
    "error_summary",
    "success_heading",
    "success",
    "error_busy",
    "error_network",
    "error_timeout",
    "error_refused",
    "retry_hint",
)
FORM_KEYS = {"name", "heading_level", "privacy_note", *FORM_TEXTS}
CONSENT_KEYS = {"wording_version", "legend", "hint"}
INPUT_MODES = {"none", "text", "decimal", "numeric", "tel", "search", "email", "url"}
# WHATWG autofill field names a form like this may use; see the HTML standard's "autofill" section.
AUTOFILL_FIELDS = {
    "name", "honorific-prefix", "given-name", "additional-name", "family-name", "honorific-suffix",
    "nickname", "email", "tel", "tel-national", "tel-country-code", "tel-area-code", "tel-local",
    "street-address", "address-line1", "address-line2", "address-line3", "address-level1",
    "address-level2", "postal-code", "country", "country-name", "bday", "sex", "language",
    "organization", "organization-title",
}  # fmt: skip
AUTOFILL_MODIFIERS = {"shipping", "billing", "home", "work", "mobile", "fax", "pager"}
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_OPTION_VALUE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_FORM_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
# A DNS name in ASCII (internationalized names in their xn-- form). The origin goes into the
# Content-Security-Policy, where a ';' or a quote in the host would start a directive of its own.
_HOST_NAME = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*\.?$")
# Browsers compile `pattern` with the RegExp `v` flag, where these must be escaped inside [...].
_V_FLAG_RESERVED = set("()[]{}/|")


class IntakeFormError(ValueError):
    """The intake form cannot be built as configured; the message is one line for the editor."""


class SettingsError(IntakeFormError):
    """The INTAKE_FORM setting itself is malformed."""


class EndpointError(IntakeFormError):
    """The endpoint URL is unusable or unsafe."""


class PublicKeyError(IntakeFormError):
    """The public key file is missing, unreadable, not RSA, too small, or a private key."""


class FieldDefinitionError(IntakeFormError):
    """The field definition file is not valid."""


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
        if not isinstance(value, str) or not value.strip():
            raise SettingsError(f"INTAKE_FORM['{key}'] must be a non-empty string")
    return options


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


# ---------------------------------------------------------------- field definitions


@dataclass(frozen=True)
class Option:
    value: str
    label: str
    hint: str = ""


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    label: str
    hint: str = ""
    required: bool = False
    required_if: tuple[str, tuple[str, ...]] | None = None
    error_required: str = ""
    error_invalid: str = ""
    maxlength: int | None = None
    autocomplete: str = ""
    inputmode: str = ""
    pattern: str = ""
    spellcheck: bool | None = None
    rows: int = 5
    options: tuple[Option, ...] = ()
    channel: str = ""


@dataclass(frozen=True)
class FormDefinition:
    name: str
    heading_level: int
    texts: dict[str, str]
    consent: dict[str, str]
    fields: tuple[Field, ...]
    source: str = ""
    raw: dict = field(default_factory=dict, compare=False, repr=False)


def load_form(path: Path) -> FormDefinition:
    """Read and check the field definitions; FieldDefinitionError names the file and the problem."""
    source = str(path)
    try:
        with Path(path).open("rb") as handle:
            data = tomllib.load(handle)
    except OSError as error:
        raise FieldDefinitionError(
            f"cannot read the field file {source} ({error.strerror})"
        ) from error
    except tomllib.TOMLDecodeError as error:
        raise FieldDefinitionError(f"{source} is not valid TOML: {error}") from error
    return check_form(data, source)


def _text(where: str, table: Mapping, key: str, *, required: bool = True) -> str:
    value = table.get(key, "")
    if not isinstance(value, str):
        raise FieldDefinitionError(f"{where}: '{key}' must be text in quotes")
    if required and not value.strip():
        raise FieldDefinitionError(f"{where}: '{key}' is missing or empty")
    return value


def _known_keys(where: str, table: Mapping, allowed: set[str]) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise FieldDefinitionError(
            f"{where}: unknown key {', '.join(map(repr, unknown))} "
            f"(allowed: {', '.join(sorted(allowed))})"
        )


def _whole_number(where: str, table: Mapping, key: str, low: int, high: int) -> int:
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise FieldDefinitionError(f"{where}: '{key}' must be a whole number from {low} to {high}")
    return value


def check_form(data: Mapping, source: str = "the field file") -> FormDefinition:
    """Check parsed field definitions (the TOML as a dict) and return the form they describe."""
    _known_keys(source, data, {"form", "consent", "fields"})
    form = data.get("form")
    if not isinstance(form, dict):
        raise FieldDefinitionError(f"{source}: the [form] table is missing")
    where = f"{source}: [form]"
    _known_keys(where, form, FORM_KEYS)
    name = _text(where, form, "name")
    if not _FORM_NAME.match(name):
        raise FieldDefinitionError(f"{where}: 'name' must be lower-case letters, digits and '-'")
    heading_level = (
        _whole_number(where, form, "heading_level", 2, 6) if "heading_level" in form else 2
    )
    texts = {key: _text(where, form, key) for key in FORM_TEXTS}
    texts["privacy_note"] = _text(where, form, "privacy_note", required=False)

    raw_fields = data.get("fields")
    if not isinstance(raw_fields, list) or not raw_fields:
        raise FieldDefinitionError(f"{source}: no fields: add [[fields]] tables")
    fields: list[Field] = []
    for index, table in enumerate(raw_fields, 1):
        fields.append(_check_field(source, index, table, fields))
    _check_field_set(source, fields)

    consent: dict[str, str] = {}
    if any(f.type == "consent" for f in fields):
        table = data.get("consent")
        if not isinstance(table, dict):
            raise FieldDefinitionError(
                f"{source}: the [consent] table is missing (wording_version, legend)"
            )
        where = f"{source}: [consent]"
        _known_keys(where, table, CONSENT_KEYS)
        consent = {
            "wording_version": _text(where, table, "wording_version"),
            "legend": _text(where, table, "legend"),
            "hint": _text(where, table, "hint", required=False),
        }
    return FormDefinition(
        name=name,
        heading_level=heading_level,
        texts=texts,
        consent=consent,
        fields=tuple(fields),
        source=source,
        raw=dict(data),
    )


def _check_field(source: str, index: int, table: object, earlier: list[Field]) -> Field:
    where = f"{source}: field {index}"
    if not isinstance(table, dict):
        raise FieldDefinitionError(f"{where}: must be a [[fields]] table")
    name = _text(where, table, "name")
    where = f"{source}: field {index} ({name})"
    if not _NAME.match(name):
        raise FieldDefinitionError(
            f"{where}: 'name' must start with a letter and use only a-z, 0-9 and _ (40 at most)"
        )
    if any(f.name == name for f in earlier):
        raise FieldDefinitionError(f"{where}: another field already has the name {name!r}")
    kind = _text(where, table, "type")
    if kind not in FIELD_TYPES:
        raise FieldDefinitionError(
            f"{where}: type {kind!r} is not one of {', '.join(sorted(FIELD_TYPES))}"
        )
    _known_keys(where, table, FIELD_KEYS[kind])
    values: dict = {
        "name": name,
        "type": kind,
        "label": _text(where, table, "label"),
        "hint": _text(where, table, "hint", required=False),
    }
    if "required" in table:
        if not isinstance(table["required"], bool):
            raise FieldDefinitionError(f"{where}: 'required' must be true or false")
        values["required"] = table["required"]
    if "required_if" in table:
        if values.get("required"):
            raise FieldDefinitionError(f"{where}: use 'required' or 'required_if', not both")
        values["required_if"] = _check_condition(where, table["required_if"], earlier)
    if values.get("required") or values.get("required_if"):
        values["error_required"] = _text(where, table, "error_required")
    elif "error_required" in table:
        raise FieldDefinitionError(
            f"{where}: 'error_required' is set but the field is never required"
        )
    if kind in TEXT_TYPES | {"textarea"}:
        if "maxlength" not in table:
            raise FieldDefinitionError(
                f"{where}: 'maxlength' is missing (the most characters allowed)"
            )
        values["maxlength"] = _whole_number(where, table, "maxlength", 1, 10000)
        if "spellcheck" in table:
            if not isinstance(table["spellcheck"], bool):
                raise FieldDefinitionError(f"{where}: 'spellcheck' must be true or false")
            values["spellcheck"] = table["spellcheck"]
        if "autocomplete" in table:
            values["autocomplete"] = _check_autocomplete(where, _text(where, table, "autocomplete"))
    if kind in TEXT_TYPES:
        if "inputmode" in table:
            values["inputmode"] = _text(where, table, "inputmode")
            if values["inputmode"] not in INPUT_MODES:
                modes = ", ".join(sorted(INPUT_MODES))
                raise FieldDefinitionError(f"{where}: 'inputmode' must be one of {modes}")
        if "pattern" in table:
            values["pattern"] = _check_pattern(where, _text(where, table, "pattern"))
        if kind in {"email", "tel"} or values.get("pattern"):
            values["error_invalid"] = _text(where, table, "error_invalid")
        elif "error_invalid" in table:
            raise FieldDefinitionError(
                f"{where}: 'error_invalid' needs a 'pattern' on a text field"
            )
    if kind == "textarea" and "rows" in table:
        values["rows"] = _whole_number(where, table, "rows", 2, 20)
    if kind in CHOICE_TYPES:
        values["options"] = _check_options(where, table.get("options"), kind)
    if kind == "consent":
        values["channel"] = _text(where, table, "channel")
        if values["channel"] not in CONSENT_CHANNELS:
            raise FieldDefinitionError(
                f"{where}: 'channel' must be one of {', '.join(CONSENT_CHANNELS)}"
            )
    return Field(**values)


def _check_condition(
    where: str, condition: object, earlier: list[Field]
) -> tuple[str, tuple[str, ...]]:
    example = 'required_if = { field = "contact", values = ["phone"] }'
    if not isinstance(condition, dict) or set(condition) != {"field", "values"}:
        raise FieldDefinitionError(f"{where}: 'required_if' must look like {example}")
    target_name, wanted = condition["field"], condition["values"]
    target = next((f for f in earlier if f.name == target_name), None)
    if target is None or target.type not in CHOICE_TYPES:
        raise FieldDefinitionError(
            f"{where}: 'required_if' names {target_name!r}, which is not a radios or checkboxes "
            "field above this one"
        )
    known = {option.value for option in target.options}
    if not isinstance(wanted, list) or not wanted or not set(wanted) <= known:
        raise FieldDefinitionError(
            f"{where}: 'required_if' values must be options of {target_name!r}: "
            f"{', '.join(sorted(known))}"
        )
    return target_name, tuple(wanted)


def _check_autocomplete(where: str, value: str) -> str:
    tokens = value.split()
    if tokens in (["on"], ["off"]):
        return value
    valid = bool(tokens) and tokens[-1] in AUTOFILL_FIELDS
    valid = valid and all(t in AUTOFILL_MODIFIERS or t.startswith("section-") for t in tokens[:-1])
    if not valid:
        raise FieldDefinitionError(
            f"{where}: 'autocomplete' {value!r} is not an autofill token "
            "(for example name, email, tel)"
        )
    return value


def _check_pattern(where: str, pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as error:
        raise FieldDefinitionError(
            f"{where}: 'pattern' is not a valid pattern ({error})"
        ) from error
    in_class = escaped = False
    for position, character in enumerate(pattern):
        if escaped:
            escaped = False
        elif character == "\\":
            escaped = True
        elif in_class and character == "]":
            in_class = False
        elif not in_class and character == "[":
            in_class = True
        elif in_class and (
            character in _V_FLAG_RESERVED
            or (character == "-" and pattern[position - 1] == "[")
            or (character == "-" and pattern[position + 1 : position + 2] == "]")
        ):
            raise FieldDefinitionError(
                f"{where}: 'pattern': inside [...] write {character!r} as '\\{character}' "
                "(browsers read patterns strictly and would ignore this one)"
            )
    return pattern


def _check_options(where: str, options: object, kind: str) -> tuple[Option, ...]:
    least = 2 if kind == "radios" else 1
    if not isinstance(options, list) or len(options) < least:
        raise FieldDefinitionError(f"{where}: 'options' must list at least {least} choices")
    checked: list[Option] = []
    for number, option in enumerate(options, 1):
        place = f"{where}: option {number}"
        if not isinstance(option, dict):
            raise FieldDefinitionError(f'{place} must look like {{ value = "...", label = "..." }}')
        _known_keys(place, option, {"value", "label", "hint"})
        value = _text(place, option, "value")
        if not _OPTION_VALUE.match(value):
            raise FieldDefinitionError(f"{place}: 'value' must use only a-z, 0-9, '-' and '_'")
        if any(o.value == value for o in checked):
            raise FieldDefinitionError(f"{place}: another option already has the value {value!r}")
        checked.append(
            Option(
                value, _text(place, option, "label"), _text(place, option, "hint", required=False)
            )
        )
    return tuple(checked)


def _check_field_set(source: str, fields: list[Field]) -> None:
    channels = [f.channel for f in fields if f.type == "consent"]
    missing = [c for c in CONSENT_CHANNELS if c not in channels]
    if missing or len(channels) != len(CONSENT_CHANNELS):
        raise FieldDefinitionError(
            f'{source}: the form needs exactly one consent box (type = "consent") for each of '
            f"phone, email and sms (missing: {', '.join(missing) or 'none'}; "
            f"found: {', '.join(channels)})"
        )
    kinds = [f.type for f in fields]
    first = kinds.index("consent")
    if kinds[first : first + len(CONSENT_CHANNELS)] != ["consent"] * len(CONSENT_CHANNELS):
        raise FieldDefinitionError(f"{source}: the three consent boxes must come one after another")
    if kinds.count("honeypot") > 1:
        raise FieldDefinitionError(f"{source}: only one honeypot field is allowed")
    if not any(f.type not in {"consent", "honeypot"} for f in fields):
        raise FieldDefinitionError(f"{source}: the form has no questions")


# ---------------------------------------------------------------- the whole configuration


@dataclass(frozen=True)
class IntakeConfig:
    """What the build needs: checked settings, or None for a part that is still a placeholder."""

    endpoint: str | None
    origin: str
    public_key: PublicKey | None
    form: FormDefinition
    options: dict

    @property
    def ready(self) -> bool:
        return self.endpoint is not None and self.public_key is not None


def resolve(settings: Mapping, environ: Mapping[str, str] | None = None) -> IntakeConfig:
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
    form = load_form(Path(options["fields"]))
    return IntakeConfig(endpoint, origin, public_key, form, options)


# ---------------------------------------------------------------- rendering


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _attributes(**attributes: object) -> str:
    """HTML attributes, escaped; True renders a bare attribute, None and False leave it out."""
    out = []
    for name, value in attributes.items():
        name = name.rstrip("_").replace("_", "-")
        if value is None or value is False:
            continue
        out.append(f" {name}" if value is True else f' {name}="{_e(value)}"')
    return "".join(out)


def render_phone(clinic: Mapping) -> str:
    """The clinic's phone number as HTML: a tap-to-call link once known, else the placeholder."""
    return str(phone_link(clinic)) if clinic.get("phone") else ""


def _hint_and_error(element_id: str, hint: str) -> str:
    parts = []
    if hint:
        parts.append(f'<p class="intake-hint" id="{element_id}-hint">{_e(hint)}</p>')
    parts.append(
        f'<p class="intake-error" id="{element_id}-error" hidden>'
        '<span class="intake-vh">Error:</span> <span></span></p>'
    )
    return "".join(parts)


def _field_attributes(f: Field) -> str:
    condition = f"{f.required_if[0]}:{' '.join(f.required_if[1])}" if f.required_if else None
    return _attributes(
        class_="intake-field",
        data_field=f.name,
        data_type=f.type,
        data_channel=f.channel or None,
        data_required=f.required,
        data_required_if=condition,
        data_error_required=f.error_required or None,
        data_error_invalid=f.error_invalid or None,
    )


def _render_text(f: Field) -> str:
    element_id = f"intake-{f.name}"
    common = {
        "id": element_id,
        "class_": "intake-input" if f.type != "textarea" else "intake-textarea",
        "maxlength": f.maxlength,
        "autocomplete": f.autocomplete or None,
        "spellcheck": None if f.spellcheck is None else str(f.spellcheck).lower(),
        "aria_describedby": f"{element_id}-hint" if f.hint else None,
    }
    if f.type == "textarea":
        control = f"<textarea{_attributes(**common, rows=f.rows)}></textarea>"
    else:
        extra = {"type": f.type, "inputmode": f.inputmode or None, "pattern": f.pattern or None}
        control = f"<input{_attributes(**common, **extra)}>"
    label = f'<label class="intake-label" for="{element_id}">{_e(f.label)}</label>'
    return f"<div{_field_attributes(f)}>{label}{_hint_and_error(element_id, f.hint)}{control}</div>"


def _render_choices(f: Field) -> str:
    element_id = f"intake-{f.name}"
    kind = "radio" if f.type == "radios" else "checkbox"
    items = []
    for option in f.options:
        option_id = f"{element_id}-{option.value}"
        hint = (
            f'<p class="intake-hint intake-choice-hint" id="{option_id}-hint">{_e(option.hint)}</p>'
            if option.hint
            else ""
        )
        control = _attributes(
            class_=f"intake-{kind}",
            type=kind,
            id=option_id,
            name=f.name if kind == "radio" else None,
            value=option.value,
            aria_describedby=f"{option_id}-hint" if option.hint else None,
        )
        items.append(
            f'<div class="intake-choice"><input{control}>'
            f'<label for="{option_id}">{_e(option.label)}</label>{hint}</div>'
        )
    fieldset = _attributes(
        class_="intake-fieldset", aria_describedby=f"{element_id}-hint" if f.hint else None
    )
    return (
        f"<div{_field_attributes(f)}><fieldset{fieldset}>"
        f'<legend class="intake-legend">{_e(f.label)}</legend>'
        f"{_hint_and_error(element_id, f.hint)}"
        f'<div class="intake-choices">{"".join(items)}</div></fieldset></div>'
    )


def _render_consent(f: Field) -> str:
    element_id = f"intake-{f.name}"
    control = _attributes(class_="intake-checkbox", type="checkbox", id=element_id, value="yes")
    return (
        f"<div{_field_attributes(f)}>{_hint_and_error(element_id, '')}"
        f'<div class="intake-choice"><input{control}>'
        f'<label for="{element_id}">{_e(f.label)}</label></div></div>'
    )


def _render_honeypot(f: Field) -> str:
    # Robots fill in fields by name; people never see this one, and the script sends nothing if it
    # is filled. tabindex=-1 and aria-hidden keep it out of keyboard and screen reader paths.
    control = _attributes(
        type="text",
        id=f"intake-{f.name}",
        name=f.name,
        tabindex="-1",
        autocomplete="off",
        data_intake_trap=True,
    )
    return (
        '<div class="intake-trap" aria-hidden="true">'
        f'<label for="intake-{f.name}">{_e(f.label)}</label>'
        f"<input{control}></div>"
    )


def render_fields(form: FormDefinition) -> str:
    parts = []
    consent_open = False
    for f in form.fields:
        if f.type == "consent" and not consent_open:
            consent_open = True
            hint = form.consent.get("hint", "")
            described = _attributes(
                class_="intake-fieldset intake-consent",
                aria_describedby="intake-consent-hint" if hint else None,
            )
            parts.append(
                f"<fieldset{described}>"
                f'<legend class="intake-legend">{_e(form.consent["legend"])}</legend>'
                + (
                    f'<p class="intake-hint" id="intake-consent-hint">{_e(hint)}</p>'
                    if hint
                    else ""
                )
            )
        elif f.type != "consent" and consent_open:
            consent_open = False
            parts.append("</fieldset>")
        if f.type in TEXT_TYPES or f.type == "textarea":
            parts.append(_render_text(f))
        elif f.type in CHOICE_TYPES:
            parts.append(_render_choices(f))
        elif f.type == "consent":
            parts.append(_render_consent(f))
        else:
            parts.append(_render_honeypot(f))
    if consent_open:
        parts.append("</fieldset>")
    return "\n".join(parts)


def render_form(config: IntakeConfig, clinic: Mapping) -> str:
    """The whole form as HTML. Without JavaScript (or WebCrypto) only the phone message shows."""
    form, texts = config.form, config.form.texts
    phone = render_phone(clinic)
    level = form.heading_level
    ready = config.ready
    form_attributes = _attributes(
        class_="intake",
        id=f"{form.name}-form",
        method="post",
        novalidate=True,
        data_intake=True,
        data_form=form.name,
        data_endpoint=config.endpoint if ready else None,
        data_key=config.public_key.spki if ready else None,
        data_kid=config.public_key.kid if ready else None,
        data_wording_version=form.consent.get("wording_version"),
    )
    reasons = "".join(
        f'<p data-intake-reason="{reason}" hidden>{_e(texts["error_" + reason])}'
        + (f" {phone}" if reason == "refused" and phone else "")
        + "</p>"
        for reason in ("busy", "network", "timeout", "refused")
    )
    privacy = (
        f'<p class="intake-privacy">{_e(texts["privacy_note"])}</p>'
        if texts["privacy_note"]
        else ""
    )
    return (
        f"<form{form_attributes}>\n"
        f'<p class="intake-fallback" data-intake-fallback>{_e(texts["no_script"])} {phone}</p>\n'
        '<div class="intake-body" data-intake-body hidden>\n'
        '<div class="intake-summary" data-intake-summary tabindex="-1" hidden><div role="alert">'
        f'<h{level} class="intake-summary-title" id="intake-summary-title">'
        f"{_e(texts['error_summary'])}</h{level}><ul></ul></div></div>\n"
        f'<div class="intake-alert" role="alert" data-intake-alert hidden>{reasons}'
        f"<p data-intake-retry-hint>{_e(texts['retry_hint'])} {phone}</p></div>\n"
        f"{render_fields(form)}\n{privacy}\n"
        f'<button class="intake-submit" type="submit" data-intake-submit '
        f'data-label="{_e(texts["submit"])}" data-sending="{_e(texts["sending"])}" '
        f'data-retry="{_e(texts["retry"])}">{_e(texts["submit"])}</button>\n'
        "</div>\n"
        '<div class="intake-status" role="status" data-intake-status>'
        '<div class="intake-success" data-intake-success tabindex="-1" hidden>'
        f"<h{level}>{_e(texts['success_heading'])}</h{level}><p>{_e(texts['success'])} {phone}</p>"
        "</div></div>\n"
        "</form>"
    )


# ---------------------------------------------------------------- go-live checklist


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


def go_live_items(
    settings: Mapping, environ: Mapping[str, str] | None = None, root: Path | None = None
) -> list[str]:
    """What still stops the intake form from going live (empty when ready)."""
    root = Path.cwd() if root is None else root
    try:
        config = resolve(settings, environ)
    except IntakeFormError as error:
        return [f"{LOG_PREFIX} {error}"]
    items = []
    raw_endpoint = config.options["endpoint"]
    if config.endpoint is None:
        items.append(
            f"INTAKE_FORM endpoint is a placeholder ({raw_endpoint}): set INTAKE_ENDPOINT to the "
            "form service's https:// address"
        )
    elif urlsplit(config.endpoint).hostname in LOOPBACK_HOSTS:
        items.append(
            f"INTAKE_FORM endpoint is the development receiver ({config.endpoint}): set "
            "INTAKE_ENDPOINT to the form service's https:// address"
        )
    if config.public_key is None:
        items.append(
            f"the intake public key is a placeholder ({config.options['public_key']}): set "
            "INTAKE_PUBLIC_KEY to the clinic's public key file (made with `invoke keygen`)"
        )
    elif is_development_key(config.public_key, root):
        items.append(
            f"the intake public key is the development key ({config.options['public_key']}): set "
            "INTAKE_PUBLIC_KEY to the clinic's public key file (made with `invoke keygen`)"
        )
    for key, value in placeholders_in(config.form.raw):
        items.append(f"{config.form.source}: {key} is a placeholder ({value})")
    return items


# ---------------------------------------------------------------- Pelican handlers


@dataclass
class _State:
    config: IntakeConfig | None = None
    clinic: Mapping = field(default_factory=dict)
    rendered: str | None = None
    pages: list = field(default_factory=list)


_state = _State()


def _stop(error: IntakeFormError) -> None:
    raise BuildStopped(f"{LOG_PREFIX} {error}") from error


def on_initialized(pelican) -> None:
    """Check the settings, key and fields; give the theme the endpoint's origin for its CSP."""
    global _state
    _state = _State(clinic=pelican.settings.get("CLINIC", {}) or {})
    try:
        config = resolve(pelican.settings)
    except IntakeFormError as error:
        _stop(error)
        return
    _state.config = config
    pelican.settings["INTAKE_ORIGIN"] = config.origin
    if pelican.settings.get("GO_LIVE_CHECKS"):
        return  # the go-live checklist lists placeholders (and publishing runs with --fatal warnings)
    if config.endpoint is None:
        logger.warning(
            "%s the endpoint is a placeholder: the form shows only the phone number", LOG_PREFIX
        )
    if config.public_key is None:
        logger.warning(
            "%s the public key is a placeholder: the form shows only the phone number", LOG_PREFIX
        )


def place_form(content) -> bool:
    """Replace the marker in one page or article with the form; True when the page has the form."""
    text = getattr(content, "_content", None) or ""
    if _state.config is None or "data-intake-form" not in text:
        return False
    found = len(MARKER.findall(text))
    if found == 0:
        return False
    source = getattr(content, "source_path", "a page")
    if found > 1:
        _stop(IntakeFormError(f"{source} places the intake form {found} times: once per page"))
    if _state.rendered is None:
        _state.rendered = render_form(_state.config, _state.clinic)
    content._content = MARKER.sub(lambda _match: _state.rendered, text)
    content.intake_form = True
    # The editorial plugin checks #anchor links against the ids it saw; the form's ids exist too.
    anchors = getattr(content, "anchor_ids", None)
    if isinstance(anchors, set):
        anchors.update(re.findall(r'\bid="([^"]+)"', _state.rendered))
    _state.pages.append(source)
    return True


_CONTENT_LISTS = (
    "pages",
    "hidden_pages",
    "draft_pages",
    "articles",
    "drafts",
    "translations",
    "hidden_translations",
    "draft_translations",
    "drafts_translations",
)


def on_generator_finalized(generator) -> None:
    # After every page's content_object_init (where the editorial plugin runs Typogrify), so the
    # form never passes through Typogrify, whatever order the two plugins' handlers run in.
    seen = set()
    for name in _CONTENT_LISTS:
        for content in getattr(generator, name, None) or []:
            if id(content) not in seen:
                seen.add(id(content))
                place_form(content)


def on_finalized(pelican) -> None:
    if _state.config is not None and not _state.pages:
        logger.warning(
            "%s no page holds the marker <div data-intake-form></div>: the form is on no page",
            LOG_PREFIX,
        )


def on_go_live_checklist(settings) -> list[str]:
    """Receiver for the editorial plugin's go-live checklist (sender: the Pelican settings)."""
    return go_live_items(settings)


def register() -> None:
    signals.initialized.connect(on_initialized)
    signals.page_generator_finalized.connect(on_generator_finalized)
    signals.article_generator_finalized.connect(on_generator_finalized)
    signals.finalized.connect(on_finalized)
    go_live_checklist.connect(on_go_live_checklist)
