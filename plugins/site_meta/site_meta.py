"""What the theme needs computed: inlined CSS and script, headers, JSON-LD, sitemap, robots, words.

- The theme's one stylesheet (`theme/static/css/site.css`) is inlined into every page, so the first
  screen needs no second request; the Content-Security-Policy allows exactly that style by its hash.
  The form page inlines the form's styles too, and a small loader (`js/load-intake.js`) that fetches
  the form's script only after the first paint. Policies and `_headers`: headers.py.
- JSON-LD for every page: structured_data.py.
- The site is in more than one language: each page has a `lang`, and its translations are linked
  through their English slug (`translation_key`, set by plugins/editorial). Templates get the words
  of the page's language (`strings_for`), a page in a given language (`page_for`), and the page's
  alternates for the language switch and hreflang links (`alternates`); sitemap.xml lists the same
  alternates.
- `sitemap.xml` and `robots.txt` are written after the build. The sitemap is ours, not the
  pelican-sitemap plugin's: that plugin writes no hreflang alternates (xhtml:link) for translations,
  and takes lastmod from file dates, where ours gives a medical page's date only while a clinician's
  sign-off matches its text.
- The theme's words come from `theme/strings.toml`, one table per language.

Settings: `SITE_META` (a dict merged over DEFAULTS, checked key by key).
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import logging
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape

from clinic_facts import BuildStopped, SettingsError, plugin_options
from markupsafe import Markup
from pelican import signals

from .headers import (  # noqa: F401 (re-exported for the tests)
    HEADERS_FILE,
    content_security_policy,
    csp_hash,
    data_url,
    headers_file,
    inline_script,
    minify_css,
    origin_of,
)
from .structured_data import (  # noqa: F401 (re-exported for the tests)
    citations,
    clinic_node,
    json_ld_script,
    page_graph,
    questions,
    reviewer_node,
    sections_of,
    topic_node,
)

logger = logging.getLogger(__name__)
LOG_PREFIX = "[site_meta]"

DEFAULTS = {
    # The theme's words, relative to the theme folder.
    "strings": "strings.toml",
    # The stylesheet inlined into every page, relative to the theme's static folder.
    "stylesheet": "css/site.css",
    # Inlined after it on the form page, with the loader of the form's script.
    "form_stylesheet": "css/form.css",
    "form_loader": "js/load-intake.js",
    # The site's icon, inlined as a data: URL: a separate request for it, made while the page is
    # drawn, cost about 0.1 s of largest contentful paint in half of Lighthouse's runs.
    "icon": "images/favicon.svg",
    # Pages that carry the clinic's MedicalClinic data, and pages whose h2 questions are an FAQPage.
    "clinic_pages": ["home", "contact"],
    "faq_pages": ["faq"],
    "hsts_max_age": 63072000,
    "permissions_policy": (
        "accelerometer=(), browsing-topics=(), camera=(), geolocation=(), gyroscope=(), "
        "magnetometer=(), microphone=(), payment=(), usb=()"
    ),
}


@dataclass
class _State:
    settings: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    strings: dict = field(default_factory=dict)  # language code -> that language's words
    css: str = ""
    css_hash: str = ""
    form_css: str = ""
    form_css_hash: str = ""
    loader: str = ""
    loader_hash: str = ""
    icon: str = ""
    contents: list = field(default_factory=list)
    # (English slug, language) -> the page in that language.
    by_key: dict = field(default_factory=dict)


_state = _State()


# ---------------------------------------------------------------- settings and files


def merged_options(settings: dict) -> dict:
    """SITE_META merged over DEFAULTS, checked key by key."""
    options = plugin_options(settings, "SITE_META", DEFAULTS)
    for key in (
        "strings",
        "stylesheet",
        "form_stylesheet",
        "form_loader",
        "icon",
        "permissions_policy",
    ):
        if not isinstance(options[key], str) or not options[key].strip():
            raise SettingsError(f"SITE_META['{key}'] must be a non-empty string")
    for key in ("clinic_pages", "faq_pages"):
        if not isinstance(options[key], list) or not all(isinstance(s, str) for s in options[key]):
            raise SettingsError(f"SITE_META['{key}'] must be a list of page slugs")
    if not isinstance(options["hsts_max_age"], int) or options["hsts_max_age"] < 0:
        raise SettingsError("SITE_META['hsts_max_age'] must be a whole number of seconds")
    return options


def load_all_strings(path: Path) -> dict[str, dict]:
    """The theme's words for every language in the file, each falling back key by key to English."""
    try:
        with path.open("rb") as handle:
            tables = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise SettingsError(f"cannot read the theme's strings from {path}: {error}") from error
    if "en" not in tables:
        raise SettingsError(f"{path} has no [en] table")
    return {lang: {**tables["en"], **table} for lang, table in tables.items()}


