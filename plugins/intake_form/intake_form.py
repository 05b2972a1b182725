"""The encrypted intake form: the Pelican glue.

A page places the form with the line `<div data-intake-form></div>`. The plugin checks the settings
and the field files (settings.py, schema.py), then renders the theme's template
`includes/intake_form.html` (with the macros in `includes/form_macros.html`) in place of the marker,
in the page's own language. The browser script (theme/static/js/intake.js) gets the endpoint and the
clinic's public key through data- attributes, encrypts each submission as a JWE, and the form service
only ever receives ciphertext.

A bad endpoint, key or field file stops the build with one clear line. A development build on a fresh
clone makes its throw-away key pair itself.
"""

from __future__ import annotations

import functools
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from clinic_facts import BuildStopped, go_live_checklist, phone_link
from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup
from pelican import signals

# The names below are this plugin's public face (tests, tasks.py and docs use them from here).
from .schema import (  # noqa: F401
    CHOICE_TYPES,
    CONSENT_CHANNELS,
    FIELD_TYPES,
    FORM_TEXTS,
    FREE_TEXT_TYPES,
    RESERVED_NAMES,
    TEXT_PLACEHOLDERS,
    TEXT_TYPES,
    Field,
    FieldDefinitionError,
    FormDefinition,
    IntakeFormError,
    Option,
    check_form,
    load_form,
)
from .settings import (  # noqa: F401
    DEFAULTS,
    LOG_PREFIX,
    EndpointError,
    IntakeConfig,
    IntakeSetup,
    PublicKey,
    PublicKeyError,
    SettingsError,
    check_endpoint,
    go_live_items,
    is_development_key,
    load_public_key,
    make_missing_development_key,
    merged_options,
    resolve,
)

logger = logging.getLogger(__name__)

# Lower case and free of text on purpose: Typogrify leaves it alone, whenever it runs.
MARKER = re.compile(r"""<div\s+data-intake-form(?:\s*=\s*(?:""|''))?\s*>\s*</div>""")
TEMPLATE = "includes/intake_form.html"
# This site's theme, for rendering without a Pelican build (unit tests, scripts).
THEME_TEMPLATES = Path(__file__).resolve().parents[2] / "theme" / "templates"


# ---------------------------------------------------------------- rendering


@functools.cache
def theme_environment(templates: Path = THEME_TEMPLATES) -> Environment:
    """A Jinja environment over the theme's templates with Pelican's default options, as a page
    generator has it (the form's templates turn autoescaping on themselves)."""
    from pelican.settings import DEFAULT_CONFIG

    return Environment(loader=FileSystemLoader(templates), **DEFAULT_CONFIG["JINJA_ENVIRONMENT"])


def render_phone(clinic: Mapping) -> Markup:
    """The clinic's phone number as HTML: a tap-to-call link once known, else the placeholder."""
    return phone_link(clinic) if clinic.get("phone") else Markup("")


def render_form(config: IntakeConfig, clinic: Mapping, env: Environment | None = None) -> str:
    """The whole form as HTML, from the theme's template (ENV: the page generator's environment)."""
    template = (env or theme_environment()).get_template(TEMPLATE)
    return template.render(config=config, form=config.form, phone=render_phone(clinic))


# ---------------------------------------------------------------- Pelican handlers


@dataclass
class _State:
    setup: IntakeSetup | None = None
    clinic: Mapping = field(default_factory=dict)
    rendered: dict[str, str] = field(default_factory=dict)  # language -> the form's HTML
    pages: list = field(default_factory=list)


_state = _State()


def _stop(error: IntakeFormError) -> None:
    raise BuildStopped(f"{LOG_PREFIX} {error}") from error


