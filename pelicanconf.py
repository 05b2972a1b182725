"""Settings for the local (development) build. `publishconf.py` overrides what production changes."""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Our plugins share one module, clinic_facts, which they import by name.
sys.path.insert(0, str(HERE / "plugins"))
from clinic_facts import load_facts  # noqa: E402

# Clinic facts live in one data file that editors change; see content/clinic.toml.
CLINIC = load_facts(HERE / "content" / "clinic.toml")

SITENAME = CLINIC["name"]
AUTHOR = CLINIC["name"]
SITEURL = ""
RELATIVE_URLS = True
TIMEZONE = "America/Los_Angeles"
DEFAULT_LANG = "en"
# The Spanish edition: content/pages/es/, each page naming the English page it translates
# (`Translation-of: slug`); plugins/editorial links them by that English slug.
PAGE_TRANSLATION_ID = "translation_key"
ARTICLE_TRANSLATION_ID = "translation_key"
PAGE_LANG_URL = "{lang}/{slug}/"
PAGE_LANG_SAVE_AS = "{lang}/{slug}/index.html"
ARTICLE_LANG_URL = "{lang}/{slug}/"
ARTICLE_LANG_SAVE_AS = "{lang}/{slug}/index.html"
DEFAULT_DATE = "fs"

PATH = "content"
PAGE_PATHS = ["pages"]
ARTICLE_PATHS = ["articles"]
# robots.txt, sitemap.xml and _headers are written by plugins/site_meta.
STATIC_PATHS = ["images"]
IGNORE_FILES = [".#*", "*.toml", "*.swp", "*~"]

# Clean URLs: every page and article at /slug/, saved as slug/index.html.
PAGE_URL = "{slug}/"
PAGE_SAVE_AS = "{slug}/index.html"
ARTICLE_URL = "{slug}/"
ARTICLE_SAVE_AS = "{slug}/index.html"
DRAFT_URL = "drafts/{slug}/"
DRAFT_SAVE_AS = "drafts/{slug}/index.html"
DRAFT_PAGE_URL = "drafts/{slug}/"
DRAFT_PAGE_SAVE_AS = "drafts/{slug}/index.html"
# The home page and 404 are ordinary pages (content/pages/home.md, 404.md): no blog index or archives.
DIRECT_TEMPLATES = []
INDEX_SAVE_AS = ""
CATEGORY_SAVE_AS = ""
CATEGORIES_SAVE_AS = ""
TAG_SAVE_AS = ""
TAGS_SAVE_AS = ""
AUTHOR_SAVE_AS = ""
AUTHORS_SAVE_AS = ""
ARCHIVES_SAVE_AS = ""
YEAR_ARCHIVE_SAVE_AS = ""
MONTH_ARCHIVE_SAVE_AS = ""
DAY_ARCHIVE_SAVE_AS = ""
DISPLAY_PAGES_ON_MENU = False
DISPLAY_CATEGORIES_ON_MENU = False

FEED_ALL_ATOM = None
CATEGORY_FEED_ATOM = None
TRANSLATION_FEED_ATOM = None
AUTHOR_FEED_ATOM = None
AUTHOR_FEED_RSS = None

THEME = "theme"
PLUGIN_PATHS = ["plugins"]
# clinic_facts comes last: its go-live gate runs after the other plugins have checked the content.
PLUGINS = ["editorial", "site_meta", "intake_form", "clinic_facts"]

MARKDOWN = {
    "extension_configs": {
        "markdown.extensions.toc": {},
        "markdown.extensions.footnotes": {},
        "markdown.extensions.attr_list": {},
        "markdown.extensions.tables": {},
        "markdown.extensions.def_list": {},
        "markdown.extensions.abbr": {},
        "markdown.extensions.sane_lists": {},
    },
    "output_format": "html5",
}

# Typogrify (smart quotes, dashes, widows) runs in plugins/editorial, which caches its output so a warm
# rebuild does not pay for it again; Pelican's own TYPOGRIFY would redo it on every build.
TYPOGRIFY = False
EDITORIAL = {
    "typogrify": True,
    "typogrify_ignore_tags": ["pre", "code", "script", "style", "svg", "form", "textarea"],
    "review_max_age_days": 365,
    "toc_min_headings": 4,
    "languages": ["en", "es"],
}

# Rebuilds read unchanged Markdown from the cache.
CACHE_CONTENT = True
LOAD_CONTENT_CACHE = True
CONTENT_CACHING_LAYER = "reader"
CACHE_PATH = "cache"
CHECK_MODIFIED_METHOD = "mtime"

# The production build turns these on (publishconf.py); `pelican -e GO_LIVE_CHECKS=true` tries them here.
GO_LIVE_CHECKS = False

# The intake form: the local receiver that `invoke serve` runs, and the development key it makes.
# The INTAKE_ENDPOINT and INTAKE_PUBLIC_KEY environment variables override these.
INTAKE_FORM = {
    "endpoint": "http://127.0.0.1:8788/submit",
    "public_key": "var/intake-dev/public.pem",
    # One field file per language: a page gets the form in its own language.
    "fields": {"en": "content/forms/intake.toml", "es": "content/forms/intake.es.toml"},
}

# Primary navigation: (key of the label in theme/strings.toml, English slug of the page, or
# "slug#id" for a section of it). Each language links to its own version of the page.
NAVIGATION = [
    ("nav_conditions", "home#conditions-we-treat"),
    ("nav_how", "how-ketamine-works"),
    ("nav_expect", "what-to-expect"),
    ("nav_faq", "faq"),
]
