"""What `invoke decrypt` runs: decrypt stored intake submissions and print them.

Keys are in keys.py, finding and decrypting submissions in readers.py, the offline staff inbox in
inbox.py. This module prints: JSON lines or a CSV table on the output stream, one line per problem
on the error stream. Nothing here writes plaintext anywhere but the output stream it is given.
"""

from __future__ import annotations

import csv as csv_module
import json
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from .keys import KeyFileError, load_private_key
from .readers import (
    DecryptionError,
    Entry,
    decrypt_jwe,
    group,
    jwe_header,
    quoted,
    scan_file,
    visible,
)

# Spreadsheets run a cell that starts with one of these as a formula: never pass visitor text so.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "[U+0009]", "[U+000D]")
# JSON escapes C0 controls but not DEL, C1 or the bidi controls, which terminals may obey.
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _files(paths: Iterable[Path]) -> Iterable[Path]:
    for path in paths:
        path = Path(path)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file())
        else:
            yield path


def cell(value) -> str:
    """One value for a CSV cell: controls made visible, never read as a formula."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        value = "; ".join(str(item) for item in value)
    text = visible("" if value is None else str(value))
    return "'" + text if text.startswith(_FORMULA_START) else text


def entry_row(entry: Entry) -> dict[str, str]:
    """One submission flattened for a table: metadata columns, then fields, then consent."""
    submission = entry.submission
    row = {
        "time": cell(entry.time),
        "time_source": entry.time_source,
        "submitted_at": cell(submission.get("submitted_at")),
        "sid": cell(submission.get("sid")),
        "form": cell(submission.get("form")),
        "page": cell(submission.get("page")),
        "lang": cell(submission.get("lang")),
        "likely_spam": cell(bool(submission.get("likely_spam", False))),
        "warning": cell(entry.warning),
    }
    for name, value in (submission.get("fields") or {}).items():
        column = cell(name)
        row[column if column not in row else f"field_{column}"] = cell(value)
    for name, value in (submission.get("consent") or {}).items():
        row[f"consent_{cell(name)}"] = cell(value)
    return row


def write_csv(entries: list[Entry], out: TextIO) -> None:
    rows = [entry_row(e) for e in entries]
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    writer = csv_module.DictWriter(out, fieldnames=list(columns), restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)


def json_line(entry: Entry) -> str:
    record = {
        "time": entry.time,
        "time_source": entry.time_source,
        "warning": entry.warning,
        "files": entry.files,
        "submission": entry.submission,
    }
    line = json.dumps(record, ensure_ascii=False)
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", line)


def read_submissions(
    private_key, paths: Iterable[Path]
) -> tuple[list[Entry], int, list[tuple[str, str]]]:
    """Decrypt every submission in PATHS: (entries newest first, how many JWEs were found, the
    problems as (file, message) in the order met). The inbox gives the same on the same files."""
    problems: list[tuple[str, str]] = []
    tokens: dict[str, tuple[str | None, str]] = {}
    for path in _files(paths):
        try:
            data = path.read_bytes()
        except OSError as error:
            problems.append((str(path), f"cannot read ({error.strerror})"))
            continue
        scan = scan_file(data)
        if scan.error:
            problems.append((str(path), scan.error))
        for token, received in scan.found.items():
            earlier = tokens.get(token)
            if earlier is None:
                tokens[token] = (received, str(path))
            elif received and (not earlier[0] or received < earlier[0]):
                tokens[token] = (received, earlier[1])
    decrypted = []
    for token, (received, name) in tokens.items():
        try:
            decrypted.append((decrypt_jwe(token, private_key), received, name))
        except DecryptionError as error:
            problems.append((name, f"submission {_sid_or_start(token)}: cannot decrypt: {error}"))
    return group(decrypted), len(tokens), problems


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

    Prints JSON lines (`time`, `time_source`, `warning`, `files`, `submission`), newest first, or
    a CSV table with `csv`. Returns the exit code: 0 when all found decrypted, 1 otherwise (or
    none found). Warnings (two versions under one id) go to the error stream too.
    """
    out = out or sys.stdout
    err = err or sys.stderr
    paths = [Path(p) for p in paths]
    try:
        private_key = load_private_key(Path(key_path), passphrase, warn=err)
    except KeyFileError as error:
        print(f"error: {error}", file=err)
        return 1
    entries, found, problems = read_submissions(private_key, paths)
    for name, message in problems:
        print(f"{visible(name)}: {message}", file=err)  # a file name can hold controls too
    warned = set()
    for entry in entries:
        if entry.warning and entry.submission["sid"] not in warned:
            warned.add(entry.submission["sid"])
            print(f"warning: {entry.warning}", file=err)
    if found == 0 and not problems:
        print("no encrypted submission found in " + ", ".join(map(str, paths)), file=err)
        return 1
    if csv:
        write_csv(entries, out)
    else:
        for entry in entries:
            print(json_line(entry), file=out)
    return 1 if problems else 0


def _sid_or_start(token: str) -> str:
    try:
        sid = jwe_header(token).sid
    except DecryptionError:
        sid = ""
    return quoted(sid) if sid else token[:16] + "…"
