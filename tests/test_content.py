"""The site's words, checked on the built site.

Every page in the site map exists; medical pages carry their sources and review line; no page
makes a claim the content brief rules out; the reading level holds; no sentence of the clinic's old
draft is reused; and the mechanism diagram is accessible.

All checks read the HTML that Pelican wrote (the `site_output` fixture in conftest.py).
"""

from __future__ import annotations

import re
import statistics
import tomllib
from pathlib import Path
from urllib.parse import unquote

import pytest
import textstat
from conftest import MEDICAL_PAGES, front_matter
from htmltree import Element, parse

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
DRAFT = DATA / "clinic-draft.txt"

# The URL contract (issue 4): page slug -> built file. The home page is the empty slug.
SITE_MAP = [
    "",
    *MEDICAL_PAGES,
    "is-ketamine-right-for-me",
    "faq",
    "about",
    "contact",
    "privacy",
    "medical-disclaimer",
    "accessibility",
]
MEDICAL = MEDICAL_PAGES

MIN_PROSE_WORDS = 300
MIN_REFERENCE_LINKS = 3
MEDIAN_GRADE_LIMIT = 8
MAX_GRADE_LIMIT = 12
REUSED_RUN = 8  # words in a row shared with the draft that count as reuse
SVG_MAX_BYTES = 4096

SOURCE_LINK = re.compile(r"^https://(?:doi\.org/10\.|pubmed\.ncbi\.nlm\.nih\.gov/\d+/?$)")

# The sources the content brief lists (../shared/content-brief.md), as DOIs (lower case) and PubMed
# ids. A page may cite only these: a new source is checked against the brief before it is added here.
# Glue 2017/2018 and Sanacora 2017 are named in the brief without a DOI: Glue's were checked on PubMed
# (28441895, 29561204), Sanacora's (JAMA Psychiatry 2017;74:399) against the journal's record.
BRIEF_DOIS = {
    doi.lower()
    for doi in (
        "10.1038/mp.2017.255",  # Zanos & Gould 2018
        "10.1124/pr.117.015198",  # Zanos et al. 2018
        "10.1126/science.1190287",  # Li et al. 2010
        "10.31887/DCNS.2014.16.1/rduman",  # Duman 2014
        "10.1038/nature10130",  # Autry et al. 2011
        "10.1523/JNEUROSCI.17-08-02921.1997",  # Moghaddam et al. 1997
        "10.1038/s41386-018-0136-3",  # Abdallah et al. 2018
        "10.1016/j.biopsych.2016.05.005",  # Lener et al. 2017
        "10.1016/S0006-3223(99)00230-9",  # Berman et al. 2000
        "10.1001/archpsyc.63.8.856",  # Zarate et al. 2006
        "10.1016/j.biopsych.2012.06.022",  # Murrough et al., Biol Psychiatry 2013
        "10.1176/appi.ajp.2018.18070834",  # Phillips et al. 2019
        "10.1056/NEJMoa2302399",  # Anand et al. 2023 (ELEKT-D)
        "10.1093/ijnp/pyab088",  # Ekstrand et al. 2022 (KetECT)
        "10.1177/0269881117705089",  # Glue et al. 2017
        "10.1177/0269881118762073",  # Glue et al. 2018
        "10.1016/j.pain.2010.09.030",  # Woolf 2011
        "10.1016/j.pain.2009.06.023",  # Sigtermans et al. 2009
        "10.1016/j.pain.2009.08.015",  # Schwartzman et al. 2009
        "10.1097/AAP.0000000000000808",  # Cohen et al. 2018
        "10.1176/appi.ajp.2018.18020138",  # Williams et al. 2018
        "10.1001/jamapsychiatry.2018.3990",  # Yoon et al. 2019
        "10.1093/ijnp/pyaf056",  # Yoon et al. 2025
        "10.1001/jamapsychiatry.2017.0080",  # Sanacora et al. 2017
        "10.1016/S2215-0366(17)30272-9",  # Short et al. 2018
    )
}
BRIEF_PMIDS = {"23982301", "9915326"}  # Murrough et al., Am J Psychiatry 2013; Hirota et al. 1999
OFF_LABEL_PAGES = ["depression", "anxiety", "crps-chronic-pain", "medical-disclaimer"]
CRISIS_BESIDE_FORM = (
    "If you are in crisis, call or text 988 (Suicide & Crisis Lifeline) or call 911. "
    "This form is not monitored around the clock."
)

