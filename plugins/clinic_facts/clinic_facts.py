"""The clinic's facts and the go-live gate: the one home of both.

- `load_facts()` reads `content/clinic.toml`; `pelicanconf.py` calls it and hands the facts to every
  plugin and template as the `CLINIC` setting.
- A fact we do not have yet is a placeholder: text holding "[TO CONFIRM". `is_placeholder`, `known` and
  `placeholders_in` are the only definitions of that rule; `lookup` and `render_fact` (the `fact` filter
  in templates) show a fact, with a placeholder made visible; `facts_in` gives a page the facts in its
  language (the `[languages.es]` table for facts written in words).
- The go-live gate: each plugin answers the `go_live_checklist` signal with what it still lacks. With
  `GO_LIVE_CHECKS` on, once every plugin has checked the content, the build stops with one checklist.
- `BuildStopped` is how any plugin stops the build with a report for the editor, and `plugin_options`
  how each plugin reads its one settings dict.

This plugin is listed last in PLUGINS so that its gate runs after the other plugins' content checks.
"""

from __future__ import annotations

import html
import logging
import tomllib
from collections.abc import Mapping
from pathlib import Path

from blinker import signal as named_signal
from markupsafe import Markup
from pelican import signals

logger = logging.getLogger(__name__)
LOG_PREFIX = "[go-live]"

PLACEHOLDER_MARK = "[TO CONFIRM"
FACTS_FILE = Path("content") / "clinic.toml"

# Every plugin connects a receiver here; it gets the Pelican settings and returns a list of strings
# (empty when its part of the site is ready to publish).
go_live_checklist = named_signal("go_live_checklist")


class SettingsError(ValueError):
    """A plugin's settings dict, or a file it names, is malformed."""


class FactsError(ValueError):
    """content/clinic.toml cannot be read."""


class BuildStopped(SystemExit):
    """Stops the build with a report for the editor: exit status 1, the report, no traceback.

    A SystemExit, not an Exception: Pelican prints a traceback for any Exception, and with
    `--fatal warnings` (as `invoke publish` runs) logging an error would raise one. Python prints the
    report to stderr on the way out; `invoke serve` prints it and keeps watching.
    """

    def __init__(self, report: str):
        super().__init__(report)
        self.report = report

    def __str__(self) -> str:
        return self.report


# ---------------------------------------------------------------- reading


def load_facts(path: Path | str = FACTS_FILE) -> dict:
    """The clinic facts; FactsError names the file and the problem."""
    try:
        with Path(path).open("rb") as handle:
            return tomllib.load(handle)
    except OSError as error:
        raise FactsError(f"cannot read the clinic facts {path} ({error.strerror})") from error
    except tomllib.TOMLDecodeError as error:
        raise FactsError(f"{path} is not valid TOML: {error}") from error


def plugin_options(settings: Mapping, name: str, defaults: Mapping) -> dict:
    """The plugin's settings dict `name` merged over `defaults`; unknown keys are refused.

    Each plugin then checks its own values key by key.
    """
    given = settings.get(name, {}) or {}
    if not isinstance(given, dict):
        raise SettingsError(f"{name} must be a dict, not {type(given).__name__}")
    unknown = set(given) - set(defaults)
    if unknown:
        known_keys = ", ".join(sorted(defaults))
        raise SettingsError(
            f"{name} has unknown keys: {', '.join(sorted(unknown))} (known: {known_keys})"
        )
    return {**defaults, **given}


# ---------------------------------------------------------------- placeholders


def is_placeholder(value: object) -> bool:
    return isinstance(value, str) and PLACEHOLDER_MARK in value


def known(value: object) -> str | None:
    """A fact we may publish: a non-empty string that is not a placeholder."""
    if isinstance(value, str) and value.strip() and not is_placeholder(value):
        return value.strip()
    return None


def placeholders_in(data: object, prefix: str = "") -> list[tuple[str, str]]:
    """Every (key path, value) in nested tables that is still a placeholder."""
    if isinstance(data, dict):
        return [
            found
            for key, value in data.items()
            for found in placeholders_in(value, f"{prefix}.{key}" if prefix else str(key))
        ]
    if isinstance(data, list):
        return [
            found
            for index, value in enumerate(data)
            for found in placeholders_in(value, f"{prefix}[{index}]")
        ]
    return [(prefix, data)] if is_placeholder(data) else []


