"""Fast tests of plugins/site_meta's pure functions: CSS, CSP, headers, JSON-LD, sitemap, words."""

from __future__ import annotations

import datetime
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace

import pytest
from site_meta import site_meta as sm

ROOT = Path(__file__).resolve().parent.parent
THEME = ROOT / "theme"
HASH = "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='"  # of the empty string

REFERENCES_BODY = """
<p>Intro with a <a href="https://example.org/not-a-citation">link</a>.</p>
<h2 id="does-it-work">Does it work&nbsp;quickly?</h2>
<p>Often within a&nbsp;day.</p>
<ul><li>Not always.</li></ul>
<h2 id="why">Why this matters</h2>
<p>Statement.</p>
<h2 id="references">References</h2>
<ol>
<li>Murrough <span class="caps">JW</span>, et al. A trial. <em>Am J Psychiatry</em>. 2013.
<a href="https://pubmed.ncbi.nlm.nih.gov/23982301/">PubMed 23982301</a></li>
<li>Short B, et al. A review. <a href="https://doi.org/10.1016/S2215-0366(17)30272-9">doi</a>
<ul><li>nested <a href="https://example.org/nested">note</a></li></ul></li>
</ol>
"""

CLINIC = {
    "name": "Ketamine Clinics of Los Angeles",
    "short_name": "Ketamine Clinics LA",
    "medical_director": "Dr. Steven Mandel",
    "phone": "[TO CONFIRM: main phone number]",
    "phone_e164": "+13105550123",
    "email": "[TO CONFIRM: contact email address]",
    "map_url": "[TO CONFIRM: map]",
    "address": {
        "street": "[TO CONFIRM: street address]",
        "locality": "Los Angeles",
        "region": "CA",
        "postal_code": "[TO CONFIRM: ZIP code]",
        "country": "US",
    },
}
SETTINGS = {"SITENAME": CLINIC["name"], "DEFAULT_LANG": "en", "CLINIC": CLINIC}
STRINGS = {
    "home": "Home",
    "service_name": "IV ketamine infusion therapy",
    "topics": {
        "default": {"type": "Drug", "name": "Ketamine"},
        "depression": {"type": "MedicalCondition", "name": "Depression"},
    },
}


def fake_page(slug="depression", *, review="reviewed", body=REFERENCES_BODY, save_as=None):
    reviews = {
        None: None,
        "reviewed": SimpleNamespace(
            date=datetime.date(2026, 1, 2),
            reviewer="Dr. Jane Roe",
            credentials="MD",
            pending=False,
            stale=False,
        ),
        "pending": SimpleNamespace(
            date=datetime.date(2026, 1, 2),
            reviewer="[TO CONFIRM: reviewer]",
            credentials="[TO CONFIRM: degree]",
            pending=True,
            stale=False,
        ),
    }
    return SimpleNamespace(
        slug=slug,
        url="" if slug == "home" else f"{slug}/",
        save_as=save_as or ("index.html" if slug == "home" else f"{slug}/index.html"),
        title="Ketamine for <em>depression</em>",
        summary="<p>What studies show &amp; what they do not.</p>",
        content=body,
        review=reviews[review],
        status="published",
    )


def graph_of(page, siteurl="https://www.example.test"):
    options = sm.merged_options({})
    return sm.page_graph(page, siteurl=siteurl, settings=SETTINGS, options=options, strings=STRINGS)


def by_type(graph, name):
    for node in graph:
        types = node["@type"] if isinstance(node["@type"], list) else [node["@type"]]
        if name in types:
            return node
    return None


# ---------------------------------------------------------------- settings and strings


def test_defaults_pass_the_checks():
    assert sm.merged_options({}) == sm.DEFAULTS


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("css", "must be a dict"),
        ({"colour": "teal"}, "unknown keys: colour"),
        ({"strings": ""}, "'strings'"),
        ({"faq_pages": "faq"}, "'faq_pages'"),
        ({"hsts_max_age": -1}, "'hsts_max_age'"),
    ],
)
def test_bad_settings_are_refused_by_name(given, message):
    with pytest.raises(sm.SettingsError, match=re.escape(message)):
        sm.merged_options({"SITE_META": given})


def test_strings_fall_back_to_english_key_by_key(tmp_path: Path):
    path = tmp_path / "strings.toml"
    path.write_text('[en]\nhome = "Home"\nskip = "Skip"\n[es]\nhome = "Inicio"\n', encoding="utf-8")
    assert sm.strings_in(sm.load_all_strings(path), "es") == {"home": "Inicio", "skip": "Skip"}
    assert sm.strings_in(sm.load_all_strings(path), "fr")["home"] == "Home"


def test_unreadable_strings_name_the_file(tmp_path: Path):
    path = tmp_path / "strings.toml"
    path.write_text("[en\n", encoding="utf-8")
    with pytest.raises(sm.SettingsError, match="strings.toml"):
        sm.strings_in(sm.load_all_strings(path), "en")


