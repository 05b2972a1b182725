"""Values a field file hands to the browser as they are, and their checks: autofill tokens, input
modes and patterns. A value a browser does not understand would be ignored silently, so the build
refuses it. The checks raise ValueError; schema.py adds the file and field to the message.
"""

from __future__ import annotations

import re

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
# Browsers compile `pattern` with the RegExp `v` flag, where these must be escaped inside [...].
V_FLAG_RESERVED = set("()[]{}/|")


def check_autocomplete(value: str) -> str:
    """An `autocomplete` value browsers understand: on, off, or [section-*] [modifiers] field name."""
    tokens = value.split()
    if tokens in (["on"], ["off"]):
        return value
    valid = bool(tokens) and tokens[-1] in AUTOFILL_FIELDS
    valid = valid and all(t in AUTOFILL_MODIFIERS or t.startswith("section-") for t in tokens[:-1])
    if not valid:
        raise ValueError(
            f"'autocomplete' {value!r} is not an autofill token (for example name, email, tel)"
        )
    return value


def check_pattern(pattern: str) -> str:
    """A `pattern` that compiles and that browsers will not ignore under the RegExp `v` flag."""
    try:
        re.compile(pattern)
    except re.error as error:
        raise ValueError(f"'pattern' is not a valid pattern ({error})") from error
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
            character in V_FLAG_RESERVED
            or (character == "-" and pattern[position - 1] == "[")
            or (character == "-" and pattern[position + 1 : position + 2] == "]")
        ):
            raise ValueError(
                f"'pattern': inside [...] write {character!r} as '\\{character}' "
                "(browsers read patterns strictly and would ignore this one)"
            )
    return pattern
