"""What the theme needs computed: inline CSS and its CSP hash, headers, JSON-LD, sitemap, robots.

- The theme's one stylesheet (`theme/static/css/site.css`) is inlined into every page, so the first
  screen needs no second request; the Content-Security-Policy allows exactly that style by its hash.
- Each page gets a policy in a `<meta http-equiv>`; `_headers` (the format Netlify and Cloudflare
  Pages read) carries the site-wide one, with the headers a `<meta>` cannot carry. Reading pages run
  no script; only the intake form page loads its own script and reaches the form endpoint's origin
  (`INTAKE_ORIGIN`, which plugins/intake_form sets).
- JSON-LD: MedicalClinic (from the clinic facts), MedicalWebPage with review and citations, FAQPage,
  BreadcrumbList. Placeholders never go into it, and a page awaiting review claims no reviewer.
- `sitemap.xml` and `robots.txt` are written after the build.
- The theme's words come from `theme/strings.toml`, one table per language.

Settings: `SITE_META` (a dict merged over DEFAULTS, checked key by key).
"""

from __future__ import annotations

import base64
import datetime
import functools
import hashlib
import html
import json
import logging
import re
import tomllib
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape

from markupsafe import Markup
from pelican import signals

logger = logging.getLogger(__name__)
LOG_PREFIX = "[site_meta]"

DEFAULTS = {
    # The theme's words, relative to the theme folder.
    "strings": "strings.toml",
    # The stylesheet inlined into every page, relative to the theme's static folder.
    "stylesheet": "css/site.css",
    # Pages that carry the clinic's MedicalClinic data, and pages whose h2 questions are an FAQPage.
    "clinic_pages": ["home", "contact"],
    "faq_pages": ["faq"],
    "hsts_max_age": 63072000,
    "permissions_policy": (
        "accelerometer=(), browsing-topics=(), camera=(), geolocation=(), gyroscope=(), "
        "magnetometer=(), microphone=(), payment=(), usb=()"
    ),
}

PLACEHOLDER_MARK = "[TO CONFIRM"
SCHEMA_PAGE_TYPES = {"contact": "ContactPage", "about": "AboutPage"}
HEADERS_FILE = "_headers"


class SettingsError(ValueError):
    """SITE_META or a file it names is malformed."""


@dataclass
class _State:
    settings: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    strings: dict = field(default_factory=dict)
    css: str = ""
    css_hash: str = ""
    contents: list = field(default_factory=list)
    by_slug: dict = field(default_factory=dict)


_state = _State()


# ---------------------------------------------------------------- settings and files


def merged_options(settings: dict) -> dict:
    """SITE_META merged over DEFAULTS, checked key by key."""
    given = settings.get("SITE_META", {}) or {}
    if not isinstance(given, dict):
        raise SettingsError(f"SITE_META must be a dict, not {type(given).__name__}")
    unknown = set(given) - set(DEFAULTS)
    if unknown:
        raise SettingsError(f"SITE_META has unknown keys: {', '.join(sorted(unknown))}")
    options = {**DEFAULTS, **given}
    for key in ("strings", "stylesheet", "permissions_policy"):
        if not isinstance(options[key], str) or not options[key].strip():
            raise SettingsError(f"SITE_META['{key}'] must be a non-empty string")
    for key in ("clinic_pages", "faq_pages"):
        if not isinstance(options[key], list) or not all(isinstance(s, str) for s in options[key]):
            raise SettingsError(f"SITE_META['{key}'] must be a list of page slugs")
    if not isinstance(options["hsts_max_age"], int) or options["hsts_max_age"] < 0:
        raise SettingsError("SITE_META['hsts_max_age'] must be a whole number of seconds")
    return options


def load_strings(path: Path, lang: str) -> dict:
    """The theme's words for `lang`, falling back key by key to English."""
    try:
        with path.open("rb") as handle:
            tables = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise SettingsError(f"cannot read the theme's strings from {path}: {error}") from error
    if "en" not in tables:
        raise SettingsError(f"{path} has no [en] table")
    strings = dict(tables["en"])
    strings.update(tables.get(lang, {}))
    return strings


def minify_css(css: str) -> str:
    """Drop comments and whitespace CSS does not need; conservative, so selectors keep meaning."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    css = re.sub(r"\s+", " ", css)
    css = re.sub(r"\s*([{};,>])\s*", r"\1", css)
    css = re.sub(r":\s+", ":", css)
    css = css.replace(";}", "}")
    return css.strip()


def csp_hash(text: str) -> str:
    """The CSP source expression that allows an inline element with exactly this text."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def is_placeholder(value: object) -> bool:
    return isinstance(value, str) and PLACEHOLDER_MARK in value


def known(value: object) -> str | None:
    """A clinic fact we may publish: a non-empty string that is not a placeholder."""
    if isinstance(value, str) and value.strip() and not is_placeholder(value):
        return value.strip()
    return None