# Claims the content brief rules out. Each pattern runs over the visible text of every page.
RULED_OUT = {
    "no long-term side effects": r"\bno\s+(?:known\s+)?long[\s-]*term\s+(?:side[\s-]*)?effects?\b",
    "no side effects": r"\b(?:no|zero)\s+side[\s-]*effects?\b",
    "better and safer": r"\bbetter,?\s+(?:and\s+)?safer\b|\bsafer,?\s+(?:and\s+)?better\b",
    "safer than": r"\bsafer\s+than\b",
    "better than other treatment": (
        r"\bbetter\s+than\s+(?:conventional|traditional|standard|other|existing|usual)\b"
    ),
    "completely safe": (
        r"\b(?:completely|totally|perfectly|entirely|100\s*%)\s+safe\b|\brisk[\s-]*free\b"
    ),
    "never share": r"\bnever\s+(?:share|shares|shared|disclose)\b",
    "SSL protected": r"\bSSL\b",
    "permanent relief": r"\bpermanent(?:ly)?\s+(?:relief|results?|fix)\b",
}
# These words are ruled out as promises, but "ketamine is not a cure" is an honest sentence:
# they pass when a negation stands at most two words before them.
RULED_OUT_UNLESS_NEGATED = {
    "cure": r"\bcur(?:e|es|ed|ing)\b",
    "guarantee": r"\bguarant(?:ee|ees|eed|eeing)\b",
}
NEGATION_BEFORE = re.compile(
    r"\b(?:not|no|never|cannot|can['’]t|won['’]t|isn['’]t|aren['’]t|without)\b(?:\W+\w+){0,2}\W*$",
    re.IGNORECASE,
)


def squash(text: str) -> str:
    return " ".join(text.split())


# ---------------------------------------------------------------- what the checks read


def page_file(site: Path, slug: str) -> Path:
    return site / "index.html" if not slug else site / slug / "index.html"


def main_of(document: Element, name: str) -> Element:
    main = document.find("main", id="main")
    assert main is not None, f'{name}: no <main id="main">'
    return main


def prose_of(document: Element, name: str) -> Element:
    main = main_of(document, name)
    prose = next((e for e in main.iter() if e.tag == "div" and "prose" in e.classes()), None)
    assert prose is not None, f'{name}: no <div class="prose"> inside <main>'
    return prose


def is_references_heading(element: Element) -> bool:
    return element.tag == "h2" and squash(element.text()).lower() == "references"


def prose_blocks(prose: Element) -> list[str]:
    """Text of each paragraph and list item (outermost only), References section excluded."""
    blocks: list[str] = []
    in_references = False

    def walk(element: Element) -> None:
        nonlocal in_references
        for child in element.children:
            if not isinstance(child, Element):
                continue
            if child.tag == "h2":
                in_references = is_references_heading(child)
            elif child.tag in {"figure", "svg", "form", "script", "style"}:
                continue
            elif child.tag in {"p", "li"}:
                if not in_references and (text := squash(child.text())):
                    blocks.append(text)
            else:
                walk(child)

    walk(prose)
    return blocks


def prose_text(blocks: list[str]) -> str:
    """One text for the readability formula (a list item ends a sentence)."""
    return " ".join(b if b[-1] in ".!?:" else b + "." for b in blocks)


def word_count(text: str) -> int:
    return len(re.findall(r"\w+(?:['’-]\w+)*", text))


def reference_links(prose: Element) -> list[str]:
    links: list[str] = []
    in_references = False
    for element in prose.iter():
        if element.tag == "h2":
            in_references = is_references_heading(element)
        elif in_references and element.tag == "a":
            links.append(element.attrs.get("href", ""))
    return links


def visible_text(document: Element) -> str:
    body = document.find("body") or document
    return squash(body.text())


