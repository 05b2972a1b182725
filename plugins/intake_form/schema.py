"""The intake form's field schema: the field file (content/forms/intake.toml) checked into plain data.

`load_form` reads one field file and `check_form` turns its tables into frozen dataclasses
(`FormDefinition`, `Field`, `Option`) that the theme's templates lay out
(theme/templates/includes/intake_form.html). Every problem raises FieldDefinitionError with one
line naming the file, the field and the key. Nothing here knows about Pelican or HTML.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .browser_values import INPUT_MODES, check_autocomplete, check_pattern

CONSENT_CHANNELS = ("phone", "email", "sms")
TEXT_TYPES = {"text", "email", "tel"}
# Boxes a visitor types into. Each renders spellcheck="false": the enhanced spellcheck of some
# browsers sends what is typed to the browser maker's servers.
FREE_TEXT_TYPES = TEXT_TYPES | {"textarea"}
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
    "error_too_many",
    "wait_one_minute",
    "wait_minutes",
    "wait_unknown",
    "error_unavailable",
    "error_busy",
    "error_network",
    "error_timeout",
    "error_refused",
    "retry_hint",
)
FORM_KEYS = {"name", "heading_level", "privacy_note", *FORM_TEXTS}
# The texts intake.js fills in, each with its one placeholder and what goes there. No other text
# may hold a brace: a placeholder written into another text would show to visitors as it is.
TEXT_PLACEHOLDERS = {
    "error_too_many": (
        "{wait}",
        "the waiting time goes in words (wait_one_minute, wait_minutes or wait_unknown), "
        'for example "Please wait {wait} before you try again."',
    ),
    "wait_minutes": ("{n}", 'the number of minutes goes, for example "about {n} minutes"'),
}
CONSENT_KEYS = {"wording_version", "legend", "hint"}
# What the form's submission, the receiver and the staff tools put beside the answers. A field with
# one of these names would give the staff's table (`invoke decrypt --csv`, the inbox) two columns of
# one name, so the build refuses it. They come from:
# - the submission intake.js encrypts: v, form, sid, submitted_at, page, fields, consent (with one
#   key per channel and wording_version), lang (the form's language) and likely_spam (a filled trap);
# - the JWE header (kid) and the receiver's stored record (submission_id, received_at, jwe);
# - the staff tools' own columns (time, time_source, warning, consent_<key> for every key of the
#   consent table...), so no field other than a consent box may start with "consent_". The staff
#   tools are not part of the build: tests/test_intake_theme.py checks that their list of columns
#   (METADATA_FIELDS in staff/readers.py) stays inside this one.
RESERVED_NAMES = frozenset(
    {
        "v", "form", "sid", "submitted_at", "page", "fields", "consent", "lang", "likely_spam",
        "kid", "submission_id", "received_at", "jwe", "wording_version",
        "consent_wording_version", *(f"consent_{channel}" for channel in CONSENT_CHANNELS),
        "time", "time_source", "warning",
    }
)  # fmt: skip
RESERVED_PREFIX = "consent_"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_OPTION_VALUE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_FORM_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


class IntakeFormError(ValueError):
    """The intake form cannot be built as configured; the message is one line for the editor."""


class FieldDefinitionError(IntakeFormError):
    """The field definition file is not valid."""


@dataclass(frozen=True)
class Option:
    value: str
    label: str
    hint: str = ""


@dataclass(frozen=True)
class Field:
    """One question of the form, as the field file defines it (see docs/intake-form.md)."""

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
    rows: int = 5
    options: tuple[Option, ...] = ()
    channel: str = ""


@dataclass(frozen=True)
class FormDefinition:
    """One field file, checked: the form's texts, the consent table and the fields in order."""

    name: str
    heading_level: int
    texts: dict[str, str]
    consent: dict[str, str]
    fields: tuple[Field, ...]
    source: str = ""
    lang: str = ""
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def groups(self) -> tuple[tuple[Field, ...], ...]:
        """The fields in order, one group each, except that the run of consent boxes is one group
        (the template puts it in one fieldset; check_form made sure the boxes are together)."""
        groups: list[tuple[Field, ...]] = []
        for f in self.fields:
            if f.type == "consent" and groups and groups[-1][0].type == "consent":
                groups[-1] += (f,)
            else:
                groups.append((f,))
        return tuple(groups)


def load_form(path: Path, lang: str = "") -> FormDefinition:
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
    return check_form(data, source, lang)


def _text(where: str, table: Mapping, key: str, *, required: bool = True) -> str:
    value = table.get(key, "")
    if not isinstance(value, str):
        raise FieldDefinitionError(f"{where}: '{key}' must be text in quotes")
    if required and not value.strip():
        raise FieldDefinitionError(f"{where}: '{key}' is missing or empty")
    return value


def _check_placeholder(where: str, key: str, value: str) -> None:
    placeholder, meaning = TEXT_PLACEHOLDERS.get(key, ("", ""))
    if placeholder and placeholder not in value:
        raise FieldDefinitionError(f"{where}: '{key}' must contain {placeholder}, where {meaning}")
    rest = value.replace(placeholder, "", 1) if placeholder else value
    if "{" in rest or "}" in rest:
        allowed = f"{placeholder} once and no other" if placeholder else "no"
        raise FieldDefinitionError(f"{where}: '{key}' may contain {allowed} {{ or }}")


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


def check_form(data: Mapping, source: str = "the field file", lang: str = "") -> FormDefinition:
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
    for key, value in texts.items():
        _check_placeholder(where, key, value)

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
        lang=lang,
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
    if kind in FREE_TEXT_TYPES:
        if "maxlength" not in table:
            raise FieldDefinitionError(
                f"{where}: 'maxlength' is missing (the most characters allowed)"
            )
        values["maxlength"] = _whole_number(where, table, "maxlength", 1, 10000)
        if "spellcheck" in table and table["spellcheck"] is not False:
            raise FieldDefinitionError(
                f"{where}: 'spellcheck' must be false or left out: the form always turns spellcheck "
                "off, because some browsers' enhanced spellcheck sends what is typed to their servers"
            )
        if "autocomplete" in table:
            values["autocomplete"] = _browser_value(
                where, check_autocomplete, _text(where, table, "autocomplete")
            )
    if kind in TEXT_TYPES:
        if "inputmode" in table:
            values["inputmode"] = _text(where, table, "inputmode")
            if values["inputmode"] not in INPUT_MODES:
                modes = ", ".join(sorted(INPUT_MODES))
                raise FieldDefinitionError(f"{where}: 'inputmode' must be one of {modes}")
        if "pattern" in table:
            values["pattern"] = _browser_value(where, check_pattern, _text(where, table, "pattern"))
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
    _check_not_reserved(where, name, kind, values.get("channel", ""))
    return Field(**values)


def _check_not_reserved(where: str, name: str, kind: str, channel: str) -> None:
    if kind == "consent" and name == f"{RESERVED_PREFIX}{channel}":
        return  # a consent box's own column
    if name in RESERVED_NAMES or name.startswith(RESERVED_PREFIX):
        raise FieldDefinitionError(
            f"{where}: the name {name!r} is reserved: each submission already carries it beside the "
            f"answers (reserved: {', '.join(sorted(RESERVED_NAMES))}, and any name starting "
            f"{RESERVED_PREFIX!r}); choose another name"
        )


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


def _browser_value(where: str, check, value: str) -> str:
    try:
        return check(value)
    except ValueError as error:
        raise FieldDefinitionError(f"{where}: {error}") from error


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
