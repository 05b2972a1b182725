"""Clinical review tied to the text the clinician read (issue 9), on real builds of a copy of the site.

One copy of content/ holds a page in each review state; it is built for local preview and for going
live. `invoke review` runs as editors run it, on its own copies.
"""

from __future__ import annotations

import datetime
import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from conftest import PRODUCTION_URL, ROOT, build_or_fail, invoke_new_in, run_pelican
from editorial.review import (
    SCAFFOLD_PARAGRAPH,
    SignOff,
    append_signoff,
    fingerprint,
    fingerprint_of_file,
    read_source,
    scaffold_page,
)
from htmltree import parse

TODAY = datetime.date.today()
RECENT = TODAY - datetime.timedelta(days=30)
OLDER = TODAY - datetime.timedelta(days=90)
EXPIRED = TODAY - datetime.timedelta(days=400)  # review_max_age_days is 365
REVIEWERS = {
    "dr-jane-roe": {"name": "Dr. Jane Roe", "credentials": "MD"},
    "dr-sam-poe": {"name": "Dr. Sam Poe", "credentials": "DO, psychiatry"},
}


def copy_content(root: Path) -> tuple[Path, dict]:
    """A copy of the real content/ whose clinic facts name two real-looking reviewers."""
    content = root / "content"
    shutil.copytree(ROOT / "content", content)
    with (content / "clinic.toml").open("rb") as handle:
        clinic = tomllib.load(handle)
    clinic["reviewers"].update(REVIEWERS)
    lines = [
        f'\n[reviewers.{key}]\nname = "{who["name"]}"\ncredentials = "{who["credentials"]}"\n'
        for key, who in REVIEWERS.items()
    ]
    with (content / "clinic.toml").open("a", encoding="utf-8") as handle:
        handle.writelines(lines)
    return content, clinic


def sign(content: Path, page: str, reviewer: str, date: datetime.date) -> None:
    """A sign-off for the page's text as it is now (what `invoke review` writes, dated as needed)."""
    entry = SignOff(page, reviewer, date, fingerprint_of_file(content / page))
    append_signoff(content / "clinical-reviews.toml", entry)


def edit_body(path: Path, change) -> None:
    head, sep, body = path.read_text(encoding="utf-8").partition("\n\n")
    path.write_text(head + sep + change(body), encoding="utf-8")


def rewrap(body: str) -> str:
    """The same words with other white space: lines re-wrapped, spaces doubled, blank lines added."""
    words = body.split(" ")
    return "  ".join(words[:10]) + "\n   " + " ".join(words[10:]).replace("\n\n", "\n\n\n") + "\n\n"


def log_of(result: subprocess.CompletedProcess) -> str:
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def states(tmp_path_factory, dev_keypair):
    """The site with one medical page in each review state, built locally and for going live."""
    root = tmp_path_factory.mktemp("review-states")
    content, clinic = copy_content(root)
    pages = content / "pages"
    sign(content, "pages/depression.md", "dr-jane-roe", RECENT)  # matches
    sign(content, "pages/anxiety.md", "dr-jane-roe", RECENT)  # then edited
    edit_body(pages / "anxiety.md", lambda body: body + "\nA sentence added after the review.\n")
    sign(content, "pages/faq.md", "dr-jane-roe", RECENT)  # then only white space changes
    edit_body(pages / "faq.md", rewrap)
    sign(content, "pages/crps-chronic-pain.md", "dr-jane-roe", EXPIRED)  # matches, but old
    sign(content, "pages/how-ketamine-works.md", "dr-jane-roe", OLDER)  # two match: the newer wins
    sign(content, "pages/how-ketamine-works.md", "dr-sam-poe", RECENT)
    # what-to-expect.md: never signed off. A new page that still holds the scaffold of `invoke new`:
    new_page = scaffold_page("Driving after an infusion", "driving", medical=True)
    (pages / "driving.md").write_text(new_page, encoding="utf-8")
    overrides = {"CLINIC": clinic}
    local = run_pelican(root / "output", content=content, overrides=overrides)
    assert local.returncode == 0, log_of(local)
    live = run_pelican(
        root / "live",
        settings="publishconf.py",
        content=content,
        overrides={**overrides, "GO_LIVE_CHECKS": True},
        env={"SITEURL": PRODUCTION_URL},
    )
    assert live.returncode == 1, log_of(live)
    return {"site": root / "output", "log": log_of(local), "checklist": log_of(live)}


def review_line(site: Path, slug: str) -> str:
    main = parse(site / slug / "index.html").one("main")
    lines = [e.visible_text() for e in main.iter() if "review" in e.classes()]
    assert len(lines) == 1, f"{slug}: {lines}"
    return lines[0]