def words_of(text: str) -> list[str]:
    """Lower-cased words with punctuation stripped; apostrophes vanish so "it's" matches "its"."""
    text = re.sub(r"['’‘]", "", text.lower())
    return re.findall(r"[a-z0-9]+", text)


def runs_of(words: list[str], length: int = REUSED_RUN) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + length]) for i in range(len(words) - length + 1)}


def in_context(text: str, match: re.Match) -> str:
    return f"...{text[max(0, match.start() - 60) : match.end() + 40]}..."


def ruled_out_claims(text: str) -> list[str]:
    found = []
    for label, pattern in RULED_OUT.items():
        for match in re.finditer(pattern, text, re.IGNORECASE):
            found.append(f"{label}: {in_context(text, match)}")
    for label, pattern in RULED_OUT_UNLESS_NEGATED.items():
        for match in re.finditer(pattern, text, re.IGNORECASE):
            before = text[max(0, match.start() - 80) : match.start()]
            if not NEGATION_BEFORE.search(before):
                found.append(f"{label}: {in_context(text, match)}")
    return found


def html_pages(site: Path) -> list[Path]:
    return sorted(site.rglob("*.html"))


# ---------------------------------------------------------------- the checks


@pytest.mark.parametrize("slug", SITE_MAP, ids=lambda s: s or "home")
def test_site_map_page_exists(site_output: Path, slug: str):
    path = page_file(site_output, slug)
    url = f"/{slug}/" if slug else "/"
    assert path.is_file(), f"{url} is in the site map but {path} was not built"


@pytest.mark.parametrize("slug", MEDICAL)
def test_medical_page_has_enough_prose(site_output: Path, slug: str):
    prose = prose_of(parse(page_file(site_output, slug)), slug)
    words = word_count(" ".join(prose_blocks(prose)))
    assert words >= MIN_PROSE_WORDS, (
        f"{slug}: {words} words of prose (paragraphs and list items, References excluded); "
        f"a medical page needs at least {MIN_PROSE_WORDS}"
    )


@pytest.mark.parametrize("slug", MEDICAL)
def test_medical_page_cites_primary_sources(site_output: Path, slug: str):
    prose = prose_of(parse(page_file(site_output, slug)), slug)
    assert any(is_references_heading(h) for h in prose.find_all("h2")), (
        f"{slug}: no '## References' section"
    )
    links = reference_links(prose)
    sources = [href for href in links if SOURCE_LINK.match(href)]
    assert len(sources) >= MIN_REFERENCE_LINKS, (
        f"{slug}: {len(sources)} DOI or PubMed links under References "
        f"(need {MIN_REFERENCE_LINKS}); links found there: {links}"
    )


@pytest.mark.parametrize("slug", MEDICAL)
def test_medical_page_shows_review_line(site_output: Path, slug: str):
    main = main_of(parse(page_file(site_output, slug)), slug)
    review = [e for e in main.iter() if "review" in e.classes()]
    assert review, f"{slug}: no element with class 'review' (who reviewed the page, and when)"
    assert squash(review[0].text()), f"{slug}: the review line is empty"


def test_no_page_makes_a_ruled_out_claim(site_output: Path):
    problems = []
    for path in html_pages(site_output):
        for claim in ruled_out_claims(visible_text(parse(path))):
            problems.append(f"{path.relative_to(site_output)}: {claim}")
    assert not problems, "claims the content brief rules out:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    ("text", "ruled_out"),
    [
        ("There are no long-term side effects of ketamine.", True),
        ("Long-term effects of repeated treatment are not well studied.", False),
        ("Faster, better, and safer than conventional treatments.", True),
        ("We never share your information with 3rd parties.", True),
        ("We do not sell your information.", False),
        ("This site is SSL protected.", True),
        ("The connection is encrypted (HTTPS/TLS).", False),
        ("Ketamine can cure depression.", True),
        ("Ketamine is not a cure for depression.", False),
        ("We can’t promise a cure.", False),
        ("There is no doubt that ketamine will cure you.", True),
        ("Results are guaranteed.", True),
        ("There is no guarantee of results.", False),
    ],
)
def test_ruled_out_patterns_catch_claims_and_pass_honest_sentences(text: str, ruled_out: bool):
    assert bool(ruled_out_claims(text)) is ruled_out, ruled_out_claims(text) or text


