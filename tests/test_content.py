"""The site's words, checked on the built site.

Every page in the site map exists; medical pages carry their sources and review line; no page
makes a claim the content brief rules out; the reading level holds; no sentence of the clinic's old
draft is reused; the mechanism diagram is accessible; and the facts issue 9 asked for are on the site
(the full safety lists, the FDA's 2023 communication, the trials' numbers, the intake form's options
and text-message terms, prices with the whole course, the privacy page's CalOPPA items).

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
        # Added with issue 9 (the corrected brief); titles checked against the journals' records.
        "10.1038/nrn1519",  # Markram et al. 2004
        "10.1001/jamanetworkopen.2024.17786",  # Jha et al. 2024 (ELEKT-D secondary analysis)
        "10.1001/jamapsychiatry.2025.3019",  # Jelovac et al. 2025 (KARMA-Dep 2)
        "10.1038/npp.2017.194",  # Taylor et al. 2018
        "10.1177/0269881119874457",  # Glue et al. 2020
        "10.1016/j.pain.2011.03.026",  # Noppers et al. 2011
        "10.1007/s40264-021-01120-9",  # Cotter et al. 2021
        "10.1038/s41380-021-01093-2",  # Bonaventura et al. 2021
    )
}
BRIEF_PMIDS = {"23982301", "9915326"}  # Murrough et al., Am J Psychiatry 2013; Hirota et al. 1999
# The FDA's safety communication of 10 October 2023 on compounded ketamine (no DOI; cited by address).
FDA_KETAMINE_2023 = (
    "https://www.fda.gov/drugs/human-drug-compounding/"
    "fda-warns-patients-and-health-care-providers-about-potential-risks-associated-compounded-ketamine"
)
BRIEF_URLS = {FDA_KETAMINE_2023}
OFF_LABEL_PAGES = ["depression", "anxiety", "crps-chronic-pain", "medical-disclaimer"]
CRISIS_BESIDE_FORM = (
    "If you are in crisis, call or text 988 (Suicide & Crisis Lifeline) or call 911. "
    "This form is not monitored around the clock."
)

# Claims the content brief rules out, as families of wordings rather than fixed phrases, so that a
# reworded claim is caught too ("does not cause any lasting harm" as well as "no long-term side
# effects"). Each pattern runs over the visible text of every page (re.IGNORECASE).
_DENY = (  # words that deny a harm: "no ...", "does not cause ...", "free of ..."
    r"(?:\bno|\bzero|\bwithout|\bfree\s+(?:of|from)|\bnever\s+(?:causes?|leads?\s+to|leaves?|results?\s+in"
    r"|has|had|carries|poses?)|(?:\bnot|n['’]t)\s+(?:cause|lead\s+to|leave|result\s+in|have|carry"
    r"|pose|produce|bring))"
)
_FILLER = (
    r"(?:\s+(?:any|known|serious|real|significant|risk\s+of|chance\s+of|kind\s+of|sort\s+of))*"
)
_LASTING = (
    r"(?:long[\s-]*lasting|lasting|long[\s-]*term|permanent|lifelong|life[\s-]*long|enduring"
    r"|irreversible)"
)
_HARM = (
    r"(?:\s+(?:side|adverse|negative|harmful|bad|ill|health))*[\s-]*(?:harms?|damage|effects?|risks?"
    r"|problems?|consequences?|injur(?:y|ies)|complications?|issues?)"
)
_COMPARED = (  # what "better than ..." may be compared with
    r"(?:\w+\s+){0,3}?(?:treatments?|therapy|therapies|medicines?|medications?|drugs?|antidepressants?"
    r"|pills?|ECT|options?|care|approach(?:es)?|methods?)\b"
)
RULED_OUT = {
    "no lasting harm": (
        rf"{_DENY}{_FILLER}\s+{_LASTING}{_HARM}\b"
        rf"|\b{_LASTING}{_HARM}\s+(?:is|are)\s+(?:zero|nil|none|non-?existent|unheard\s+of)\b"
    ),
    "no side effects": r"\b(?:no|zero)\s+(?:\w+\s+)?side[\s-]*effects?\b|\bside[\s-]*effect[\s-]*free\b",
    "better and safer": r"\bbetter,?\s+(?:and\s+)?safer\b|\bsafer,?\s+(?:and\s+)?better\b",
    "never share": r"\bnever\s+(?:share|shares|shared|disclose|discloses|sell|sells|pass)\b",
    "SSL protected": r"\bSSL\b",
    "permanent relief": (
        r"\bpermanent(?:ly)?\s+(?:relief|results?|fix|cure|solution|recovery)\b"
        r"|\b(?:gone|free|rid\s+of\s+\w+)\s+(?:for\s+good|forever|once\s+and\s+for\s+all)\b"
    ),
}
# These are ruled out as claims, but the same words also make honest sentences ("ketamine is not a
# cure", "no treatment is without risk", "it did not do better than midazolam"): they pass when a
# negation stands at most two words before them.
RULED_OUT_UNLESS_NEGATED = {
    "cure": (
        r"\bcur(?:e|es|ed|ing|ative)\b|\bcure[\s-]*all\b"
        r"|\b(?:eliminat|eradicat|banish)\w*\s+(?:your\s+|the\s+)?(?:depression|anxiety|pain|symptoms)\b"
        r"|\bheal(?:s|ed|ing)?\s+(?:your\s+|the\s+)?(?:depression|anxiety|pain|CRPS)\b"
    ),
    "guaranteed results": (
        r"\bguarant(?:ee|ees|eed|eeing)\b"
        r"|\bpromis(?:e|es|ed)\s+(?:you\s+)?(?:results?|relief|recovery|success|(?:that\s+)?(?:it|ketamine"
        r"|you)\s+will|to\s+(?:work|help|cure|fix|relieve|end))"
        r"|\b(?:always|definitely|certainly|surely)\s+(?:works?|helps?|succeeds?)\b"
        r"|\b(?:works?|helps?)\s+(?:for\s+)?(?:everyone|everybody|every\s+(?:patient|person)|all\s+patients)\b"
        r"|\b100\s*%\s+(?:success|effective|response)|\bsuccess\s+rate\s+of\s+100\b"
    ),
    "completely safe": (
        r"\b(?:completely|totally|perfectly|entirely|absolutely|fully|100\s*%|always)\s+"
        r"(?:safe|harmless|risk[\s-]*free)\b"
        r"|\brisk[\s-]*free\b|\bharmless\b|\bsafe\s+for\s+(?:everyone|everybody|anyone|all)\b"
        r"|\b(?:no|zero)\s+risks?\b(?![\s-]*free)|\bwithout\s+(?:any\s+)?risks?\b"
    ),
    "better or safer than other treatments": (
        r"\bsafer\s+than\b"
        rf"|\b(?:better|more\s+effective|more\s+successful|stronger|superior)\s+(?:than|to)\s+{_COMPARED}"
        rf"|\b(?:outperforms?|beats?|surpass(?:es)?)\s+{_COMPARED}"
    ),
}
NEGATION_BEFORE = re.compile(
    r"\b(?:not|no|never|cannot|can['’]t|won['’]t|isn['’]t|aren['’]t|didn['’]t|doesn['’]t|without)\b"
    r"(?:\W+\w+){0,2}\W*$",
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


def text_outside_references(document: Element) -> str:
    """Visible text without the References lists: a cited title must be quoted as published, even
    where the clinic's draft happens to use the same words."""
    body = document.find("body") or document
    skipped: set[int] = set()
    for heading in body.find_all("h2"):
        if is_references_heading(heading) and heading.parent is not None:
            siblings = heading.parent.children
            for sibling in siblings[siblings.index(heading) + 1 :]:
                if isinstance(sibling, Element):
                    if sibling.tag.startswith("h") and sibling.tag[1:].isdigit():
                        break
                    skipped.add(id(sibling))

    def text(element: Element) -> str:
        parts = []
        for child in element.children:
            if isinstance(child, str):
                parts.append(child)
            elif id(child) not in skipped and child.tag not in {"script", "style", "template"}:
                parts.append(text(child))
        return " ".join(parts)

    return squash(text(body))


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