def strings_in(tables: dict[str, dict], lang: str) -> dict:
    """The words of `lang` from load_all_strings' tables (English for a language it has none of)."""
    return tables.get(lang) or tables.get("en", {})


# ---------------------------------------------------------------- sitemap and robots


def absolute_base(settings: dict) -> str:
    """The site's absolute address when the build has one (production), else ""."""
    siteurl = str(settings.get("SITEURL", "")).rstrip("/")
    return siteurl if siteurl.startswith(("https://", "http://")) else ""


def listed(content) -> bool:
    return getattr(content, "status", "published") == "published" and bool(
        getattr(content, "save_as", "")
    )


def language_versions(
    content, default_lang: str = "en", *, indexed: bool = True
) -> list[tuple[str, object]]:
    """(hreflang, page) for the page and each translation, then x-default: the default language's.

    With `indexed` (hreflang links, the sitemap) only published pages count; the language switch
    also links hidden pages such as the 404 page to their translation.
    """
    versions = [content, *getattr(content, "translations", [])]
    versions = [v for v in versions if getattr(v, "save_as", "") and (listed(v) or not indexed)]
    pairs = sorted(((getattr(v, "lang", default_lang), v) for v in versions), key=lambda p: p[0])
    default = next((v for lang, v in pairs if lang == default_lang), None)
    if len(pairs) > 1 and default is not None:
        pairs.append(("x-default", default))
    return pairs


def sitemap_xml(contents: list, base: str, default_lang: str = "en") -> str:
    """Every listed page, with its clinical review date and its language versions (hreflang)."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
        ' xmlns:xhtml="http://www.w3.org/1999/xhtml">',
    ]
    entries = sorted((c.url, c) for c in contents if listed(c))
    for url, content in entries:
        lines.append(f"<url><loc>{xml_escape(base + '/' + url)}</loc>")
        review = getattr(content, "review", None)
        if review is not None and getattr(review, "date", None):
            lines[-1] += f"<lastmod>{review.date.isoformat()}</lastmod>"
        versions = language_versions(content, default_lang)
        if len(versions) > 1:
            for hreflang, version in versions:
                href = xml_escape(base + "/" + version.url, {'"': "&quot;"})
                lines[-1] += f'<xhtml:link rel="alternate" hreflang="{hreflang}" href="{href}"/>'
        lines[-1] += "</url>"
    lines.append("</urlset>")
    return "\n".join(lines) + "\n"


def robots_txt(base: str) -> str:
    text = "User-agent: *\nAllow: /\n"
    if base:
        text += f"\nSitemap: {base}/sitemap.xml\n"
    return text


# ---------------------------------------------------------------- template helpers


def default_lang() -> str:
    return _state.settings.get("DEFAULT_LANG", "en")


def strings_for(lang: str | None) -> dict:
    """The theme's words in `lang` (English where the language has no table)."""
    return strings_in(_state.strings, lang or default_lang())


def long_date(value: datetime.date | None, strings: dict | None = None) -> str:
    """A date in words: `date_format` of the given strings ({day}, {month} from `months`)."""
    if value is None:
        return ""
    strings = strings or strings_for(None)
    pattern = strings.get("date_format", "%Y-%m-%d").replace("{day}", str(value.day))
    months = strings.get("months")
    if months and "{month}" in pattern:
        pattern = pattern.replace("{month}", months[value.month - 1])
    return value.strftime(pattern)


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


