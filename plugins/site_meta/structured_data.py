"""Structured data (JSON-LD) for each page, read from its built body and the clinic facts.

MedicalClinic (from the clinic facts), MedicalWebPage with its review and citations, FAQPage and
BreadcrumbList. Placeholders never go into it, and a page without a current clinical sign-off
claims no reviewer.
"""

from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser

from clinic_facts import known
from markupsafe import Markup

SCHEMA_PAGE_TYPES = {"contact": "ContactPage", "about": "AboutPage"}


def plain(fragment: str) -> str:
    """Text of an HTML fragment, whitespace collapsed (no-break spaces from Typogrify included)."""
    text = html.unescape(re.sub(r"<[^>]+>", "", fragment))
    return re.sub(r"\s+", " ", text.replace("\xa0", " ")).strip()


_BLOCKS = {"p", "li", "dt", "dd", "h3", "h4", "h5", "h6", "blockquote", "tr", "div", "figcaption"}


class _Sections(HTMLParser):
    """Splits a page body at its h2 headings, keeping each section's text and list items."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.sections: list[dict] = [{"id": None, "heading": "", "text": [], "items": []}]
        self._in_h2 = False
        self._item: dict | None = None
        self._depth = 0

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "h2":
            self._in_h2 = True
            self._item = None
            self.sections.append(
                {"id": attributes.get("id"), "heading": "", "text": [], "items": []}
            )
        elif tag == "li":
            self._depth += 1
            if self._depth == 1:
                self._item = {"text": [], "links": []}
                self.sections[-1]["items"].append(self._item)
        elif tag == "a" and self._item is not None and attributes.get("href"):
            self._item["links"].append(attributes["href"])

    def handle_endtag(self, tag):
        if tag in _BLOCKS:
            self.handle_data(" ")  # so that the text of two paragraphs does not run together
        if tag == "h2":
            self._in_h2 = False
        elif tag == "li":
            self._depth = max(0, self._depth - 1)
            if self._depth == 0:
                self._item = None
        elif tag in ("ol", "ul") and self._depth == 0:
            self._item = None

    def handle_data(self, data):
        section = self.sections[-1]
        if self._in_h2:
            section["heading"] += data
            return
        section["text"].append(data)
        if self._item is not None:
            self._item["text"].append(data)


def sections_of(body: str) -> list[dict]:
    parser = _Sections()
    parser.feed(body or "")
    parser.close()
    for section in parser.sections:
        section["heading"] = plain(section["heading"])
        section["text"] = plain("".join(section["text"]))
        for item in section["items"]:
            item["text"] = plain("".join(item["text"]))
    return parser.sections


def citations(body: str) -> list[dict]:
    """The entries of the `## References` section: their text and first web link."""
    found = []
    for section in sections_of(body):
        if section["id"] != "references":
            continue
        for item in section["items"]:
            web = [href for href in item["links"] if href.startswith(("https://", "http://"))]
            entry = {"@type": "CreativeWork", "name": item["text"]}
            if web:
                entry["url"] = web[0]
            found.append(entry)
    return found


def questions(body: str) -> list[dict]:
    """FAQ entries: each h2 that ends in a question mark, answered by the text up to the next h2."""
    found = []
    for section in sections_of(body)[1:]:
        if section["heading"].endswith("?") and section["text"]:
            found.append(
                {
                    "@type": "Question",
                    "name": section["heading"],
                    "acceptedAnswer": {"@type": "Answer", "text": section["text"]},
                }
            )
    return found


# ---------------------------------------------------------------- JSON-LD


def link(siteurl: str, url: str) -> str:
    return f"{siteurl}/{url}"


def clinic_node(clinic: dict, siteurl: str, strings: dict) -> dict:
    """MedicalClinic from the clinic facts; placeholders are left out, never published."""
    node = {"@type": "MedicalClinic", "@id": link(siteurl, "#clinic"), "name": clinic.get("name")}
    node["url"] = link(siteurl, "")
    optional = {
        "alternateName": known(clinic.get("short_name")),
        "telephone": known(clinic.get("phone_e164")) or known(clinic.get("phone")),
        "email": known(clinic.get("email")),
        "hasMap": known(clinic.get("map_url")),
        # schema.org wants "Mo-Fr 09:00-17:00"; clinic.toml may give it as `opening_hours`.
        "openingHours": known(clinic.get("opening_hours")),
    }
    node.update({key: value for key, value in optional.items() if value})
    address = clinic.get("address") or {}
    fields = {
        "streetAddress": "street",
        "addressLocality": "locality",
        "addressRegion": "region",
        "postalCode": "postal_code",
        "addressCountry": "country",
    }
    postal = {prop: known(address.get(key)) for prop, key in fields.items()}
    postal = {prop: value for prop, value in postal.items() if value}
    if postal:
        node["address"] = {"@type": "PostalAddress", **postal}
    director = known(clinic.get("medical_director"))
    if director:
        node["employee"] = {"@type": "Physician", "name": director}
    node["availableService"] = {"@type": "MedicalTherapy", "name": strings["service_name"]}
    return node


def reviewer_node(review) -> dict | None:
    if review is None or review.pending or not known(review.reviewer):
        return None
    person = {"@type": "Person", "name": review.reviewer}
    credentials = known(review.credentials)
    if credentials:
        person["honorificSuffix"] = credentials
    return person


def topic_node(slug: str, strings: dict) -> dict:
    topics = strings.get("topics", {})
    topic = topics.get(slug) or topics.get("default") or {"type": "Thing", "name": slug}
    return {"@type": topic["type"], "name": topic["name"]}


def page_graph(
    page,
    *,
    siteurl: str,
    settings: dict,
    options: dict,
    strings: dict,
    home_url: str = "",
) -> list[dict]:
    """Every JSON-LD node for one page, in the page's language.

    Pages are known by their English slug (`translation_key`), so a translation gets the same
    types and topic as its original. `home_url` is the home page of the page's language.
    """
    slug = getattr(page, "translation_key", None) or getattr(page, "slug", "")
    url = link(siteurl, getattr(page, "url", ""))
    home = link(siteurl, home_url)
    title = plain(str(page.title))
    medical = getattr(page, "review", None) is not None
    body = getattr(page, "content", "") or ""
    types = ["MedicalWebPage" if medical else SCHEMA_PAGE_TYPES.get(slug, "WebPage")]
    faq = questions(body) if slug in options["faq_pages"] else []
    if faq:
        types.append("FAQPage")
    node = {
        "@type": types[0] if len(types) == 1 else types,
        "@id": url,
        "url": url,
        "name": title,
        "inLanguage": getattr(page, "lang", None) or settings.get("DEFAULT_LANG", "en"),
        "isPartOf": {"@type": "WebSite", "name": settings.get("SITENAME"), "url": home},
    }
    summary = plain(str(getattr(page, "summary", "") or ""))
    if summary:
        node["description"] = summary
    if medical:
        review = page.review
        node["about"] = topic_node(slug, strings)
        reviewer = reviewer_node(review)
        if reviewer and review.date:
            node["lastReviewed"] = review.date.isoformat()
            node["reviewedBy"] = reviewer
        cited = citations(body)
        if cited:
            node["citation"] = cited
    if faq:
        node["mainEntity"] = faq
    graph = [node]
    is_home = getattr(page, "url", "") == home_url
    if slug in options["clinic_pages"] or is_home:
        graph.append(clinic_node(settings.get("CLINIC", {}), siteurl, strings))
    if not is_home:
        crumbs = [(strings["home"], home), (title, url)]
        graph.append(
            {
                "@type": "BreadcrumbList",
                "itemListElement": [
                    {"@type": "ListItem", "position": n, "name": name, "item": item}
                    for n, (name, item) in enumerate(crumbs, 1)
                ],
            }
        )
    return graph


def json_ld_script(graph: list[dict]) -> Markup:
    """A JSON-LD data block; `<`, `>` and `&` escaped so no text can end the element early."""
    data = json.dumps({"@context": "https://schema.org", "@graph": graph}, ensure_ascii=False)
    data = data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(f'<script type="application/ld+json">{data}</script>')