def review_claims(site: Path, slug: str) -> dict:
    """What the JSON-LD and the sitemap say about the page's review."""
    document = parse(site / slug / "index.html")
    page = next(
        node
        for script in document.all("script", type="application/ld+json")
        for node in json.loads(script.raw())["@graph"]
        if node.get("@type") == "MedicalWebPage" or "MedicalWebPage" in node.get("@type", [])
    )
    sitemap = (site / "sitemap.xml").read_text(encoding="utf-8")
    entry = re.search(rf"<url><loc>[^<]*/{slug}/</loc>(.*?)</url>", sitemap)
    assert entry, f"{slug} is not in the sitemap"
    lastmod = re.search(r"<lastmod>(.*?)</lastmod>", entry.group(1))
    return {
        "reviewedBy": page.get("reviewedBy"),
        "lastReviewed": page.get("lastReviewed"),
        "lastmod": lastmod.group(1) if lastmod else None,
    }


def long(date: datetime.date) -> str:
    return date.strftime(f"%B {date.day}, %Y")


def awaiting_items(checklist: str) -> dict[str, str]:
    return dict(
        re.findall(r"\[ \] \S*pages/([\w-]+)\.md: awaiting clinical review: (.*)", checklist)
    )


# ---------------------------------------------------------------- the fingerprint


def test_the_fingerprint_ignores_white_space_and_nothing_else():
    base = fingerprint("Title", "A summary.", "One paragraph.\n\n## Heading\n\nMore words here.")
    assert base.startswith("sha256:") and len(base) == 71
    same = fingerprint(
        " Title ", "A  summary.", "One\nparagraph.\n\n\n## Heading\n\n  More words  here.\n"
    )
    assert same == base
    assert (
        fingerprint("Title", "A summary.", "One paragraph.\n\n## Heading\n\nMore words there.")
        != base
    )
    assert (
        fingerprint("Title", "A summary!", "One paragraph.\n\n## Heading\n\nMore words here.")
        != base
    )
    # A word moved from one field to the next is a different text.
    assert (
        fingerprint("Title A", "summary.", "One paragraph.\n\n## Heading\n\nMore words here.")
        != base
    )


def test_the_fingerprint_reads_the_source_with_clinic_tokens_unexpanded(tmp_path: Path):
    page = tmp_path / "page.md"
    page.write_text(
        "Title: T\nSlug: t\nSummary: S, call {clinic:phone}.\nMedical: yes\n\nCall {clinic:phone}.\n",
        encoding="utf-8",
    )
    meta, body = read_source(page)
    assert meta["summary"] == "S, call {clinic:phone}." and body.strip() == "Call {clinic:phone}."
    assert fingerprint_of_file(page) == fingerprint(
        "T", "S, call {clinic:phone}.", "Call {clinic:phone}."
    )


# ---------------------------------------------------------------- what each page shows


def test_a_page_never_signed_off_awaits_review_and_claims_none(states):
    assert review_line(states["site"], "what-to-expect").startswith("Awaiting clinical review.")
    assert review_claims(states["site"], "what-to-expect") == {
        "reviewedBy": None,
        "lastReviewed": None,
        "lastmod": None,
    }


def test_a_matching_sign_off_names_the_reviewer_the_date_and_goes_into_json_ld(states):
    line = review_line(states["site"], "depression")
    assert line == f"Medically reviewed by Dr. Jane Roe, MD on {long(RECENT)}"
    assert review_claims(states["site"], "depression") == {
        "reviewedBy": {"@type": "Person", "name": "Dr. Jane Roe", "honorificSuffix": "MD"},
        "lastReviewed": RECENT.isoformat(),
        "lastmod": RECENT.isoformat(),
    }
    time = parse(states["site"] / "depression" / "index.html").one("main").one("time")
    assert time.attrs["datetime"] == RECENT.isoformat()


def test_an_edit_after_the_sign_off_voids_it(states):
    line = review_line(states["site"], "anxiety")
    assert line == f"Changed since its clinical review on {long(RECENT)}: awaiting review."
    assert review_claims(states["site"], "anxiety") == {
        "reviewedBy": None,
        "lastReviewed": None,
        "lastmod": None,
    }


def test_a_white_space_only_edit_keeps_the_review(states):
    assert review_line(states["site"], "faq").startswith("Medically reviewed by Dr. Jane Roe, MD")
    assert review_claims(states["site"], "faq")["lastReviewed"] == RECENT.isoformat()


def test_the_newest_matching_sign_off_is_the_one_shown(states):
    line = review_line(states["site"], "how-ketamine-works")
    assert line == f"Medically reviewed by Dr. Sam Poe, DO, psychiatry on {long(RECENT)}"


