"""Reading what went on the wire as a server would, so that "nothing typed leaves in plaintext"
checks cannot be fooled by percent-encoding, '+' for a space, JSON escapes or base64url."""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import unquote, unquote_plus

_JSON_ESCAPE = re.compile(r'\\(?:u([0-9a-fA-F]{4})|(["\\/bfnrt]))')
_SIMPLE_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def json_unescape(text: str) -> str:
    """TEXT with JSON string escapes undone (\\u00e9, \\", \\n; surrogate pairs joined)."""

    def one(match: re.Match) -> str:
        if match.group(1):
            return chr(int(match.group(1), 16))
        return _SIMPLE_ESCAPES.get(match.group(2), match.group(2))

    undone = _JSON_ESCAPE.sub(one, text)
    return undone.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def readings(text: str) -> set[str]:
    """Every way a server could read TEXT: as sent, percent-decoded (with and without '+' as a
    space), JSON escapes undone, and these combined (twice over, for double encoding)."""
    found = {text}
    for _ in range(2):
        for item in list(found):
            found |= {unquote(item), unquote_plus(item), json_unescape(item)}
    return found


def leaks(wire: list[str], typed: dict[str, str]) -> list[str]:
    """The typed values found in any reading of anything on the wire."""
    texts = set().union(*(readings(t) for t in wire)) if wire else set()
    return [key for key, value in typed.items() if any(value in text for text in texts)]


def stored_texts(record_file) -> list[str]:
    """Every string in a stored JSON record, decoded: the JSON parsed (so escapes are undone), and
    each base64url part of any JWE in it decoded too (a header could carry plaintext)."""
    texts = []
    stack = [json.loads(record_file.read_text(encoding="utf-8"))]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            texts.append(item)
            for part in item.split("."):
                try:
                    raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
                except ValueError:
                    continue
                texts.append(raw.decode("utf-8", "replace"))
    return texts
