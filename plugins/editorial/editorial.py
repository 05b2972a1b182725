"""The editors' contract, enforced at build time.

- Every page and article has `Title` and `Summary`; `Medical` is yes or no; `Sources-checked` is a
  date; the retired `Reviewed` and `Reviewer` fields point to `invoke review`.
- Every internal link (`{filename}`, `{static}`, `{attach}`, site paths, `#anchors`) resolves (links.py).
- A medical page counts as reviewed only while a sign-off in content/clinical-reviews.toml matches the
  fingerprint of its text (review.py). Sign-offs older than `review_max_age_days` warn.
- A page in another language names the English page it translates and the English text it was
  made from (translations.py); the build lists translations that are out of date.
- Its go-live items (clinic_facts' checklist): medical pages without a matching sign-off, old
  sign-offs, `[TO CONFIRM …]` written in a page, the scaffold text of `invoke new`, and missing or
  out-of-date translations.

It also runs Typogrify over page bodies with a cache of its own, fills `{clinic:KEY}` tokens from the
clinic facts, and gives templates a table of contents, the review status and related pages.

Problems are collected while Pelican reads the content and reported together, each naming file, line
and field; the build then stops with exit status 1 and no traceback.
"""

from __future__ import annotations

import datetime
import html
import logging
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path

from clinic_facts import (
    PLACEHOLDER_MARK,
    BuildStopped,
    SettingsError,
    facts_in,
    go_live_checklist,
    is_placeholder,
    lookup,
    plugin_options,
    render_fact,
)
from pelican import signals
from pelican.contents import Article, Page

from . import translations
from .links import drop_missing_static_links, link_problems
from .review import (
    NO,
    REVIEWS_FILE,
    YES,
    fingerprint,
    front_matter_problems,
    go_live_lines,
    load_signoffs,
    parse_date,
    read_source,
    review_status,
    scaffold_left,
    stale_line,
)
from .typography import TypogrifyCache

logger = logging.getLogger(__name__)
LOG_PREFIX = "[editorial]"

DEFAULTS = {
    "typogrify": True,
    "typogrify_ignore_tags": ["pre", "code", "script", "style", "svg", "form", "textarea"],
    "review_max_age_days": 365,
    "toc_min_headings": 4,
    # The site's languages; every page in the first (DEFAULT_LANG) needs a translation in the others.
    "languages": ["en"],
}

_TOKEN = re.compile(r"\{clinic:([a-z0-9_.]+)\}")
# An attribute value holding a token, and a link whose address is a fact (mailto:/tel: allowed).
_ATTR_WITH_TOKEN = re.compile(r"""(=\s*)(["'])([^"']*\{clinic:[^"']*)\2""")
_LINK_TOKEN = re.compile(
    r"""<a\b[^>]*\bhref=(["'])(?:mailto:|tel:|sms:)?\{clinic:([a-z0-9_.]+)\}\1[^>]*>(.*?)</a>""",
    re.S,
)
_ID = re.compile(r"""\bid\s*=\s*["']([^"']+)["']""")
_H2 = re.compile(r"<h2[^>]*\bid=\"([^\"]+)\"[^>]*>(.*?)</h2>", re.S)
_TAG = re.compile(r"<[^>]+>")


@dataclass
class Problem:
    source: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.field}: {self.message}"


@dataclass
class _State:
    settings: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    contents: list = field(default_factory=list)
    typogrify: TypogrifyCache | None = None
    signoffs: list = field(default_factory=list)


_state = _State()


# ---------------------------------------------------------------- settings


def merged_options(settings: dict) -> dict:
    """EDITORIAL merged over DEFAULTS, checked key by key."""
    options = plugin_options(settings, "EDITORIAL", DEFAULTS)
    if not isinstance(options["typogrify"], bool):
        raise SettingsError("EDITORIAL['typogrify'] must be True or False")
    if not all(isinstance(t, str) for t in options["typogrify_ignore_tags"]):
        raise SettingsError("EDITORIAL['typogrify_ignore_tags'] must be a list of tag names")
    languages = options["languages"]
    if not isinstance(languages, list) or not all(isinstance(code, str) for code in languages):
        raise SettingsError("EDITORIAL['languages'] must be a list of language codes")
    default = settings.get("DEFAULT_LANG", "en")
    if default not in languages:
        raise SettingsError(f"EDITORIAL['languages'] must include DEFAULT_LANG ({default!r})")
    for key in ("review_max_age_days", "toc_min_headings"):
        if not isinstance(options[key], int) or options[key] < 1:
            raise SettingsError(f"EDITORIAL['{key}'] must be a positive whole number")
    return options


# ---------------------------------------------------------------- helpers