def test_medical_pages_reading_level(site_output: Path):
    grades, words = {}, {}
    for slug in MEDICAL:
        blocks = prose_blocks(prose_of(parse(page_file(site_output, slug)), slug))
        text = prose_text(blocks)
        grades[slug] = textstat.flesch_kincaid_grade(text)
        words[slug] = word_count(text)
    median, hardest = statistics.median(grades.values()), max(grades.values())
    figures = "\n".join(f"  {s:32} grade {g:5.1f}  {words[s]:5} words" for s, g in grades.items())
    message = (
        f"Flesch-Kincaid grade of the medical pages' prose: median {median:.1f} "
        f"(limit {MEDIAN_GRADE_LIMIT}), hardest {hardest:.1f} (limit {MAX_GRADE_LIMIT})\n{figures}"
    )
    assert median <= MEDIAN_GRADE_LIMIT and hardest <= MAX_GRADE_LIMIT, message


def test_no_sentence_of_the_draft_is_reused(site_output: Path):
    draft_runs = runs_of(words_of(DRAFT.read_text(encoding="utf-8")))
    assert draft_runs, f"{DRAFT} holds fewer than {REUSED_RUN} words"
    problems = []
    for path in html_pages(site_output):
        shared = runs_of(words_of(visible_text(parse(path)))) & draft_runs
        name = path.relative_to(site_output)
        problems += [f"{name}: '{' '.join(run)}'" for run in sorted(shared)]
    assert not problems, (
        f"runs of {REUSED_RUN} words copied from the clinic's draft (rewrite them):\n"
        + "\n".join(problems)
    )


@pytest.mark.parametrize("slug", OFF_LABEL_PAGES)
def test_off_label_statement(site_output: Path, slug: str):
    text = squash(main_of(parse(page_file(site_output, slug)), slug).text())
    assert re.search(r"\boff[\s\-\u2010\u2011]label\b", text, re.IGNORECASE), (
        f"{slug}: the page never says that this use of ketamine is off-label"
    )


def test_mechanism_diagram(site_output: Path):
    path = page_file(site_output, "how-ketamine-works")
    raw = re.findall(r"<svg\b.*?</svg>", path.read_text(encoding="utf-8"), re.S)
    assert len(raw) == 1, f"how-ketamine-works: expected one inline <svg>, found {len(raw)}"
    size = len(raw[0].encode("utf-8"))
    assert size < SVG_MAX_BYTES, f"the mechanism diagram is {size} bytes (limit {SVG_MAX_BYTES})"

    main = main_of(parse(path), "how-ketamine-works")
    svg = main.find("svg")
    assert svg is not None, "the mechanism diagram is not inside <main>"
    assert svg.attrs.get("role") == "img", 'the <svg> needs role="img"'
    title = svg.find("title")
    assert title is not None and squash(title.text()), "the <svg> needs a non-empty <title>"
    ids = {e.attrs["id"] for e in svg.iter() if "id" in e.attrs}
    labelled_by = svg.attrs.get("aria-labelledby", "").split()
    assert title.attrs.get("id") in labelled_by, "aria-labelledby must point to the <title>"
    assert set(labelled_by) <= ids, f"aria-labelledby names ids not in the svg: {labelled_by}"
    assert "viewbox" in svg.attrs, "the <svg> needs a viewBox"  # html.parser lower-cases names
    assert not {"width", "height"} & set(svg.attrs), "the <svg> must not fix its width or height"
    colours = [
        f"<{e.tag} {name}={e.attrs[name]!r}>"
        for e in svg.iter()
        for name in ("fill", "stroke", "color", "style")
        if name in e.attrs and e.attrs[name] not in ("none", "currentColor")
    ]
    assert not colours, f"hard-coded colours break the dark colour scheme: {colours}"
    figure = svg.parent
    assert figure is not None and figure.tag == "figure", "the <svg> should sit in a <figure>"
    assert figure.find("figcaption") is not None, "the diagram's <figure> needs a <figcaption>"


