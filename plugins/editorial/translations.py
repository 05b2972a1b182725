"""Translations kept in step with the English text they were made from.

A page in another language says which English page it translates, and records the fingerprint of the
English text it was made from (the same fingerprint the clinical review uses, review.py):

    Lang: es
    Translation-of: depression
    Translated-from: sha256:…

`invoke new --lang es --translation-of SLUG` writes these fields; `invoke translated FILE` records
the English text of today once the translation has caught up with it.

- Pelican groups a page with its translations by `translation_key` (PAGE_TRANSLATION_ID): the
  English slug, for the English page and for each of its translations.
- A translation whose `Translated-from` no longer matches its English page is out of date: the build
  says so, and the page tells its readers, with a link to the English page.
- Go-live items: every English page without a translation in each of `languages`, and every
  translation that is out of date. (A translated medical page also needs its own clinical sign-off:
  review.py treats it like any medical page.)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from .review import fingerprint_of_file

_FINGERPRINT = re.compile(r"^sha256:[0-9a-f]{64}$")
_LANG = re.compile(r"^[a-z]{2,3}$")


def translation_key(meta: Mapping, slug: str) -> str:
    """The English slug a page is known by in every language."""
    return str(meta.get("translation-of", "")).strip() or slug


def front_matter_problems(
    meta: Mapping, default_lang: str, languages: Iterable[str]
) -> list[tuple[str, str]]:
    """(field, message) for a page's language fields."""
    problems = []
    lang = str(meta.get("lang", default_lang)).strip()
    languages = list(languages)
    if not _LANG.match(lang) or lang not in languages:
        problems.append(
            ("Lang", f"{lang!r} is not a language of this site ({', '.join(languages)})")
        )
        return problems
    original = str(meta.get("translation-of", "")).strip()
    recorded = str(meta.get("translated-from", "")).strip()
    if lang == default_lang:
        for name, value in (("Translation-of", original), ("Translated-from", recorded)):
            if value:
                problems.append((name, f"only a page in another language than {default_lang!r}"))
        return problems
    if not original:
        problems.append(
            ("Translation-of", "missing: name the slug of the English page this page translates")
        )
    if not recorded:
        problems.append(
            (
                "Translated-from",
                "missing: run `invoke translated FILE` to record the English text it translates",
            )
        )
    elif not _FINGERPRINT.match(recorded):
        problems.append(
            ("Translated-from", "is not a fingerprint (written by `invoke translated FILE`)")
        )
    return problems


def link_originals(contents: list, default_lang: str) -> list[tuple[object, str, str]]:
    """Give each translation its English page and whether it is out of date.

    Returns (translation, field, message) for each translation whose English page does not exist.
    Each page's `fingerprint` (of its source, as review.py computes it) is already set.
    """
    originals = {c.slug: c for c in contents if getattr(c, "lang", default_lang) == default_lang}
    problems = []
    for content in contents:
        content.original = None
        content.translation_outdated = False
        if getattr(content, "lang", default_lang) == default_lang:
            continue
        original = originals.get(content.translation_key)
        if original is None:
            problems.append(
                (
                    content,
                    "Translation-of",
                    f"no English page has the slug {content.translation_key!r}",
                )
            )
            continue
        content.original = original
        recorded = str(content.metadata.get("translated-from", "")).strip()
        content.translation_outdated = recorded != original.fingerprint
    return problems


def go_live_lines(contents: list, default_lang: str, languages: Iterable[str], name) -> list[str]:
    """Missing and out-of-date translations; `name(content)` is how a page is named."""
    lines = []
    have = {(c.translation_key, c.lang) for c in contents}
    for content in contents:
        if content.lang != default_lang:
            if content.translation_outdated:
                lines.append(
                    f"{name(content)}: out of date: {name(content.original)} changed since it "
                    "was translated (update it, then run `invoke translated FILE`)"
                )
            continue
        for lang in languages:
            if lang != default_lang and (content.translation_key, lang) not in have:
                lines.append(f"{name(content)}: no translation in {lang!r}")
    return lines


def record(path: Path, original: Path) -> str:
    """Write the fingerprint of `original` into the translation at `path`; returns it."""
    value = fingerprint_of_file(original)
    text = path.read_text(encoding="utf-8")
    head, blank, body = text.partition("\n\n")
    lines = [line for line in head.splitlines() if not line.lower().startswith("translated-from:")]
    at = next(
        (i + 1 for i, line in enumerate(lines) if line.lower().startswith("translation-of:")),
        len(lines),
    )
    lines.insert(at, f"Translated-from: {value}")
    path.write_text("\n".join(lines) + blank + body, encoding="utf-8")
    return value


def scaffold(
    title: str, slug: str, lang: str, original: Path, translated_slugs: Mapping[str, str]
) -> str:
    """The new translation `invoke new --lang L --translation-of SLUG` writes.

    Every required field, the fingerprint of the English text as it is today, the English page's
    Medical and Related (as the slugs of their translations, where these exist) and its References
    (sources stay in their original language); the text is the sample text of `invoke new`, which
    the go-live checklist names until it is replaced.
    """
    from .review import (  # noqa: PLC0415 (the scaffold is the review module's)
        SCAFFOLD_HEADING,
        SCAFFOLD_PARAGRAPH,
        SCAFFOLD_SUMMARY,
        SCAFFOLD_TEXT,
        read_source,
    )

    meta, body = read_source(original)
    lines = [
        f"Title: {title}",
        f"Slug: {slug}",
        f"Lang: {lang}",
        f"Translation-of: {meta.get('slug') or original.stem}",
        f"Translated-from: {fingerprint_of_file(original)}",
        f"Summary: {SCAFFOLD_SUMMARY}",
    ]
    if meta.get("medical"):
        lines.append(f"Medical: {meta['medical']}")
    related = [s.strip() for s in meta.get("related", "").split(",") if s.strip()]
    related = [translated_slugs[s] for s in related if s in translated_slugs]
    if related:
        lines.append(f"Related: {', '.join(related)}")
    lines += ["", SCAFFOLD_PARAGRAPH, "", f"## {SCAFFOLD_HEADING}", "", SCAFFOLD_TEXT]
    references = re.search(r"^## References.*?\n(.*)", body, re.S | re.M)
    if references:
        lines += ["", "## References {#references}", "", references.group(1).strip()]
    return "\n".join(lines) + "\n"