# ---------------------------------------------------------------- security headers


def origin_of(url: str | None) -> str | None:
    match = re.match(r"^(https?://[^/?#]+)", url or "")
    return match.group(1) if match else None


def content_security_policy(
    *, style_hash: str, form_page: bool, form_origin: str | None, for_meta: bool
) -> str:
    """The policy for one kind of page.

    Reading pages allow only the inlined stylesheet and same-site images: no script, no form posts,
    no fonts, no frames. The form page also allows its own script and stylesheet, and connections
    and form posts to the site and the form endpoint's origin. `frame-ancestors` works only as a
    header.
    """
    extra = f" {form_origin}" if form_origin else ""
    directives = [
        "default-src 'none'",
        "base-uri 'none'",
        "img-src 'self'",
    ]
    if form_page:
        directives += [
            f"style-src 'self' {style_hash}",
            "script-src 'self'",
            f"connect-src 'self'{extra}",
            f"form-action 'self'{extra}",
        ]
    else:
        # No script runs here, so 'self' lets nothing connect; it lets Lighthouse, which fetches
        # robots.txt from inside the page, read it (GoogleChrome/lighthouse#4386).
        directives += [f"style-src {style_hash}", "connect-src 'self'", "form-action 'none'"]
    if not for_meta:
        directives.append("frame-ancestors 'none'")
    return "; ".join(directives)


def headers_file(
    *, style_hash: str, form_origin: str | None, options: dict, preview: bool = False
) -> str:
    """`_headers`: one site-wide block, and a long cache for the theme's files.

    Hosts join the values of every block that matches a path, and browsers enforce every policy
    they get, so a per-page block could only tighten. The site-wide policy is therefore the form
    page's, and each reading page tightens it with its own `<meta>` policy.
    """
    policy = content_security_policy(
        style_hash=style_hash, form_page=True, form_origin=form_origin, for_meta=False
    )
    lines = [
        "# Written by plugins/site_meta at build time; do not edit.",
        "/*",
        f"  Content-Security-Policy: {policy}",
        # A mental-health site: no page tells another site which page a visitor read.
        "  Referrer-Policy: no-referrer",
        "  X-Content-Type-Options: nosniff",
        "  X-Frame-Options: DENY",
        f"  Permissions-Policy: {options['permissions_policy']}",
        f"  Strict-Transport-Security: max-age={options['hsts_max_age']}; includeSubDomains",
        "  Cross-Origin-Opener-Policy: same-origin",
        "  Cross-Origin-Resource-Policy: same-origin",
    ]
    if preview:
        # A preview deploy (PREVIEW = True) is for editors, never for search engines.
        lines.append("  X-Robots-Tag: noindex")
    # Every page names theme files with `?v=<content hash>` (asset_version), so a changed file
    # gets a new URL and browsers may keep each one for a year without asking again.
    lines += ["/theme/*", "  Cache-Control: public, max-age=31536000, immutable"]
    return "\n".join(lines) + "\n"


def parse_headers_file(text: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """`_headers` as (path pattern, [(name, value)]) in file order."""
    rules: list[tuple[str, list[tuple[str, str]]]] = []
    for raw in text.splitlines():
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        if not raw[0].isspace():
            rules.append((raw.strip(), []))
        elif rules and ":" in raw:
            name, _, value = raw.strip().partition(":")
            rules[-1][1].append((name.strip(), value.strip()))
    return rules


def headers_for(rules: list[tuple[str, list[tuple[str, str]]]], path: str) -> list[tuple[str, str]]:
    """The headers a host would send for `path` (patterns: exact, or ending in `*`)."""
    sent = []
    for pattern, headers in rules:
        if pattern == path or (pattern.endswith("*") and path.startswith(pattern[:-1])):
            sent += headers
    return sent


@functools.lru_cache(maxsize=64)
def _file_version(path: Path, mtime_ns: int, size: int) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def asset_version(name: str) -> str:
    """The content hash of a theme file (`css/form.css`), for `?v=` in the URLs that name it."""
    path = Path(_state.settings["THEME"]) / "static" / name
    try:
        stat = path.stat()  # the cache key: `invoke serve` rebuilds in one process
        return _file_version(path, stat.st_mtime_ns, stat.st_size)
    except OSError as error:
        message = f"the template names a theme file that cannot be read: {path}: {error}"
        raise SettingsError(message) from error


# ---------------------------------------------------------------- reading page bodies


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


def page_graph(page, *, siteurl: str, settings: dict, options: dict, strings: dict) -> list[dict]:
    """Every JSON-LD node for one page."""
    slug = getattr(page, "slug", "")
    url = link(siteurl, getattr(page, "url", ""))
    home = link(siteurl, "")
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
        "inLanguage": settings.get("DEFAULT_LANG", "en"),
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
    is_home = getattr(page, "save_as", "") == "index.html"
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


# ---------------------------------------------------------------- sitemap and robots


def absolute_base(settings: dict) -> str:
    """The site's absolute address when the build has one (production), else ""."""
    siteurl = str(settings.get("SITEURL", "")).rstrip("/")
    return siteurl if siteurl.startswith(("https://", "http://")) else ""


def listed(content) -> bool:
    return getattr(content, "status", "published") == "published" and bool(
        getattr(content, "save_as", "")
    )


def sitemap_xml(contents: list, base: str) -> str:
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">',
    ]
    entries = sorted((c.url, c) for c in contents if listed(c))
    for url, content in entries:
        lines.append(f"<url><loc>{xml_escape(base + '/' + url)}</loc>")
        review = getattr(content, "review", None)
        if review is not None and review.date:
            lines[-1] += f"<lastmod>{review.date.isoformat()}</lastmod>"
        lines[-1] += "</url>"
    lines.append("</urlset>")
    return "\n".join(lines) + "\n"


