"""The Spanish edition: every page in both languages, linked both ways, in plain Spanish, kept in step.

Pairs and links are read from the real build; freshness (a fresh translation, an English edit that
makes it out of date, a missing translation) is checked on real builds of a copy of content/.
"""

from __future__ import annotations

import re
import shutil
import statistics
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from conftest import MEDICAL_PAGES, PRODUCTION_URL, ROOT, front_matter, invoke_new_in, run_pelican
from htmltree import parse

SPANISH = ROOT / "content" / "pages" / "es"
ENGLISH = ROOT / "content" / "pages"
# Common words of each language: a sentence is English when it has several English ones and no Spanish.
ENGLISH_WORDS = set(
    [
        "the",
        "and",
        "of",
        "to",
        "is",
        "are",
        "you",
        "your",
        "we",
        "our",
        "with",
        "for",
        "that",
        "this",
        "it",
        "be",
        "can",
        "may",
        "will",
        "have",
        "has",
        "not",
        "or",
        "from",
        "by",
        "at",
        "as",
        "was",
        "were",
        "which",
        "what",
        "who",
        "how",
        "when",
    ]
)
SPANISH_WORDS = set(
    [
        "el",
        "la",
        "los",
        "las",
        "de",
        "del",
        "y",
        "que",
        "es",
        "son",
        "usted",
        "su",
        "sus",
        "con",
        "para",
        "por",
        "una",
        "un",
        "en",
        "se",
        "no",
        "lo",
        "al",
        "más",
        "puede",
        "pueden",
        "le",
        "les",
        "como",
        "cuando",
    ]
)


def pages_in(folder: Path) -> dict[str, dict]:
    return {source.name: front_matter(source) for source in sorted(folder.glob("*.md"))}


def built(site: Path, url: str) -> Path:
    """The file a site-relative URL (as a page's `url`) is saved as."""
    path = url.split("#")[0]
    return site / (path + "index.html" if path.endswith("/") or not path else path)


def resolve(site: Path, page: Path, href: str) -> Path:
    """The built file a (relative) link on `page` leads to."""
    base = "/" + page.relative_to(site).as_posix()
    target = urlsplit(urljoin(base, href)).path.lstrip("/")
    return site / (target + "index.html" if target.endswith("/") or not target else target)


# ---------------------------------------------------------------- pairs and links


def test_every_english_page_has_a_spanish_counterpart_and_the_reverse():
    english = {meta["slug"] for meta in pages_in(ENGLISH).values()}
    spanish = {meta["translation-of"]: name for name, meta in pages_in(SPANISH).items()}
    assert english - set(spanish) == set(), "English pages without a Spanish translation"
    assert set(spanish) - english == set(), "Spanish pages translating no English page"
    for name, meta in pages_in(SPANISH).items():
        assert meta.get("lang") == "es", f"es/{name}: Lang is not es"
        assert re.fullmatch(r"sha256:[0-9a-f]{64}", meta.get("translated-from", "")), name