def test_every_string_the_templates_use_is_defined():
    strings = sm.strings_in(sm.load_all_strings(THEME / "strings.toml"), "en")
    used = set()
    for template in (THEME / "templates").rglob("*.html"):
        used |= set(re.findall(r"\bS\.([a-z_]+)", template.read_text(encoding="utf-8")))
    assert used, "the templates use no strings? (they refer to them as S.key)"
    assert sorted(used - set(strings)) == []


# ---------------------------------------------------------------- CSS and CSP


def test_minify_keeps_meaning():
    css = "/* note */\nnav  :focus { color:  red ; }\na > b,\n c { margin: 0 auto; }\n"
    assert sm.minify_css(css) == "nav :focus{color:red}a>b,c{margin:0 auto}"


def test_csp_hash_is_base64_sha256():
    assert sm.csp_hash("") == HASH


def test_reading_page_policy_allows_no_script_and_no_connection():
    policy = sm.content_security_policy(
        style_hash=HASH, form_page=False, form_origin="https://forms.example", for_meta=True
    )
    assert "script-src" not in policy
    assert "connect-src 'self';" in policy  # harmless without script; Lighthouse reads robots.txt
    assert "default-src 'none'" in policy
    assert f"style-src {HASH}" in policy
    assert "form-action 'none'" in policy
    assert "frame-ancestors" not in policy  # ignored (and warned about) in a <meta>


def test_form_page_policy_allows_its_script_and_the_endpoint_origin():
    policy = sm.content_security_policy(
        style_hash=HASH,
        form_page=True,
        form_origin="https://forms.example",
        for_meta=False,
        script_hash="'sha256-loader'",
    )
    directives = dict(d.split(" ", 1) for d in policy.split("; "))
    assert directives["script-src"] == "'self' 'sha256-loader'"
    assert directives["style-src"] == HASH
    assert directives["connect-src"] == "'self' https://forms.example"
    assert directives["form-action"] == "'self' https://forms.example"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in policy


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("http://127.0.0.1:8788/submit", "http://127.0.0.1:8788"),
        ("https://forms.example/a?b#c", "https://forms.example"),
        ("", None),
        (None, None),
        ("/relative", None),
    ],
)
def test_origin_of(url, origin):
    assert sm.origin_of(url) == origin


def test_headers_file_round_trips_and_matches_paths():
    # Read back with the smoke check's parser (scripts/smoke.py), which checks the deployed host.
    from smoke import expected_for, parse_headers_file

    text = sm.headers_file(style_hash=HASH, form_origin=None, options=sm.merged_options({}))
    rules = parse_headers_file(text + "/exact\n  X-Extra: 1\n")
    names = expected_for(rules, "/depression/")
    for required in (
        "content-security-policy",
        "referrer-policy",
        "x-content-type-options",
        "permissions-policy",
        "strict-transport-security",
    ):
        assert required in names
    assert "cache-control" not in names  # only /theme/* is cached for long
    assert expected_for(rules, "/theme/css/site.css")["cache-control"].endswith("immutable")
    assert expected_for(rules, "/exact")["x-extra"] == "1"
    assert "x-extra" not in expected_for(rules, "/exact/not")


# ---------------------------------------------------------------- reading bodies


def test_citations_come_from_the_references_list_only():
    cited = sm.citations(REFERENCES_BODY)
    assert [c["url"] for c in cited] == [
        "https://pubmed.ncbi.nlm.nih.gov/23982301/",
        "https://doi.org/10.1016/S2215-0366(17)30272-9",
    ]
    assert cited[0]["name"].startswith("Murrough JW, et al. A trial.")


def test_questions_are_h2s_ending_in_a_question_mark():
    found = sm.questions(REFERENCES_BODY)
    assert [q["name"] for q in found] == ["Does it work quickly?"]
    assert found[0]["acceptedAnswer"]["text"] == "Often within a day. Not always."


# ---------------------------------------------------------------- JSON-LD


def test_reviewed_medical_page_carries_review_about_and_citations():
    page = by_type(graph_of(fake_page()), "MedicalWebPage")
    assert page["lastReviewed"] == "2026-01-02"
    assert page["reviewedBy"] == {
        "@type": "Person",
        "name": "Dr. Jane Roe",
        "honorificSuffix": "MD",
    }
    assert page["about"] == {"@type": "MedicalCondition", "name": "Depression"}
    assert len(page["citation"]) == 2
    assert page["name"] == "Ketamine for depression"
    assert page["description"] == "What studies show & what they do not."
    assert page["url"] == "https://www.example.test/depression/"


def test_page_awaiting_review_claims_no_reviewer():
    page = by_type(graph_of(fake_page(review="pending")), "MedicalWebPage")
    assert "reviewedBy" not in page and "lastReviewed" not in page
    assert "[TO CONFIRM" not in json.dumps(page)