def source_name(content) -> str:
    """The content file's path as an editor sees it: relative to the repository."""
    path = Path(content.source_path)
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def line_of(content, needle: str, *, front_matter_field: str | None = None) -> int:
    """1-based line of `needle` (or of a front-matter field) in the source; 1 when not found."""
    try:
        lines = Path(content.source_path).read_text(encoding="utf-8").splitlines()
    except OSError:
        return 1
    for number, line in enumerate(lines, 1):
        if front_matter_field is not None:
            if line.lower().startswith(front_matter_field.lower() + ":"):
                return number
            if not line.strip():  # end of the front matter
                break
        elif needle in line:
            return number
    return 1


def report(content, field_name: str, message: str, needle: str | None = None) -> None:
    if needle is None:
        line = line_of(content, "", front_matter_field=field_name)
    else:
        line = line_of(content, needle)
    _state.problems.append(Problem(source_name(content), line, field_name, message))


def plain_text(fragment: str) -> str:
    return html.unescape(_TAG.sub("", fragment)).strip()


def is_medical(content) -> bool:
    return str(content.metadata.get("medical", "no")).strip().lower() in YES


# ---------------------------------------------------------------- per content object


def check_front_matter(content) -> None:
    meta = content.metadata
    for required in ("title", "summary"):
        if not str(meta.get(required, "")).strip():
            report(
                content,
                required.capitalize(),
                "missing: every page needs one (see docs/editing.md)",
            )
    medical = str(meta.get("medical", "no")).strip().lower()
    if medical not in YES | NO:
        report(content, "Medical", f"{meta.get('medical')!r} is not yes or no")
    for field_name, message in front_matter_problems(meta, datetime.date.today()):
        report(content, field_name, message)
    default_lang = _state.settings.get("DEFAULT_LANG", "en")
    languages = _state.options["languages"]
    for field_name, message in translations.front_matter_problems(meta, default_lang, languages):
        report(content, field_name, message)


def fill_clinic_tokens(content, text: str) -> str:
    clinic = facts_in(_state.settings.get("CLINIC", {}), getattr(content, "lang", None))

    def fact_or_report(key: str, match_text: str):
        try:
            return lookup(clinic, key)
        except KeyError:
            report(
                content, "{clinic:" + key + "}", "no such fact in content/clinic.toml", match_text
            )
            return None

    def in_attribute(match: re.Match) -> str:
        def fill(token: re.Match) -> str:
            value = fact_or_report(token.group(1), token.group(0))
            return token.group(0) if value is None else render_fact(value, in_attribute=True)

        return match.group(1) + match.group(2) + _TOKEN.sub(fill, match.group(3)) + match.group(2)

    def in_text(match: re.Match) -> str:
        value = fact_or_report(match.group(1), match.group(0))
        return match.group(0) if value is None else render_fact(value)

    def placeholder_link(match: re.Match) -> str:
        # A link to a fact we do not have yet: show its text and the placeholder, link nowhere.
        value = fact_or_report(match.group(2), match.group(0))
        if value is None or not is_placeholder(value):
            return match.group(0)
        return f"{match.group(3)} {render_fact(value)}"

    if "{clinic:" not in text:
        return text
    text = _LINK_TOKEN.sub(placeholder_link, text)
    text = _ATTR_WITH_TOKEN.sub(in_attribute, text)
    return _TOKEN.sub(in_text, text)


def review_of(content) -> object | None:
    """The review status of a medical page, from the fingerprint of its source."""
    if not is_medical(content):
        return None
    return review_status(
        posixpath.normpath(content.relative_source_path),
        content.fingerprint,
        _state.signoffs,
        _state.settings.get("CLINIC", {}).get("reviewers", {}),
        today=datetime.date.today(),
        max_age_days=_state.options["review_max_age_days"],
    )


def on_content_init(content) -> None:
    if not isinstance(content, (Page, Article)) or not _state.options:
        return
    check_front_matter(content)
    content.translation_key = translations.translation_key(content.metadata, content.slug)
    text = content._content or ""
    content.literal_placeholder = PLACEHOLDER_MARK in text
    if _state.typogrify is not None and text:
        text = _state.typogrify(text)
    text = fill_clinic_tokens(content, text)
    text = drop_missing_static_links(
        text,
        Path(_state.settings["PATH"]),
        posixpath.dirname(content.relative_source_path),
        lambda message, href: report(content, "link", message, href),
    )
    content._content = text
    content.anchor_ids = set(_ID.findall(text))
    headings = [(anchor, plain_text(label)) for anchor, label in _H2.findall(text)]
    content.toc = headings if len(headings) >= _state.options["toc_min_headings"] else []
    # The fingerprint of the source as `invoke review` reads it: the clinical review compares it
    # with the sign-offs, and a translation with the fingerprint it was made from.
    meta, body = read_source(content.source_path)
    content.fingerprint = fingerprint(meta.get("title", ""), meta.get("summary", ""), body)
    content.review = review_of(content)
    content.scaffold_left = scaffold_left(meta.get("summary", ""), body)
    content.sources_checked = parse_date(str(content.metadata.get("sources-checked", "")).strip())
    content.related_pages = []
    _state.contents.append(content)


