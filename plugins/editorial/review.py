"""Clinical review, tied to the text the clinician actually read.

- `fingerprint(title, summary, body)` and `fingerprint_of_file(path)`: a sha256 of a page's title,
  summary and Markdown body as written in its source (clinic `{clinic:…}` tokens unexpanded, so a new
  phone number does not void a review), with every run of whitespace made one space, so that re-wrapping
  or re-indenting the text does not count as a change. The Spanish edition reuses it to record which
  English text a translation was made from.
- Sign-offs live in one file, `content/clinical-reviews.toml`, which `invoke review` appends to and the
  reviewer commits: that commit is the audit trail. `load_signoffs` reads and checks it, `append_signoff`
  writes one entry, and `review_status` says whether a page's text now is the text that was signed off.
- The scaffold text of `invoke new` (`scaffold_page`) is a placeholder: `scaffold_left` finds what of it
  a page still holds, and the go-live checklist names that page.
- The review-related front matter: `Sources-checked` (optional, a date), and the retired `Reviewed` and
  `Reviewer` fields, which now fail the build with a pointer to `invoke review`.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from clinic_facts import is_placeholder, known

REVIEWS_FILE = "clinical-reviews.toml"  # in the content folder
YES = {"yes", "true", "1"}
NO = {"no", "false", "0"}
GUIDE = "docs/editing.md, section Clinical review"

REVIEWS_HEADER = """\
# Clinical reviews: the audit trail of which text of each medical page a clinician reviewed, and when.
#
# Written by `invoke review PAGE --reviewer KEY` (docs/editing.md, "Clinical review"); do not edit it by
# hand. Each [[signoff]] records the page (its file under content/), the reviewer (a key of [reviewers] in
# content/clinic.toml), the date, and the fingerprint (sha256) of the page's title, summary and text as the
# reviewer read them. A page says "Medically reviewed" only while its text still has that fingerprint: any
# edit of substance puts it back to "awaiting review" until a new sign-off. The reviewer commits this
# file; that commit is the record of the review. Keep old entries: they are the history.
"""

# ---------------------------------------------------------------- the source and its fingerprint

_META = re.compile(r"^[ ]{0,3}([A-Za-z0-9_-]+):\s*(.*)$")
_META_MORE = re.compile(r"^[ ]{4,}(.*)$")
_FENCE = re.compile(r"^(-{3}|\.{3})(\s.*)?$")


def split_source(text: str) -> tuple[dict[str, str], str]:
    """A Markdown source as (front matter with lower-case keys, body), read as Pelican reads it."""
    lines = text.splitlines()
    meta: dict[str, str] = {}
    start = 1 if lines and _FENCE.match(lines[0]) and lines[0].startswith("---") else 0
    key = None
    index = start
    while index < len(lines):
        line = lines[index]
        if not line.strip() or (start and _FENCE.match(line)):
            index += 1
            break
        field, more = _META.match(line), _META_MORE.match(line)
        if field:
            key = field.group(1).lower()
            meta[key] = field.group(2).strip()
        elif more and key:
            meta[key] = f"{meta[key]} {more.group(1).strip()}"
        else:
            break  # the body starts without a blank line
        index += 1
    return meta, "\n".join(lines[index:])


def read_source(path: Path | str) -> tuple[dict[str, str], str]:
    return split_source(Path(path).read_text(encoding="utf-8-sig"))


def normalised(text: str) -> str:
    """Text with every run of whitespace (spaces, tabs, line breaks) made one space."""
    return " ".join(str(text).split())


def fingerprint(title: str, summary: str, body: str) -> str:
    """The fingerprint of what a reviewer read: "sha256:" and 64 hex digits."""
    parts = [normalised(title), normalised(summary), normalised(body)]
    digest = hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode("utf-8")).hexdigest()
    return f"sha256:{digest}"


def fingerprint_of_file(path: Path | str) -> str:
    """`fingerprint` of a Markdown source file's Title, Summary and body."""
    meta, body = read_source(path)
    return fingerprint(meta.get("title", ""), meta.get("summary", ""), body)


# ---------------------------------------------------------------- the scaffold of `invoke new`

SCAFFOLD_SUMMARY = "One plain sentence of 70 to 160 characters that says what this page is about."
SCAFFOLD_PARAGRAPH = "Write the first paragraph here: short sentences and everyday words."
SCAFFOLD_HEADING = "A first heading"
SCAFFOLD_TEXT = "More text."
SCAFFOLD_REFERENCE = (
    "Author A, et al. What the study found. *Journal*. Year. "
    "[doi:10.xxxx/xxxx](https://doi.org/10.xxxx/xxxx)"
)
SCAFFOLD_RELATED = "what-to-expect, safety-and-side-effects"