def test_pages_link_to_each_other_with_hreflang_and_a_language_switch(site_output: Path):
    problems = []
    for path in sorted(site_output.rglob("*.html")):
        name = path.relative_to(site_output).as_posix()
        doc = parse(path)
        lang = doc.one("html").attrs.get("lang")
        other = "en" if lang == "es" else "es"
        alternates = {
            link.attrs["hreflang"]: resolve(site_output, path, link.attrs["href"])
            for link in doc.all("link", rel="alternate")
            if "hreflang" in link.attrs
        }
        switch = [
            a for a in doc.all("a") if "lang-switch" in (a.parent.classes() if a.parent else ())
        ]
        if name.endswith("404.html") and switch:
            # Not found pages are not indexed: no hreflang pairs, but the switch all the same.
            if alternates:
                problems.append(f"{name}: a noindex page with hreflang alternates")
            counterpart = resolve(site_output, path, switch[0].attrs["href"])
        elif set(alternates) != {"en", "es", "x-default"}:
            problems.append(f"{name}: hreflang alternates {sorted(alternates)}")
            continue
        else:
            if alternates[lang] != path or alternates["x-default"] != alternates["en"]:
                problems.append(f"{name}: the alternates do not name this page and x-default=en")
            counterpart = alternates[other]
            if counterpart.is_file():
                back = {
                    link.attrs["hreflang"]: resolve(site_output, counterpart, link.attrs["href"])
                    for link in parse(counterpart).all("link", rel="alternate")
                }
                if back.get(lang) != path:
                    problems.append(f"{name}: its {other} version does not link back")
        if not counterpart.is_file() or parse(counterpart).one("html").attrs["lang"] != other:
            problems.append(f"{name}: its {other} version {counterpart} was not built")
            continue
        if len(switch) != 1:
            problems.append(f"{name}: expected one language switch, found {len(switch)}")
            continue
        link = switch[0]
        if link.attrs.get("hreflang") != other or link.attrs.get("lang") != other:
            problems.append(f"{name}: the language switch lacks hreflang/lang {other!r}")
        if resolve(site_output, path, link.attrs["href"]) != counterpart:
            problems.append(f"{name}: the language switch does not lead to the same page")
        if not link.visible_text() or "flag" in link.attrs.get("class", ""):
            problems.append(f"{name}: the language switch needs words, not a flag")
    assert problems == []


def test_spanish_pages_speak_spanish_around_the_text(site_output: Path):
    doc = parse(site_output / "es" / "depresion" / "index.html")
    assert doc.one("meta", property="og:locale").attrs["content"] == "es_US"
    assert doc.one("meta", property="og:locale:alternate").attrs["content"] == "en_US"
    crumbs = next(n for n in doc.iter() if "crumbs" in n.classes())
    assert crumbs.visible_text().startswith("Inicio")
    review = next(n for n in doc.iter() if "review" in n.classes())
    assert "revisión clínica" in review.visible_text()
    not_found = parse(site_output / "es" / "404.html")
    assert not_found.one("html").attrs["lang"] == "es"
    assert not_found.one("meta", name="robots").attrs["content"] == "noindex"


def test_sitemap_lists_both_languages_of_each_page(production_output: Path):
    ns = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9", "x": "http://www.w3.org/1999/xhtml"}
    root = ET.parse(production_output / "sitemap.xml").getroot()
    entries = {
        url.find("s:loc", ns).text: {
            link.get("hreflang"): link.get("href") for link in url.findall("x:link", ns)
        }
        for url in root.findall("s:url", ns)
    }
    assert f"{PRODUCTION_URL}/es/depresion/" in entries
    for loc, links in entries.items():
        assert set(links) == {"en", "es", "x-default"}, loc
        assert loc in links.values(), loc
        assert links["x-default"] == links["en"], loc
        assert entries[links["es"]] == links, f"{loc}: the Spanish entry lists other alternates"


def test_the_spanish_form_page_has_the_spanish_form(site_output: Path):
    doc = parse(site_output / "es" / "es-la-ketamina-para-mi" / "index.html")
    form = doc.one("form")
    assert form is not None and form.attrs.get("data-lang") == "es"
    text = form.visible_text()
    for spanish in ("Su nombre", "STOP", "HELP"):
        assert spanish in text, f"the Spanish form does not say {spanish!r}"
    assert "ptsd" not in {i.attrs.get("value") for i in form.all("input")}
    assert "buprenorphine" in {i.attrs.get("value") for i in form.all("input")}


# ---------------------------------------------------------------- plain Spanish


def body_text(source: Path) -> str:
    """A page's Markdown body as plain text, without the References list, tables or markup."""
    text = source.read_text(encoding="utf-8").split("\n\n", 1)[1]
    text = re.split(r"^## Referencias", text, flags=re.M)[0]
    text = re.sub(r"<[^>]+>", " ", text)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"\{[^}]*\}", " ", text)
    return re.sub(r"[#*_>|`-]", " ", text)