def test_an_expired_sign_off_still_shows_its_date_and_warns(states):
    assert review_line(states["site"], "crps-chronic-pain") == (
        f"Medically reviewed by Dr. Jane Roe, MD on {long(EXPIRED)}"
    )
    assert (
        f"content/pages/crps-chronic-pain.md: last reviewed on {EXPIRED}, more than 365 days ago"
        in (states["log"])
    )
    assert "depression.md: last reviewed" not in states["log"]


def test_sources_checked_is_its_own_line_never_a_review(states):
    main = parse(states["site"] / "what-to-expect" / "index.html").one("main")
    checked = [e for e in main.iter() if "sources-checked" in e.classes()]
    assert (
        len(checked) == 1 and checked[0].visible_text() == "Sources last checked November 29, 2026"
    )
    assert "review" not in checked[0].classes()


# ---------------------------------------------------------------- the go-live checklist


def test_the_go_live_checklist_names_each_page_not_ready(states):
    checklist = states["checklist"]
    awaiting = awaiting_items(checklist)
    assert awaiting["what-to-expect"].startswith("never reviewed")
    assert awaiting["anxiety"] == f"the text changed since its review on {RECENT}"
    assert awaiting["driving"].startswith("never reviewed")
    for ready in ("depression", "faq", "how-ketamine-works", "crps-chronic-pain"):
        assert ready not in awaiting, checklist
    assert (
        f"content/pages/crps-chronic-pain.md: last reviewed on {EXPIRED}, more than 365 days ago"
        in checklist
    )
    assert "depression.md: last reviewed" not in checklist
    scaffold = re.search(
        r"content/pages/driving\.md: still holds the sample text of `invoke new`: (.*)", checklist
    )
    assert scaffold, checklist
    for piece in (
        "sample summary",
        "Write the first paragraph here",
        "A first heading",
        "More text.",
        "10.xxxx",
    ):
        assert piece in scaffold.group(1)
    assert "scaffold" not in checklist.replace("driving.md", "")
    assert "Traceback" not in checklist


def test_the_real_site_has_no_scaffold_text():
    for source in sorted((ROOT / "content" / "pages").glob("*.md")):
        assert SCAFFOLD_PARAGRAPH not in source.read_text(encoding="utf-8"), source.name


# ---------------------------------------------------------------- front matter


@pytest.mark.parametrize(
    ("line", "field", "message"),
    [
        (
            "Reviewed: 2026-11-01",
            "Reviewed",
            "no longer used: a clinical review is recorded with `invoke review`",
        ),
        (
            "Reviewer: clinical-reviewer",
            "Reviewer",
            "no longer used: `invoke review PAGE --reviewer KEY`",
        ),
        ("Sources-checked: 29/11/2026", "Sources-checked", "is not a date written YYYY-MM-DD"),
        ("Sources-checked: 2026-02-30", "Sources-checked", "is not a real date"),
        ("Sources-checked: 2999-01-01", "Sources-checked", "is in the future"),
    ],
    ids=["reviewed", "reviewer", "checked-format", "checked-impossible", "checked-future"],
)
def test_review_front_matter_is_checked(tmp_path: Path, line: str, field: str, message: str):
    content = tmp_path / "content"
    (content / "pages").mkdir(parents=True)
    page = f"Title: T\nSlug: t\nSummary: A fixture page about one thing, long enough to be a summary.\nMedical: yes\n{line}\n\nText.\n"
    (content / "pages" / "t.md").write_text(page, encoding="utf-8")
    result = run_pelican(tmp_path / "output", content=content)
    log = log_of(result)
    assert result.returncode == 1, log
    assert f"content/pages/t.md:5: {field}: " in log and message in log, log
    if field.startswith("Reviewe"):
        assert "docs/editing.md" in log


def test_a_broken_sign_off_file_stops_the_build_naming_the_line(tmp_path: Path, dev_keypair):
    content, clinic = copy_content(tmp_path)
    sign(content, "pages/depression.md", "dr-jane-roe", RECENT)
    record = content / "clinical-reviews.toml"
    record.write_text(
        record.read_text(encoding="utf-8")
        + '\n[[signoff]]\npage = "pages/anxiety.md"\nreviewer = "dr-nobody"\n'
        + f'date = {TODAY}\nfingerprint = "sha256:abc"\n',
        encoding="utf-8",
    )
    result = run_pelican(tmp_path / "output", content=content, overrides={"CLINIC": clinic})
    log = log_of(result)
    assert result.returncode == 1, log
    starts = [
        n for n, text in enumerate(record.read_text().splitlines(), 1) if text == "[[signoff]]"
    ]
    assert f"clinical-reviews.toml:{starts[1]}: reviewer: 'dr-nobody' is not a reviewer" in log, log
    assert f"clinical-reviews.toml:{starts[1]}: fingerprint: is not sha256" in log, log