def scaffold_page(title: str, slug: str, *, medical: bool) -> str:
    """The new page `invoke new` writes: every required field, and sample text to replace."""
    lines = [f"Title: {title}", f"Slug: {slug}", f"Summary: {SCAFFOLD_SUMMARY}"]
    if medical:
        lines += ["Medical: yes", f"Related: {SCAFFOLD_RELATED}"]
    lines += ["", SCAFFOLD_PARAGRAPH, "", f"## {SCAFFOLD_HEADING}", "", SCAFFOLD_TEXT]
    if medical:
        lines += ["", "## References", "", f"1. {SCAFFOLD_REFERENCE}"]
    return "\n".join(lines) + "\n"


def scaffold_left(summary: str, body: str) -> list[str]:
    """What of the scaffold text a page still holds, each as the words to look for."""
    lines = [normalised(line) for line in body.splitlines()]
    found = []
    if normalised(SCAFFOLD_SUMMARY) in normalised(summary):
        found.append(f"the sample summary {SCAFFOLD_SUMMARY!r}")
    if "Write the first paragraph here" in normalised(body):
        found.append("'Write the first paragraph here'")
    if f"## {SCAFFOLD_HEADING}" in lines:
        found.append(f"the heading {SCAFFOLD_HEADING!r}")
    if SCAFFOLD_TEXT in lines:
        found.append(repr(SCAFFOLD_TEXT))
    if "10.xxxx" in body:
        found.append("the sample reference doi:10.xxxx")
    return found


# ---------------------------------------------------------------- front matter


def parse_date(value: str) -> datetime.date | None:
    try:
        return datetime.date.fromisoformat(value) if len(value) == 10 else None
    except ValueError:
        return None


def front_matter_problems(meta: Mapping, today: datetime.date) -> list[tuple[str, str]]:
    """(field, message) for the review-related fields of one page's front matter."""
    problems = []
    if "reviewed" in meta:
        problems.append(
            (
                "Reviewed",
                "no longer used: a clinical review is recorded with `invoke review` "
                f"({GUIDE}); for the date the writers checked the sources, write "
                "`Sources-checked: YYYY-MM-DD`",
            )
        )
    if "reviewer" in meta:
        problems.append(
            (
                "Reviewer",
                "no longer used: `invoke review PAGE --reviewer KEY` records who reviewed the page "
                f"in content/{REVIEWS_FILE} ({GUIDE})",
            )
        )
    checked = str(meta.get("sources-checked", "")).strip()
    if "sources-checked" in meta:
        date = parse_date(checked)
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", checked):
            problems.append(("Sources-checked", f"{checked!r} is not a date written YYYY-MM-DD"))
        elif date is None:
            problems.append(("Sources-checked", f"{checked!r} is not a real date"))
        elif date > today:
            problems.append(("Sources-checked", f"{checked} is in the future"))
    return problems


# ---------------------------------------------------------------- the sign-off file


@dataclass(frozen=True)
class SignOff:
    page: str  # the source file relative to the content folder, e.g. "pages/depression.md"
    reviewer: str  # a key of [reviewers] in content/clinic.toml
    date: datetime.date
    fingerprint: str
    line: int = 0  # where the entry starts in the file


_FIELDS = ("page", "reviewer", "date", "fingerprint")
_FINGERPRINT = re.compile(r"^sha256:[0-9a-f]{64}$")


def load_signoffs(
    path: Path, reviewers: Mapping, today: datetime.date
) -> tuple[list[SignOff], list[tuple[int, str, str]]]:
    """The sign-offs in `path` (none when it does not exist), and (line, field, message) problems."""
    if not path.is_file():
        return [], []
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        line = re.search(r"line (\d+)", str(error))
        return [], [(int(line.group(1)) if line else 1, "TOML", f"not valid TOML: {error}")]
    starts = [n for n, line in enumerate(text.splitlines(), 1) if line.strip() == "[[signoff]]"]
    problems: list[tuple[int, str, str]] = []
    other = sorted(set(data) - {"signoff"})
    if other:
        problems.append((1, other[0], "unknown table or key: the file holds only [[signoff]]"))
    entries = data.get("signoff", [])
    if not isinstance(entries, list):
        return [], [(1, "signoff", "must be written [[signoff]], one per sign-off")]
    signoffs = []
    for number, entry in enumerate(entries):
        line = starts[number] if number < len(starts) else 1
        found = entry_problems(entry, reviewers, today)
        problems += [(line, field, message) for field, message in found]
        if not found:
            signoffs.append(SignOff(**{k: entry[k] for k in _FIELDS}, line=line))
    return signoffs, problems