# Claims the brief rules out, each family in several wordings: every one must be caught.
RULED_OUT_VARIANTS = [
    # no lasting, permanent or long-term harm, effects or risks
    "There are no long-term side effects of ketamine.",
    "Ketamine has no long-term side effects.",
    "Ketamine does not cause any lasting harm.",
    "Ketamine doesn’t cause lasting damage.",
    "Ketamine won't lead to any permanent damage.",
    "Our infusions leave no lasting effects.",
    "Ketamine is free of long-term risks.",
    "Treatment without any long-lasting side effects.",
    "It never causes permanent harm.",
    "There is no risk of lasting harm.",
    "Ketamine has zero known long-term adverse effects.",
    "Long-term risks are non-existent.",
    "Infusions carry no serious long term health risks.",
    "There are no side effects.",
    "Our treatment is side-effect free.",
    # completely or totally safe
    "Ketamine is completely safe.",
    "IV ketamine is totally safe for you.",
    "Ketamine is 100% safe.",
    "A risk-free treatment.",
    "Infusions are perfectly harmless.",
    "Ketamine is safe for everyone.",
    "There is no risk.",
    "You can try it without any risk.",
    # cure
    "Ketamine can cure depression.",
    "Ketamine cures depression.",
    "A cure-all for pain.",
    "There is no doubt that ketamine will cure you.",
    "Ketamine eliminates depression.",
    "Infusions heal your anxiety.",
    "Your pain will be gone for good.",
    "Permanent relief from CRPS.",
    # guaranteed results
    "Results are guaranteed.",
    "We guarantee relief.",
    "We promise results.",
    "We promise that ketamine will work for you.",
    "Ketamine always works.",
    "Ketamine works for everyone.",
    "A 100% success rate.",
    # better or safer than other treatments
    "Faster, better, and safer than conventional treatments.",
    "Ketamine is safer than antidepressants.",
    "Ketamine works better than other treatments.",
    "IV ketamine is more effective than ECT.",
    "Ketamine is superior to traditional antidepressant medications.",
    "Ketamine outperforms standard care.",
    # the privacy and security claims
    "We never share your information with 3rd parties.",
    "This site is SSL protected.",
]