# ---------------------------------------------------------------- whole site


def resolve_related(by_slug: dict) -> None:
    for content in _state.contents:
        wanted = [
            s.strip() for s in str(content.metadata.get("related", "")).split(",") if s.strip()
        ]
        for slug in wanted:
            if slug in by_slug:
                content.related_pages.append(by_slug[slug])
            else:
                report(content, "Related", f"no page has the slug {slug!r}")


def warn_stale_reviews() -> None:
    for content in _state.contents:
        if content.review is not None and content.review.stale:
            line = stale_line(
                source_name(content), content.review, _state.options["review_max_age_days"]
            )
            logger.warning("%s %s: review it again before publishing", LOG_PREFIX, line)


def go_live_items() -> list[str]:
    """The editorial part of the go-live checklist: reviews, placeholders and scaffold in the text."""
    items = []
    for content in sorted(_state.contents, key=source_name):
        name = source_name(content)
        if content.review is not None:
            items += go_live_lines(name, content.review, _state.options["review_max_age_days"])
        if content.literal_placeholder:
            items.append(f"{name}: the text still holds a [TO CONFIRM …] placeholder")
        if content.scaffold_left:
            items.append(
                f"{name}: still holds the sample text of `invoke new`: "
                + ", ".join(content.scaffold_left)
            )
    default_lang = _state.settings.get("DEFAULT_LANG", "en")
    ordered = sorted(_state.contents, key=source_name)
    items += translations.go_live_lines(
        ordered, default_lang, _state.options["languages"], source_name
    )
    return items


def on_go_live_checklist(settings) -> list[str]:
    """Receiver for clinic_facts' go-live checklist (sender: the Pelican settings)."""
    if not _state.options:
        return []
    return go_live_items()


def on_initialized(pelican) -> None:
    global _state
    _state = _State(settings=pelican.settings)
    try:
        _state.options = merged_options(pelican.settings)
    except SettingsError as error:
        raise BuildStopped(f"{LOG_PREFIX} {error}") from error
    load_reviews(pelican.settings)
    if _state.options["typogrify"]:
        _state.typogrify = TypogrifyCache(
            Path(pelican.settings.get("CACHE_PATH", "cache")),
            _state.options["typogrify_ignore_tags"],
            load=bool(pelican.settings.get("LOAD_CONTENT_CACHE")),
        )


def load_reviews(settings) -> None:
    """The sign-offs; problems with the file join the content problems."""
    path = Path(settings["PATH"]) / REVIEWS_FILE
    reviewers = settings.get("CLINIC", {}).get("reviewers", {})
    _state.signoffs, problems = load_signoffs(path, reviewers, datetime.date.today())
    try:
        shown = str(path.relative_to(Path.cwd()))
    except ValueError:
        shown = str(path)
    _state.problems += [Problem(shown, line, name, message) for line, name, message in problems]


def on_all_generators_finalized(generators) -> None:
    if not _state.options:
        return
    context = generators[0].context
    settings = _state.settings
    content_root = Path(settings["PATH"])
    by_slug = {c.slug: c for c in _state.contents if getattr(c, "slug", None)}
    by_url = {c.url: c for c in _state.contents}
    resolve_related(by_slug)
    default_lang = settings.get("DEFAULT_LANG", "en")
    for content, field_name, message in translations.link_originals(_state.contents, default_lang):
        report(content, field_name, message)
    for content in _state.contents:
        if content.translation_outdated and not settings.get("GO_LIVE_CHECKS"):
            logger.warning(
                "%s %s is out of date: %s changed since it was translated",
                LOG_PREFIX,
                source_name(content),
                source_name(content.original),
            )
    for content, problem, needle in link_problems(_state.contents, context, content_root, by_url):
        report(content, "link", problem, needle=needle)
    if not settings.get("GO_LIVE_CHECKS"):
        warn_stale_reviews()
    if _state.problems:
        count = len(_state.problems)
        lines = [f"{LOG_PREFIX} {problem}" for problem in _state.problems]
        lines.append(
            f"{LOG_PREFIX} the build stopped: {count} problem{'s' * (count != 1)} in the content "
            "(each with file, line and field; docs/editing.md explains them)"
        )
        raise BuildStopped("\n".join(lines))


def on_finalized(pelican) -> None:
    if _state.typogrify is not None and pelican.settings.get("CACHE_CONTENT"):
        _state.typogrify.save()


def register() -> None:
    signals.initialized.connect(on_initialized)
    signals.content_object_init.connect(on_content_init)
    signals.all_generators_finalized.connect(on_all_generators_finalized)
    signals.finalized.connect(on_finalized)
    go_live_checklist.connect(on_go_live_checklist)