def entry_problems(entry: Mapping, reviewers: Mapping, today: datetime.date) -> list[tuple]:
    problems = [(key, "unknown field") for key in sorted(set(entry) - set(_FIELDS))]
    problems += [(key, "missing") for key in _FIELDS if key not in entry]
    if problems:
        return problems
    if not isinstance(entry["page"], str) or not entry["page"].endswith(".md"):
        problems.append(("page", f"{entry['page']!r} is not a page file such as pages/x.md"))
    key = entry["reviewer"]
    if key not in reviewers:
        known_keys = ", ".join(sorted(reviewers)) or "none yet"
        problems.append(
            ("reviewer", f"{key!r} is not a reviewer in content/clinic.toml (known: {known_keys})")
        )
    elif is_placeholder(reviewers[key].get("name")):
        problems.append(("reviewer", f"{key!r} is still a placeholder in content/clinic.toml"))
    date = entry["date"]
    if type(date) is not datetime.date:
        problems.append(("date", f"{date!r} is not a date written YYYY-MM-DD"))
    elif date > today:
        problems.append(("date", f"{date} is in the future"))
    if not isinstance(entry["fingerprint"], str) or not _FINGERPRINT.match(entry["fingerprint"]):
        problems.append(("fingerprint", "is not sha256: and 64 hex digits"))
    return problems


def signoff_toml(signoff: SignOff) -> str:
    return (
        "\n[[signoff]]\n"
        f"page = {json.dumps(signoff.page, ensure_ascii=False)}\n"
        f"reviewer = {json.dumps(signoff.reviewer, ensure_ascii=False)}\n"
        f"date = {signoff.date.isoformat()}\n"
        f'fingerprint = "{signoff.fingerprint}"\n'
    )


def append_signoff(path: Path, signoff: SignOff) -> None:
    """Add one entry at the end of the file, keeping what is there (the file starts with its header)."""
    text = path.read_text(encoding="utf-8") if path.is_file() else REVIEWS_HEADER
    if not text.endswith("\n"):
        text += "\n"
    path.write_text(text + signoff_toml(signoff), encoding="utf-8")


# ---------------------------------------------------------------- a page's review status


@dataclass(frozen=True)
class ReviewStatus:
    """What a medical page says about its review. `date`, `reviewer` and `credentials` are set only
    while a sign-off matches the text now (`current`); the JSON-LD and the sitemap read them."""

    fingerprint: str
    current: bool = False
    date: datetime.date | None = None
    reviewer: str = ""
    credentials: str = ""
    changed_since: datetime.date | None = None  # the last sign-off, when the text changed after it
    stale: bool = False

    @property
    def pending(self) -> bool:
        return not self.current


def review_status(
    page: str,
    current_fingerprint: str,
    signoffs: list[SignOff],
    reviewers: Mapping,
    *,
    today: datetime.date,
    max_age_days: int,
) -> ReviewStatus:
    mine = sorted((s for s in signoffs if s.page == page), key=lambda s: (s.date, s.line))
    matching = [s for s in mine if s.fingerprint == current_fingerprint]
    if not matching:
        return ReviewStatus(current_fingerprint, changed_since=mine[-1].date if mine else None)
    newest = matching[-1]
    reviewer = reviewers.get(newest.reviewer, {})
    return ReviewStatus(
        current_fingerprint,
        current=True,
        date=newest.date,
        reviewer=known(reviewer.get("name")) or "",
        credentials=known(reviewer.get("credentials")) or "",
        stale=(today - newest.date).days > max_age_days,
    )


def go_live_lines(name: str, status: ReviewStatus, max_age_days: int) -> list[str]:
    """The go-live checklist's lines for one medical page."""
    if status.changed_since is not None:
        return [
            f"{name}: awaiting clinical review: the text changed since its review on "
            f"{status.changed_since}"
        ]
    if not status.current:
        return [
            f"{name}: awaiting clinical review: never reviewed (a clinician reads it, then "
            f"`invoke review`: {GUIDE})"
        ]
    if status.stale:
        return [stale_line(name, status, max_age_days)]
    return []


def stale_line(name: str, status: ReviewStatus, max_age_days: int) -> str:
    return f"{name}: last reviewed on {status.date}, more than {max_age_days} days ago"