# Honest sentences (several from the site itself) that use the same words: none may be caught.
HONEST_VARIANTS = [
    "Long-term effects of repeated treatment are not well studied.",
    "The effects of repeated ketamine treatment over months or years have not been well studied.",
    "We do not know whether there are long-term effects.",
    "Long-term safety is not known.",
    "Ketamine is not a cure for depression.",
    "We can’t promise a cure.",
    "Ketamine is not a cure, and no one can promise results.",
    "There is no guarantee of results.",
    "We cannot promise any result.",
    "No one can promise how you will respond.",
    "It does not help everyone.",
    "Ketamine is not safe for everyone.",
    "No treatment is without risk.",
    "No treatment is risk-free.",
    "In a careful 2025 trial, a series of infusions did not do clearly better than a comparison drug.",
    "Ketamine was not worse than ECT.",
    "ECT led to remission in more people than ketamine did.",
    "That is faster than most depression treatments.",
    "Watching you closely in the clinic lowers these risks. It does not remove them.",
    "In a BAA, the company promises to protect the information.",
    "Ketamine is a promising treatment for some people.",
    "We do not sell your information.",
    "The connection is encrypted (HTTPS/TLS).",
    "Relief, when it comes, often fades over weeks.",
    "Frequent use has been linked to lasting bladder damage.",
]