def page_csp(page) -> str:
    form_page = bool(getattr(page, "intake_form", False))
    return content_security_policy(
        style_hash=_state.form_css_hash if form_page else _state.css_hash,
        form_page=form_page,
        form_origin=origin_of(_state.settings.get("INTAKE_ORIGIN")),
        for_meta=True,
        script_hash=_state.loader_hash,
    )


def structured_data(page, siteurl: str) -> Markup:
    lang = getattr(page, "lang", None)
    home = page_for("home", lang)
    graph = page_graph(
        page,
        siteurl=siteurl,
        settings=_state.settings,
        options=_state.options,
        strings=strings_for(lang),
        home_url=home.url if home is not None else "",
    )
    return json_ld_script(graph)


def page_for(slug: str, lang: str | None = None):
    """The page whose English slug is `slug`, in `lang` (the default language if not given).

    Falls back to the default language's page when there is no translation; None when there is
    no such page at all. Templates name pages by their English slug in every language.
    """
    lang = lang or default_lang()
    return _state.by_key.get((slug, lang)) or _state.by_key.get((slug, default_lang()))


def alternates(page, indexed: bool = True) -> list[tuple[str, object]]:
    """The page's language versions: (code, page), then ("x-default", page).

    `indexed=False` for the language switch, which hidden pages (404) have too.
    """
    return language_versions(page, default_lang(), indexed=indexed) if page is not None else []


# ---------------------------------------------------------------- signal handlers


def on_initialized(pelican) -> None:
    global _state
    _state = _State(settings=pelican.settings)
    try:
        _state.options = merged_options(pelican.settings)
        theme = Path(pelican.settings["THEME"])
        _state.strings = load_all_strings(theme / _state.options["strings"])
        static = theme / "static"
        _state.css = minify_css(read_theme_file(static / _state.options["stylesheet"]))
        form_css = minify_css(read_theme_file(static / _state.options["form_stylesheet"]))
        _state.loader = inline_script(read_theme_file(static / _state.options["form_loader"]))
        _state.icon = data_url(read_theme_file(static / _state.options["icon"]), "image/svg+xml")
    except SettingsError as error:
        raise BuildStopped(f"{LOG_PREFIX} {error}") from error
    # The form page's one <style> holds both stylesheets, so it has a hash of its own.
    _state.form_css = _state.css + form_css
    _state.css_hash = csp_hash(_state.css)
    _state.form_css_hash = csp_hash(_state.form_css)
    _state.loader_hash = csp_hash(_state.loader)


def read_theme_file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise SettingsError(f"cannot read the theme file {path}: {error}") from error


def on_generator_init(generator) -> None:
    env = getattr(generator, "env", None)
    if env is None or not _state.options:
        return
    env.globals.update(
        strings_for=strings_for,
        alternates=alternates,
        asset_version=asset_version,
        SITE_CSS=Markup(_state.css),
        FORM_CSS=Markup(_state.form_css),
        FORM_LOADER=Markup(_state.loader),
        SITE_ICON=_state.icon,
        page_csp=page_csp,
        structured_data=structured_data,
        page_for=page_for,
    )
    env.filters["long_date"] = long_date


CONTENT_LISTS = (
    "articles",
    "translations",
    "pages",
    "hidden_pages",
    "hidden_articles",
    "hidden_translations",
)


def on_generator_finalized(generator) -> None:
    for name in CONTENT_LISTS:
        for content in getattr(generator, name, []) or []:
            _state.contents.append(content)
            key = getattr(content, "translation_key", None) or content.slug
            _state.by_key.setdefault((key, content.lang), content)


def on_finalized(pelican) -> None:
    if not _state.options:
        return
    output = Path(pelican.settings["OUTPUT_PATH"])
    base = absolute_base(pelican.settings)
    files = {
        "sitemap.xml": sitemap_xml(_state.contents, base, default_lang()),
        "robots.txt": robots_txt(base),
        HEADERS_FILE: headers_file(
            style_hash=f"{_state.css_hash} {_state.form_css_hash}",
            script_hash=_state.loader_hash,
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