def on_initialized(pelican) -> None:
    """Check the settings, key and fields; give the theme the endpoint's origin for its CSP."""
    global _state
    settings = pelican.settings
    _state = _State(clinic=settings.get("CLINIC", {}) or {})
    try:
        if not settings.get("GO_LIVE_CHECKS"):
            made = make_missing_development_key(merged_options(settings, os.environ), Path.cwd())
            if made is not None:
                logger.warning(
                    "%s made a throw-away development key pair in %s for this build (`invoke "
                    "keygen` makes the clinic's real key)",
                    LOG_PREFIX,
                    made,
                )
        setup = resolve(settings)
    except IntakeFormError as error:
        _stop(error)
        return
    _state.setup = setup
    settings["INTAKE_ORIGIN"] = setup.origin
    if settings.get("GO_LIVE_CHECKS"):
        return  # the go-live checklist lists placeholders (and publishing runs with --fatal warnings)
    if setup.endpoint is None:
        logger.warning(
            "%s the endpoint is a placeholder: the form shows only the phone number", LOG_PREFIX
        )
    if setup.public_key is None:
        logger.warning(
            "%s the public key is a placeholder: the form shows only the phone number", LOG_PREFIX
        )


def _form_for(content, env: Environment | None) -> str:
    """The form's HTML in the page's language (rendered once per language)."""
    lang = str(getattr(content, "lang", "") or "").lower()
    if lang not in _state.rendered:
        try:
            config = _state.setup.config(lang)
        except KeyError:
            source = getattr(content, "source_path", "a page")
            known = ", ".join(sorted(_state.setup.forms))
            _stop(
                IntakeFormError(
                    f"{source} places the intake form, but its language {lang!r} has no field file "
                    f"(INTAKE_FORM['fields'] has: {known}): add one for {lang!r}, or set the "
                    "page's Lang"
                )
            )
        _state.rendered[lang] = render_form(config, _state.clinic, env)
    return _state.rendered[lang]


def place_form(content, env: Environment | None = None) -> bool:
    """Replace the marker in one page or article with the form; True when the page has the form."""
    text = getattr(content, "_content", None) or ""
    if _state.setup is None or "data-intake-form" not in text:
        return False
    found = len(MARKER.findall(text))
    if found == 0:
        return False
    source = getattr(content, "source_path", "a page")
    if found > 1:
        _stop(IntakeFormError(f"{source} places the intake form {found} times: once per page"))
    rendered = _form_for(content, env)
    content._content = MARKER.sub(lambda _match: rendered, text)
    content.intake_form = True
    # The editorial plugin checks #anchor links against the ids it saw; the form's ids exist too.
    anchors = getattr(content, "anchor_ids", None)
    if isinstance(anchors, set):
        anchors.update(re.findall(r'\bid="([^"]+)"', rendered))
    _state.pages.append(source)
    return True


_CONTENT_LISTS = (
    "pages",
    "hidden_pages",
    "draft_pages",
    "articles",
    "drafts",
    "translations",
    "hidden_translations",
    "draft_translations",
    "drafts_translations",
)


def on_generator_finalized(generator) -> None:
    # After every page's content_object_init (where the editorial plugin runs Typogrify), so the
    # form never passes through Typogrify, whatever order the two plugins' handlers run in.
    seen = set()
    for name in _CONTENT_LISTS:
        for content in getattr(generator, name, None) or []:
            if id(content) not in seen:
                seen.add(id(content))
                place_form(content, generator.env)


def on_finalized(pelican) -> None:
    if _state.setup is not None and not _state.pages:
        logger.warning(
            "%s no page holds the marker <div data-intake-form></div>: the form is on no page",
            LOG_PREFIX,
        )


def on_go_live_checklist(settings) -> list[str]:
    """Receiver for clinic_facts' go-live checklist (sender: the Pelican settings)."""
    return go_live_items(settings)


def register() -> None:
    signals.initialized.connect(on_initialized)
    signals.page_generator_finalized.connect(on_generator_finalized)
    signals.article_generator_finalized.connect(on_generator_finalized)
    signals.finalized.connect(on_finalized)
    go_live_checklist.connect(on_go_live_checklist)