@pytest.mark.parametrize(
    ("text", "ruled_out"),
    [(text, True) for text in RULED_OUT_VARIANTS] + [(text, False) for text in HONEST_VARIANTS],
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
        shared = runs_of(words_of(text_outside_references(parse(path)))) & draft_runs
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
    assert "viewBox" in svg.attrs, "the <svg> needs a viewBox"  # HTML5 parsing keeps SVG casing
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
    """Whether a DOI, PubMed or agency link names a source the content brief lists."""
    if href in BRIEF_URLS:
        return True
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
        (FDA_KETAMINE_2023, True),
        ("https://www.fda.gov/drugs/human-drug-compounding/", False),
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


# ---------------------------------------------------------------- the facts of issue 9


def section_text(prose: Element, heading: str) -> str:
    """Text under the <h2> whose text starts with `heading`, up to the next <h2>."""
    parts: list[str] = []
    inside = False
    for child in prose.children:
        if not isinstance(child, Element):
            continue
        if child.tag == "h2":
            if inside:
                break
            inside = squash(child.text()).lower().startswith(heading.lower())
        elif inside:
            parts.append(squash(child.text()))
    assert inside or parts, f"no section headed {heading!r}"
    return " ".join(parts)


def page_prose(site: Path, slug: str) -> Element:
    return prose_of(parse(page_file(site, slug)), slug)


def missing(text: str, needles: list[str]) -> list[str]:
    return [needle for needle in needles if needle.lower() not in text.lower()]


def test_safety_page_lists_every_reason_not_to_have_ketamine(site_output: Path):
    text = section_text(page_prose(site_output, "safety-and-side-effects"), "Who should not")
    reasons = [
        "blood pressure", "heart disease", "heart attack", "stroke", "aneurysm", "AVM",
        "bleeding in the brain", "pressure inside the skull", "inside the eye", "pregnancy",
        "breastfeeding", "psychosis", "misuse of alcohol or drugs", "severe liver disease",
        "allergy to ketamine",
    ]  # fmt: skip
    assert not missing(text, reasons), (
        f"'Who should not have ketamine' lacks {missing(text, reasons)}"
    )


def test_safety_page_gives_short_term_effects_day_rules_and_what_to_report(site_output: Path):
    prose = page_prose(site_output, "safety-and-side-effects")
    effects = section_text(prose, "Common short-term")
    acute = ["Dissociation", "Anxiety", "Confusion", "Nausea", "vomit", "Dizziness", "Drowsiness",
             "Headache", "Blurred vision", "blood pressure", "heart rate"]  # fmt: skip
    assert not missing(effects, acute), f"short-term effects lack {missing(effects, acute)}"
    day = section_text(prose, "On the day")
    rules = [
        "alcohol",
        "cannabis",
        "sedatives",
        "drive",
        "machines",
        "big decisions",
        "night's sleep",
    ]
    assert not missing(day.replace("’", "'"), rules), (
        f"infusion-day rules lack {missing(day, rules)}"
    )
    report = section_text(prose, "Tell us right away")
    signs = ["pass urine", "blood in your urine", "cravings", "mood"]
    assert not missing(report, signs), f"'what to report' lacks {missing(report, signs)}"


DEPENDENCE_DEFINITION = re.compile(r"\bdependence means\b([^.]*)", re.IGNORECASE)


@pytest.mark.parametrize("slug", ["safety-and-side-effects", "faq"])
def test_dependence_is_defined_as_the_body_adapting_not_as_addiction(site_output: Path, slug: str):
    text = squash(page_prose(site_output, slug).text())
    definitions = DEPENDENCE_DEFINITION.findall(text)
    assert definitions, f"{slug}: no sentence says what dependence means"
    for definition in definitions:
        assert "body" in definition and not re.search(r"crav|strong need|control", definition), (
            f"{slug}: dependence must be the body adapting (tolerance, withdrawal), not craving: "
            f"{definition!r}"
        )
    assert re.search(r"\baddiction\b[^.]*\b(?:crav\w*|control)\b", text, re.IGNORECASE), (
        f"{slug}: addiction (craving, loss of control) is not told apart from dependence"
    )


def test_safety_page_cites_the_fda_and_calls_the_risks_ketamines_own(site_output: Path):
    prose = page_prose(site_output, "safety-and-side-effects")
    assert FDA_KETAMINE_2023 in reference_links(prose), "the FDA's 2023 communication is not cited"
    risks = section_text(prose, "Known risks")
    needed = ["ketamine itself", "misuse", "blood pressure", "slowed breathing", "bladder",
              "lowers them", "does not remove them", "not FDA-approved for any mental health"]  # fmt: skip
    assert not missing(risks, needed), f"'Known risks' lacks {missing(risks, needed)}"


def test_crps_page_warns_about_the_liver_and_says_what_is_monitored(site_output: Path):
    prose = page_prose(site_output, "crps-chronic-pain")
    liver = section_text(prose, "Long or repeated infusions and your liver")
    needed = [
        "harm the liver",
        "Three of them",
        "100 hours",
        "blood tests",
        "pass urine",
        "blood in your urine",
    ]
    assert not missing(liver, needed), (
        f"crps-chronic-pain: the liver section lacks {missing(liver, needed)}"
    )
    links = reference_links(prose)
    for doi in ("10.1016/j.pain.2011.03.026", "10.1007/s40264-021-01120-9"):
        assert f"https://doi.org/{doi}" in links, f"crps-chronic-pain: doi:{doi} is not cited"
    studies = section_text(prose, "What the studies show")
    assert "midazolam" in studies and "clonidine" in studies, (
        "Schwartzman's premedication is missing"
    )
    assert re.search(r"weak, or found no good evidence", studies), (
        "the guideline's weak-or-absent rating for pain other than CRPS is missing"
    )


def test_is_ketamine_right_for_me_gives_the_pain_guideline_rating(site_output: Path):
    text = squash(page_prose(site_output, "is-ketamine-right-for-me").text())
    assert re.search(r"moderate", text) and re.search(r"weak, or found none", text), (
        "is-ketamine-right-for-me: the guideline ratings for CRPS and other pain are missing"
    )


def test_depression_page_gives_the_trials_numbers_and_limits(site_output: Path):
    prose = page_prose(site_output, "depression")
    series = section_text(prose, "What the studies show")
    needed = ["6 in 10", "24 people", "41", "no comparison group", "2025", "65", "up to 8",
              "midazolam", "no clear difference"]  # fmt: skip
    assert not missing(series, needed), (
        f"depression: the series evidence lacks {missing(series, needed)}"
    )
    ect = section_text(prose, "How ketamine compares with ECT")
    needed = ["403", "inpatients", "outpatients", "not worse", "55 in 100", "41 in 100",
              "33 of 203", "5 of 200", "186", "63 in 100", "46 in 100", "12 months"]  # fmt: skip
    assert not missing(ect, needed), f"depression: the ECT comparison lacks {missing(ect, needed)}"
    spravato = section_text(prose, "Ketamine and esketamine")
    needed = ["March 2019", "2020", "January 2025", "on its own", "two hours"]
    assert not missing(spravato, needed), (
        f"depression: Spravato's approvals lack {missing(spravato, needed)}"
    )
    links = reference_links(prose)
    assert "https://doi.org/10.1001/jamapsychiatry.2025.3019" in links, "KARMA-Dep 2 is not cited"


def test_opioid_page_describes_yoon_2025_and_lists_the_medicines(site_output: Path):
    prose = page_prose(site_output, "ketamine-and-opioid-receptors")
    naltrexone = section_text(prose, "The naltrexone question")
    needed = ["alcohol use disorder", "All three groups improved", "could not test"]
    assert not missing(naltrexone, needed), (
        f"Yoon 2025 is not described right: {missing(naltrexone, needed)}"
    )
    text = squash(prose.text())
    assert (
        "Antidepressant efficacy of ketamine plus naltrexone for major depression comorbid with "
        "alcohol use disorder: a randomized controlled trial" in text
    ), "Yoon 2025's title is wrong"
    assert "S-form" in text and "mu" in text and "kappa" in text, (
        "the animal work on the S-form is missing"
    )
    medicines = ["naltrexone", "buprenorphine", "methadone", "opioid", "benzodiazepines",
                 "sleeping pills", "alcohol", "stimulants", "MAOIs"]  # fmt: skip
    tell_us = section_text(prose, "What this means for you")
    assert not missing(tell_us, medicines), (
        f"the medicines list lacks {missing(tell_us, medicines)}"
    )


def test_anxiety_page_has_the_controlled_trials_and_stays_cautious(site_output: Path):
    prose = page_prose(site_output, "anxiety")
    links = reference_links(prose)
    for doi in ("10.1038/npp.2017.194", "10.1177/0269881119874457"):  # Taylor 2018, Glue 2020
        assert f"https://doi.org/{doi}" in links, f"anxiety: doi:{doi} is not cited"
    text = squash(prose.text())
    assert "early stage" in text and "small" in text, (
        "anxiety: the page no longer says early and small"
    )


def test_mechanism_page_sources_and_diagram_agree(site_output: Path):
    document = parse(page_file(site_output, "how-ketamine-works"))
    prose = prose_of(document, "how-ketamine-works")
    assert "https://doi.org/10.1038/nrn1519" in reference_links(prose), "Markram 2004 is not cited"
    text = squash(prose.text())
    assert "21 adults" in text and "did not show how long" in text, "Abdallah 2018 is misdescribed"
    titles = [
        squash(li.text())
        for li in prose.find_all("li")
        if any("doi.org" in a.attrs.get("href", "") for a in li.find_all("a"))
    ]
    assert titles and not [t for t in titles if "(a study in" in t], "animal notes inside titles"
    svg = main_of(document, "how-ketamine-works").find("svg")
    dashed = [r for r in svg.find_all("rect") if "stroke-dasharray" in r.attrs]
    assert len(dashed) == 3, f"the diagram dashes {len(dashed)} steps; the text says steps 3 to 5"
    assert "steps 3 to 5" in text, "the text no longer names the animal-only steps"
    assert "last three boxes" in squash(svg.parent.find("figcaption").text())


def test_every_price_comes_with_the_course_and_what_it_includes():
    for source in sorted((ROOT / "content" / "pages").glob("*.md")):
        text = source.read_text(encoding="utf-8")
        if "{clinic:price_infusion}" not in text:
            continue
        for needed in ("about six infusions", "booster", "{clinic:price_course_total}",
                       "{clinic:price_includes}"):  # fmt: skip
            assert needed in text, f"{source.name}: a price without {needed!r} (B&P §651)"


def test_intake_form_offers_no_ptsd_asks_about_buprenorphine_and_states_sms_terms(
    site_output: Path,
):
    form = main_of(parse(page_file(site_output, "is-ketamine-right-for-me")), "form").find("form")
    assert form is not None, "is-ketamine-right-for-me: no form"
    values = {i.attrs.get("value") for i in form.find_all("input")}
    assert "ptsd" not in values and "PTSD" not in squash(form.text()), "the form still offers PTSD"
    assert "buprenorphine" in values, "the medicines question has no buprenorphine option"
    sms = form.find("label", **{"for": "intake-consent_sms"})
    assert sms is not None, "no label for the text-message consent"
    label = squash(sms.text())
    for term in ("How often", "Message and data rates may apply", "Reply STOP to stop, HELP for help",
                 "do not have to agree to text messages to get care"):  # fmt: skip
        assert term in label, f"the SMS consent lacks {term!r}: {label!r}"
    with (ROOT / "content" / "forms" / "intake.toml").open("rb") as handle:
        version = tomllib.load(handle)["consent"]["wording_version"]
    assert form.attrs.get("data-wording-version") == version
    assert version > "2026-11-29", "the SMS wording changed, so wording_version must change too"
    typed = [e for e in form.iter() if e.tag == "textarea" or (
        e.tag == "input" and e.attrs.get("type") in {"text", "email", "tel"}
        and "data-intake-trap" not in e.attrs)]  # fmt: skip
    assert len(typed) == 4, [e.attrs.get("id") for e in typed]
    assert all(e.attrs.get("spellcheck") == "false" for e in typed), (
        "spellcheck must be off on every free-text field (issue 10): "
        + str({e.attrs.get("id"): e.attrs.get("spellcheck") for e in typed})
    )


def test_privacy_page_has_the_caloppa_items(site_output: Path):
    prose = page_prose(site_output, "privacy")
    text = squash(prose.text())
    needed = [
        "Effective date", "Cloudflare Pages", "IP address", "type of browser", "date and time",
        "sent from this website's intake page", "submission ID", "Email notices",
        "business associate agreement", "How long we keep it", "delete", "Do Not Track",
        "correct", "Changes to this page", "We do not sell your information",
    ]  # fmt: skip
    assert not missing(text.replace("’", "'"), needed), f"privacy lacks {missing(text, needed)}"
    host = section_text(prose, "What our website host can see")
    service = section_text(prose, "What the form service can see")
    for part, name in ((host, "host"), (service, "form service")):
        assert "IP address" in part and "browser" in part, f"privacy: the {name} list is incomplete"


def test_no_page_types_a_placeholder_itself():
    """Facts we do not have yet live in content/clinic.toml only: a page names them as {clinic:KEY}."""
    typed = [
        source.relative_to(ROOT).as_posix()
        for source in sorted((ROOT / "content" / "pages").rglob("*.md"))
        if "[TO CONFIRM" in source.read_text(encoding="utf-8")
    ]
    assert typed == []