# ---------------------------------------------------------------- showing a fact


def format_address(address: object) -> str:
    if not isinstance(address, dict):
        return str(address)
    city = ", ".join(p for p in (address.get("locality"), address.get("region")) if p)
    parts = [address.get("street"), " ".join(p for p in (city, address.get("postal_code")) if p)]
    return ", ".join(p for p in parts if p)


def facts_in(clinic: Mapping, lang: str | None) -> dict:
    """The facts as a page in `lang` shows them: the `[languages.LANG]` table over the others.

    Facts written in words (what a price includes, how long records are kept) have a version in
    each language; numbers, names and addresses are the same in every language.
    """
    overlay = (clinic.get("languages") or {}).get(lang or "", {})
    return {**clinic, **overlay}


def lookup(clinic: Mapping, key: str):
    """A fact by `address.street` style key; KeyError when there is no such fact."""
    value = clinic
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            raise KeyError(key)
        value = value[part]
    return format_address(value) if key == "address" else value


def render_fact(value: object, *, in_attribute: bool = False) -> str:
    """A fact as HTML: escaped, and a placeholder made visible (plain text inside an attribute)."""
    text = format_address(value) if isinstance(value, dict) else str(value)
    if is_placeholder(text) and not in_attribute:
        return f'<span class="placeholder">{html.escape(text)}</span>'
    return html.escape(text, quote=True)


def fact_filter(value: object) -> Markup:
    """Jinja filter: `{{ CLINIC.phone|fact }}`."""
    return Markup(render_fact(value))


def phone_link(clinic: Mapping) -> Markup:
    """The clinic's phone as HTML: a tap-to-call link once known, else the visible placeholder."""
    phone = clinic.get("phone", "")
    if not phone or is_placeholder(phone):
        return fact_filter(phone)
    e164 = known(clinic.get("phone_e164"))
    if e164:
        return Markup(f'<a href="tel:{html.escape(e164)}">{html.escape(str(phone))}</a>')
    return fact_filter(phone)


# ---------------------------------------------------------------- the go-live gate


def go_live_items(settings: Mapping) -> list[str]:
    """Everything not ready to publish: the clinic facts, the address, then each plugin's items."""
    items = [
        f"content/clinic.toml: {key} is a placeholder ({value})"
        for key, value in placeholders_in(settings.get("CLINIC", {}))
    ]
    siteurl = str(settings.get("SITEURL", ""))
    if not siteurl.startswith("https://"):
        items.append(
            f"SITEURL is {siteurl or 'empty'!r}: set the SITEURL environment variable to the "
            "https:// address"
        )
    for _receiver, extra in go_live_checklist.send(settings):
        items += list(extra or [])
    return items


def checklist_report(items: list[str]) -> str:
    lines = "\n".join(f"  [ ] {item}" for item in items)
    return (
        f"{LOG_PREFIX} Not ready to go live ({len(items)} items):\n{lines}\n"
        f"{LOG_PREFIX} the production build stopped: fix the items above, or build with "
        "-e GO_LIVE_CHECKS=false to look at it anyway"
    )


def on_initialized(pelican) -> None:
    pelican.settings.setdefault("CLINIC", {})


def on_generator_init(generator) -> None:
    env = getattr(generator, "env", None)
    if env is not None:
        clinic = generator.settings.get("CLINIC", {})
        env.globals["clinic_in"] = lambda lang: facts_in(clinic, lang)
        env.filters["fact"] = fact_filter
        env.globals["clinic_phone"] = phone_link
        env.tests["placeholder"] = is_placeholder


def on_all_generators_finalized(generators) -> None:
    settings = generators[0].settings
    if not settings.get("GO_LIVE_CHECKS"):
        return
    items = go_live_items(settings)
    if items:
        raise BuildStopped(checklist_report(items))


def register() -> None:
    signals.initialized.connect(on_initialized)
    signals.generator_init.connect(on_generator_init)
    signals.all_generators_finalized.connect(on_all_generators_finalized)