def robots_txt(base: str) -> str:
    text = "User-agent: *\nAllow: /\n"
    if base:
        text += f"\nSitemap: {base}/sitemap.xml\n"
    return text


# ---------------------------------------------------------------- template helpers


def long_date(value: datetime.date | None) -> str:
    if value is None:
        return ""
    pattern = _state.strings.get("date_format", "%Y-%m-%d")
    return value.strftime(pattern.replace("{day}", str(value.day)))


def page_csp(page) -> str:
    return content_security_policy(
        style_hash=_state.css_hash,
        form_page=bool(getattr(page, "intake_form", False)),
        form_origin=origin_of(_state.settings.get("INTAKE_ORIGIN")),
        for_meta=True,
    )


def structured_data(page, siteurl: str) -> Markup:
    graph = page_graph(
        page,
        siteurl=siteurl,
        settings=_state.settings,
        options=_state.options,
        strings=_state.strings,
    )
    return json_ld_script(graph)


def page_for(slug: str):
    """The page with this slug, or None (the home template lists pages by slug)."""
    return _state.by_slug.get(slug)


# ---------------------------------------------------------------- signal handlers


def on_initialized(pelican) -> None:
    global _state
    _state = _State(settings=pelican.settings)
    try:
        _state.options = merged_options(pelican.settings)
        theme = Path(pelican.settings["THEME"])
        lang = pelican.settings.get("DEFAULT_LANG", "en")
        _state.strings = load_strings(theme / _state.options["strings"], lang)
        stylesheet = theme / "static" / _state.options["stylesheet"]
        try:
            _state.css = minify_css(stylesheet.read_text(encoding="utf-8"))
        except OSError as error:
            raise SettingsError(f"cannot read the stylesheet {stylesheet}: {error}") from error
    except SettingsError as error:
        # Imported here: Pelican loads plugins by name, so editorial is importable once loaded.
        from editorial.editorial import BuildStopped  # noqa: PLC0415

        raise BuildStopped(f"{LOG_PREFIX} {error}") from error
    _state.css_hash = csp_hash(_state.css)


def on_generator_init(generator) -> None:
    env = getattr(generator, "env", None)
    if env is None or not _state.options:
        return
    env.globals.update(
        STRINGS=_state.strings,
        SITE_CSS=Markup(_state.css),
        page_csp=page_csp,
        structured_data=structured_data,
        page_for=page_for,
        asset_version=asset_version,
    )
    env.filters["long_date"] = long_date
    env.tests["placeholder"] = is_placeholder


def on_generator_finalized(generator) -> None:
    for name in ("articles", "pages", "hidden_pages", "hidden_articles"):
        for content in getattr(generator, name, []) or []:
            _state.contents.append(content)
            _state.by_slug.setdefault(content.slug, content)


def on_finalized(pelican) -> None:
    if not _state.options:
        return
    output = Path(pelican.settings["OUTPUT_PATH"])
    base = absolute_base(pelican.settings)
    files = {
        "sitemap.xml": sitemap_xml(_state.contents, base),
        "robots.txt": robots_txt(base),
        HEADERS_FILE: headers_file(
            style_hash=_state.css_hash,
            form_origin=origin_of(pelican.settings.get("INTAKE_ORIGIN")),
            options=_state.options,
            preview=bool(pelican.settings.get("PREVIEW")),
        ),
    }
    for name, text in files.items():
        (output / name).write_text(text, encoding="utf-8")
    logger.info("%s wrote %s", LOG_PREFIX, ", ".join(files))


def register() -> None:
    signals.initialized.connect(on_initialized)
    signals.generator_init.connect(on_generator_init)
    signals.page_generator_finalized.connect(on_generator_finalized)
    signals.article_generator_finalized.connect(on_generator_finalized)
    signals.finalized.connect(on_finalized)