def test_spanish_medical_pages_read_easily():
    import textstat

    textstat.set_lang("es")
    spanish = {
        meta["translation-of"]: source
        for source in SPANISH.glob("*.md")
        for meta in [front_matter(source)]
    }
    scores = {slug: textstat.fernandez_huerta(body_text(spanish[slug])) for slug in MEDICAL_PAGES}
    assert statistics.median(scores.values()) >= 70, scores


def english_sentences(text: str) -> list[str]:
    found = []
    for sentence in re.split(r"(?<=[.!?:])\s+|\n+", text):
        words = re.findall(r"[a-záéíóúñü]+", sentence.lower())
        if len(words) < 5 or "to confirm" in sentence.lower():
            continue
        english = sum(w in ENGLISH_WORDS for w in words)
        spanish = sum(w in SPANISH_WORDS for w in words)
        if english >= 3 and english > 2 * spanish:
            found.append(sentence.strip())
    return found


def test_the_english_sentence_finder_finds_english():
    assert english_sentences("Usted puede llamar. You can call us at any time of the day.") == [
        "You can call us at any time of the day."
    ]
    assert english_sentences("La ketamina es un medicamento que se usa en cirugía.") == []


def test_no_spanish_page_is_left_with_english_sentences():
    problems = {
        source.name: english_sentences(body_text(source)) for source in sorted(SPANISH.glob("*.md"))
    }
    assert {name: found for name, found in problems.items() if found} == {}


# ---------------------------------------------------------------- kept in step


@pytest.fixture
def content_copy(tmp_path) -> Path:
    content = tmp_path / "content"
    shutil.copytree(ROOT / "content", content)
    return content


def checklist(result: subprocess.CompletedProcess) -> str:
    return result.stdout + result.stderr


def test_a_fresh_translation_is_in_step(site_output: Path):
    page = parse(site_output / "es" / "depresion" / "index.html")
    assert not [n for n in page.iter() if "translation-note" in n.classes()]


def test_an_english_edit_puts_its_translation_out_of_date(tmp_path, content_copy, dev_keypair):
    english = content_copy / "pages" / "depression.md"
    english.write_text(
        english.read_text(encoding="utf-8") + "\nA new paragraph of substance.\n", encoding="utf-8"
    )
    output = tmp_path / "output"
    result = run_pelican(output, content=content_copy)
    assert result.returncode == 0, checklist(result)
    assert "pages/es/depresion.md is out of date" in checklist(result)
    page = parse(output / "es" / "depresion" / "index.html")
    note = next(n for n in page.iter() if "translation-note" in n.classes())
    assert "se actualizó más recientemente" in note.visible_text()
    link = note.one("a")
    assert resolve(output, output / "es" / "depresion" / "index.html", link.attrs["href"]) == (
        output / "depression" / "index.html"
    )
    assert link.attrs["hreflang"] == "en" and link.attrs["lang"] == "en"
    # The English page itself says nothing of it; a whitespace-only edit would not count.
    assert not [
        n
        for n in parse(output / "depression" / "index.html").iter()
        if "translation-note" in n.classes()
    ]
    golive = run_pelican(
        tmp_path / "golive", content=content_copy, overrides={"GO_LIVE_CHECKS": "true"}
    )
    assert golive.returncode == 1
    assert re.search(
        r"pages/es/depresion\.md: out of date: .*pages/depression\.md changed", checklist(golive)
    )
    # Recording the translation as caught up (what `invoke translated` does) clears it.
    from editorial.translations import record

    record(content_copy / "pages" / "es" / "depresion.md", english)
    again = run_pelican(tmp_path / "again", content=content_copy)
    assert again.returncode == 0 and "out of date" not in checklist(again)