def brief_source(href: str) -> bool:
    """Whether a DOI or PubMed link names a source the content brief lists."""
    if href.startswith("https://doi.org/"):
        return unquote(href.removeprefix("https://doi.org/")).lower() in BRIEF_DOIS
    match = re.fullmatch(r"https://pubmed\.ncbi\.nlm\.nih\.gov/(\d+)/?", href)
    return bool(match) and match.group(1) in BRIEF_PMIDS


@pytest.mark.parametrize(
    ("href", "listed"),
    [
        ("https://doi.org/10.1056/NEJMoa2302399", True),
        ("https://doi.org/10.1056/nejmoa2302399", True),
        ("https://pubmed.ncbi.nlm.nih.gov/23982301/", True),
        ("https://doi.org/10.1056/NEJMoa2302398", False),
        ("https://pubmed.ncbi.nlm.nih.gov/23982300/", False),
        ("https://example.com/10.1056/NEJMoa2302399", False),
    ],
)
def test_brief_source_matches_exact_identifiers(href: str, listed: bool):
    assert brief_source(href) is listed


def test_every_reference_is_a_source_the_brief_lists(site_output: Path):
    problems = []
    for path in html_pages(site_output):
        document = parse(path)
        main = document.find("main", id="main")
        prose = next((e for e in main.iter() if "prose" in e.classes()), None) if main else None
        if prose is None:
            continue
        for href in reference_links(prose):
            if not brief_source(href):
                problems.append(f"{path.relative_to(site_output)}: {href}")
    assert not problems, (
        "references that are not sources in the content brief (check the DOI or PubMed id):\n"
        + "\n".join(problems)
    )


def test_mechanism_page_says_bdnf_and_new_synapses_are_from_animal_studies(site_output: Path):
    document = parse(page_file(site_output, "how-ketamine-works"))
    blocks = prose_blocks(prose_of(document, "how-ketamine-works"))
    for step in ("BDNF", "synapse"):
        assert any(step in b and "animal" in b.lower() for b in blocks), (
            f"how-ketamine-works: no paragraph says that the {step} step comes from animal studies"
        )
    desc = main_of(document, "how-ketamine-works").find("desc")
    assert desc is not None and squash(desc.text()).lower().count("animal") >= 2, (
        "the diagram's text alternative should say that the BDNF and synapse steps are from animals"
    )


def test_a_placeholder_reviewer_shows_as_awaiting_review(site_output: Path):
    # Pages no longer name a reviewer: sign-offs in content/clinical-reviews.toml do, and a
    # placeholder can never sign off, so while every reviewer is one, every medical page awaits review.
    with (ROOT / "content" / "clinic.toml").open("rb") as handle:
        reviewers = tomllib.load(handle)["reviewers"]
    all_placeholders = all(str(r["name"]).startswith("[TO CONFIRM") for r in reviewers.values())
    checked = 0
    for source in sorted((ROOT / "content" / "pages").glob("*.md")):
        meta = front_matter(source)
        if meta.get("medical", "").lower() != "yes":
            continue
        slug = meta.get("slug") or source.stem
        main = main_of(parse(page_file(site_output, slug)), slug)
        review = next((e for e in main.iter() if "review" in e.classes()), None)
        assert review is not None, f"{slug}: no review line"
        text = squash(review.text())
        assert "[TO CONFIRM" not in text, f"{slug}: the review line shows a placeholder: {text}"
        if all_placeholders:
            assert "Awaiting clinical review" in text, (
                f"{slug}: the reviewer is a placeholder, but the page says {text!r}"
            )
        checked += 1
    assert checked >= len(MEDICAL)


def test_crisis_notice_stands_beside_the_form(site_output: Path):
    slug = "is-ketamine-right-for-me"
    document = parse(page_file(site_output, slug))
    prose = prose_of(document, slug)
    assert CRISIS_BESIDE_FORM in squash(prose.text()), (
        f"{slug}: the page body does not carry the crisis notice: {CRISIS_BESIDE_FORM!r}"
    )