# ---------------------------------------------------------------- invoke review and invoke new


def invoke(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def editable(tmp_path: Path, dev_keypair) -> tuple[Path, dict]:
    return copy_content(tmp_path)


def test_invoke_review_records_a_sign_off_the_build_then_shows(editable, tmp_path: Path):
    content, clinic = editable
    record = content / "clinical-reviews.toml"
    header = record.read_text(encoding="utf-8")
    done = invoke("review", "depression", "--reviewer", "dr-jane-roe", "--content", str(content))
    assert done.returncode == 0, log_of(done)
    assert "Recorded: pages/depression.md reviewed by Dr. Jane Roe" in done.stdout
    text = record.read_text(encoding="utf-8")
    assert text.startswith(header)  # the header and earlier entries stay
    entries = tomllib.loads(text)["signoff"]
    assert entries == [
        {
            "page": "pages/depression.md",
            "reviewer": "dr-jane-roe",
            "date": TODAY,
            "fingerprint": fingerprint_of_file(content / "pages" / "depression.md"),
        }
    ]
    # A page can be named by its file as well (a Spanish page has its own slug and file).
    by_file = invoke(
        "review", "pages/anxiety.md", "--reviewer", "dr-sam-poe", "--content", str(content)
    )
    assert by_file.returncode == 0, log_of(by_file)
    assert [e["page"] for e in tomllib.loads(record.read_text())["signoff"]] == [
        "pages/depression.md",
        "pages/anxiety.md",
    ]
    # The same sign-off again the same day is not written twice.
    again = invoke("review", "depression", "--reviewer", "dr-jane-roe", "--content", str(content))
    assert again.returncode == 0 and "Already recorded today" in again.stdout, log_of(again)
    assert len(tomllib.loads(record.read_text())["signoff"]) == 2
    site = build_or_fail(tmp_path / "output", content=content, overrides={"CLINIC": clinic})
    assert (
        review_line(site, "depression")
        == f"Medically reviewed by Dr. Jane Roe, MD on {long(TODAY)}"
    )
    assert review_line(site, "anxiety").startswith("Medically reviewed by Dr. Sam Poe")


@pytest.mark.parametrize(
    ("page", "reviewer", "message"),
    [
        (
            "depression",
            "clinical-reviewer",
            "'clinical-reviewer' is still a placeholder in content/clinic.toml",
        ),
        ("depression", "dr-nobody", "'dr-nobody' is not a reviewer in content/clinic.toml"),
        ("about", "dr-jane-roe", "pages/about.md is not a medical page"),
        ("no-such-page", "dr-jane-roe", "has the slug 'no-such-page'"),
    ],
    ids=["placeholder-reviewer", "unknown-reviewer", "not-medical", "no-such-page"],
)
def test_invoke_review_refuses(editable, page: str, reviewer: str, message: str):
    content, _clinic = editable
    record = content / "clinical-reviews.toml"
    before = record.read_text(encoding="utf-8")
    refused = invoke("review", page, "--reviewer", reviewer, "--content", str(content))
    assert refused.returncode != 0, log_of(refused)
    assert message in refused.stderr, log_of(refused)
    assert "Traceback" not in log_of(refused)
    assert record.read_text(encoding="utf-8") == before


def test_invoke_review_refuses_a_page_whose_build_fails(editable):
    content, _clinic = editable
    page = content / "pages" / "depression.md"
    edit_body(page, lambda body: body + "\n[gone]({filename}/pages/gone.md)\n")
    record = content / "clinical-reviews.toml"
    before = record.read_text(encoding="utf-8")
    refused = invoke("review", "depression", "--reviewer", "dr-jane-roe", "--content", str(content))
    assert refused.returncode != 0, log_of(refused)
    assert "The build has errors" in refused.stderr
    assert "pages/gone.md, which does not exist" in refused.stderr  # the build's own report
    assert record.read_text(encoding="utf-8") == before


def test_invoke_new_stamps_no_review_and_its_scaffold_is_refused(editable):
    content, _clinic = editable
    made = invoke_new_in(content, "Driving after an infusion", medical=True)
    assert made.returncode == 0, made.stderr
    text = (content / "pages" / "driving-after-an-infusion.md").read_text(encoding="utf-8")
    assert "Reviewed:" not in text and "Reviewer:" not in text and SCAFFOLD_PARAGRAPH in text
    refused = invoke(
        "review",
        "driving-after-an-infusion",
        "--reviewer",
        "dr-jane-roe",
        "--content",
        str(content),
    )
    assert refused.returncode != 0
    assert "still holds the sample text of `invoke new`" in refused.stderr, log_of(refused)