def test_a_whitespace_edit_keeps_the_translation_in_step(tmp_path, content_copy, dev_keypair):
    english = content_copy / "pages" / "anxiety.md"
    english.write_text(english.read_text(encoding="utf-8").replace(". ", ".  "), encoding="utf-8")
    result = run_pelican(tmp_path / "output", content=content_copy)
    assert result.returncode == 0 and "out of date" not in checklist(result)


def test_go_live_lists_a_missing_translation_and_unreviewed_spanish_pages(
    tmp_path, content_copy, dev_keypair
):
    (content_copy / "pages" / "es" / "accesibilidad.md").unlink()
    result = run_pelican(
        tmp_path / "output", content=content_copy, overrides={"GO_LIVE_CHECKS": "true"}
    )
    out = checklist(result)
    assert result.returncode == 1
    assert re.search(r"pages/accessibility\.md: no translation in 'es'", out), out
    # A Spanish medical page needs its own clinical sign-off, like the English one.
    assert re.search(r"pages/es/depresion\.md: .*review", out), out


def test_a_translation_of_no_page_stops_the_build(tmp_path, content_copy, dev_keypair):
    page = content_copy / "pages" / "es" / "ansiedad.md"
    page.write_text(
        page.read_text(encoding="utf-8").replace(
            "Translation-of: anxiety", "Translation-of: anxeity"
        ),
        encoding="utf-8",
    )
    result = run_pelican(tmp_path / "output", content=content_copy)
    assert result.returncode == 1
    assert "es/ansiedad.md:4: Translation-of: no English page has the slug 'anxeity'" in checklist(
        result
    )


def test_invoke_new_starts_a_translation_that_builds_and_stays_on_the_checklist(
    tmp_path, content_copy, dev_keypair
):
    (content_copy / "pages" / "es" / "que-esperar.md").unlink()
    made = invoke_new_in(content_copy, "Qué esperar", lang="es", translation_of="what-to-expect")
    assert made.returncode == 0, made.stdout + made.stderr
    new = content_copy / "pages" / "es" / "que-esperar.md"  # the accent dropped from the slug
    meta = front_matter(new)
    assert meta["lang"] == "es" and meta["translation-of"] == "what-to-expect"
    assert meta["medical"] == "yes"
    assert "seguridad-y-efectos-secundarios" in meta["related"]  # the Spanish slugs
    assert "## References {#references}" in new.read_text(encoding="utf-8")
    output = tmp_path / "output"
    result = run_pelican(output, content=content_copy)
    assert result.returncode == 0, checklist(result)
    assert (output / "es" / "que-esperar" / "index.html").is_file()
    assert "out of date" not in checklist(result)  # made from the English text as it is
    golive = run_pelican(
        tmp_path / "golive", content=content_copy, overrides={"GO_LIVE_CHECKS": "true"}
    )
    assert "pages/es/que-esperar.md: still holds the sample text of `invoke new`" in checklist(
        golive
    )


def test_invoke_new_translation_refuses_a_page_already_translated():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "invoke",
            "new",
            "Otra",
            "--lang",
            "es",
            "--translation-of",
            "depression",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "already has a translation in 'es'" in result.stdout + result.stderr
    assert not (SPANISH / "otra.md").exists()


def test_facts_in_words_come_in_the_page_language(site_output: Path):
    """{clinic:price_includes} shows the [languages.es] fact on a Spanish page, the other on English."""
    import tomllib

    clinic = tomllib.loads((ROOT / "content" / "clinic.toml").read_text(encoding="utf-8"))
    spanish = parse(site_output / "es" / "que-esperar" / "index.html").visible_text()
    english = parse(site_output / "what-to-expect" / "index.html").visible_text()
    assert clinic["languages"]["es"]["price_includes"] in spanish
    assert clinic["price_includes"] not in spanish
    assert clinic["price_includes"] in english
    assert clinic["languages"]["es"]["hours"] in spanish  # the footer too