def test_faq_page_is_also_an_faqpage():
    graph = graph_of(fake_page("faq"))
    page = by_type(graph, "FAQPage")
    assert page["@type"] == ["MedicalWebPage", "FAQPage"]
    assert page["mainEntity"][0]["name"] == "Does it work quickly?"
    assert page["about"]["name"] == "Ketamine"  # the default topic


def test_home_has_the_clinic_and_no_breadcrumbs():
    graph = graph_of(fake_page("home", review=None))
    assert by_type(graph, "BreadcrumbList") is None
    clinic = by_type(graph, "MedicalClinic")
    assert clinic["telephone"] == "+13105550123"
    assert clinic["address"] == {
        "@type": "PostalAddress",
        "addressLocality": "Los Angeles",
        "addressRegion": "CA",
        "addressCountry": "US",
    }
    assert "email" not in clinic and "hasMap" not in clinic
    assert "[TO CONFIRM" not in json.dumps(graph)


def test_other_pages_have_breadcrumbs_home_first():
    graph = graph_of(fake_page("about", review=None))
    crumbs = by_type(graph, "BreadcrumbList")["itemListElement"]
    assert [(c["position"], c["name"], c["item"]) for c in crumbs] == [
        (1, "Home", "https://www.example.test/"),
        (2, "Ketamine for depression", "https://www.example.test/about/"),
    ]
    assert by_type(graph, "AboutPage") is not None
    assert by_type(graph, "MedicalClinic") is None


def test_json_ld_cannot_end_its_script_element():
    script = str(sm.json_ld_script([{"name": "</script><script>alert(1)</script> & more"}]))
    inner = script.removeprefix('<script type="application/ld+json">').removesuffix("</script>")
    assert "<" not in inner and ">" not in inner
    assert json.loads(inner)["@graph"][0]["name"].startswith("</script>")


# ---------------------------------------------------------------- sitemap and robots


def test_sitemap_lists_published_pages_with_review_dates():
    pages = [fake_page("home", review=None), fake_page(), fake_page("missing", review=None)]
    pages[2].status = "hidden"
    xml = sm.sitemap_xml(pages, "https://www.example.test")
    assert "<loc>https://www.example.test/</loc>" in xml
    assert (
        "<url><loc>https://www.example.test/depression/</loc><lastmod>2026-01-02</lastmod></url>"
    ) in xml
    assert "missing" not in xml


def test_robots_names_the_sitemap_only_with_an_absolute_address():
    assert "Sitemap: https://www.example.test/sitemap.xml" in sm.robots_txt(
        "https://www.example.test"
    )
    assert "Sitemap" not in sm.robots_txt("")


def test_inline_script_leaves_out_comment_lines_and_indentation():
    source = "// why\n(function () {\n  // inner note\n  go(1);\n})();\n"
    assert sm.inline_script(source) == "(function () {go(1);})();"


def test_sitemap_lists_each_language_version_with_x_default():
    english = SimpleNamespace(url="depression/", lang="en", review=None, save_as="x")
    spanish = SimpleNamespace(url="es/depresion/", lang="es", review=None, save_as="y")
    english.translations, spanish.translations = [spanish], [english]
    lone = SimpleNamespace(url="only/", lang="en", review=None, save_as="z", translations=[])
    xml = sm.sitemap_xml([english, spanish, lone], "https://www.example.test")
    root = ET.fromstring(xml)
    ns = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9", "x": "http://www.w3.org/1999/xhtml"}
    links = {
        url.find("s:loc", ns).text: [
            (link.get("hreflang"), link.get("href")) for link in url.findall("x:link", ns)
        ]
        for url in root.findall("s:url", ns)
    }
    pair = [
        ("en", "https://www.example.test/depression/"),
        ("es", "https://www.example.test/es/depresion/"),
        ("x-default", "https://www.example.test/depression/"),
    ]
    assert links["https://www.example.test/depression/"] == pair
    assert links["https://www.example.test/es/depresion/"] == pair
    assert links["https://www.example.test/only/"] == []  # no other language: no alternates


def test_long_date_in_spanish_uses_the_month_names_of_the_strings():
    strings = sm.strings_in(sm.load_all_strings(THEME / "strings.toml"), "es")
    assert sm.long_date(datetime.date(2026, 11, 3), strings) == "3 de noviembre de 2026"
    english = sm.strings_in(sm.load_all_strings(THEME / "strings.toml"), "en")
    assert sm.long_date(datetime.date(2026, 11, 3), english) == "November 3, 2026"


def test_the_site_icon_is_inlined_as_a_data_url_that_decodes_to_the_file():
    from urllib.parse import unquote

    svg = (THEME / "static" / "images" / "favicon.svg").read_text(encoding="utf-8").strip()
    url = sm.data_url(svg, "image/svg+xml")
    assert url.startswith("data:image/svg+xml,") and " " not in url and '"' not in url
    assert unquote(url.removeprefix("data:image/svg+xml,")) == svg
