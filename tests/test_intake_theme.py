"""The intake form from the theme's templates: free-text boxes, reserved names, one form per language,
and the first build in a folder that has no form key yet.

Unit tests call the plugin's checks and render the theme's real templates; the language and key
tests run real Pelican builds (subprocesses) on copies of the real content and settings.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FIELDS_FILE, ROOT, field_named, run_pelican
from intake_form import intake_form as plugin
from intake_form.keys import DEV_KEY_DIR, DEV_PRIVATE_KEY, DEV_PUBLIC_KEY
from selectolax.lexbor import LexborHTMLParser

FORM_PAGE_SOURCE = Path("pages") / "is-ketamine-right-for-me.md"
FORM_PAGE = Path("is-ketamine-right-for-me") / "index.html"
DEV_KEY_LINE = "made a throw-away development key pair"


def rendered_form(data: dict, lang: str = "") -> LexborHTMLParser:
    form = plugin.check_form(data, "intake.toml", lang)
    config = plugin.IntakeConfig(None, "", None, form, {})
    return LexborHTMLParser(plugin.render_form(config, {}))


def edited(text: str, *changes: tuple[str, str]) -> str:
    for old, new in changes:
        assert old in text, old
        text = text.replace(old, new)
    return text


def second_language_file(path: Path) -> Path:
    """A small field file for a second language: the shipped one with a few texts changed."""
    text = edited(
        FIELDS_FILE.read_text(encoding="utf-8"),
        ('submit = "Send securely"', 'submit = "Enviar"'),
        ('label = "Your name"', 'label = "Su nombre"'),
        ("[TO CONFIRM: how soon the clinic replies, e.g. 2 working days]", "[TO CONFIRM: plazo]"),
    )
    path.write_text(text, encoding="utf-8")
    return path


def output_of(result: subprocess.CompletedProcess) -> str:
    return result.stdout + result.stderr


# ---------------------------------------------------------------- free-text boxes (issue 10)


def test_every_free_text_box_turns_spellcheck_off(shipped_fields):
    tree = rendered_form(shipped_fields)
    boxes = tree.css("input.intake-input, textarea")
    names = {f["name"] for f in shipped_fields["fields"] if f["type"] in plugin.FREE_TEXT_TYPES}
    assert {box.attributes["id"].removeprefix("intake-") for box in boxes} == names
    for box in boxes:
        assert box.attributes.get("spellcheck") == "false", box.html


def test_a_field_file_asking_for_spellcheck_is_refused(shipped_fields):
    data = copy.deepcopy(shipped_fields)
    field_named(data, "message")["spellcheck"] = True
    with pytest.raises(plugin.FieldDefinitionError) as caught:
        plugin.check_form(data, "content/forms/intake.toml")
    message = str(caught.value)
    assert message.startswith("content/forms/intake.toml: field 7 (message): 'spellcheck' must be")
    assert "sends what is typed to their servers" in message


# ---------------------------------------------------------------- reserved names (issue 10)


@pytest.mark.parametrize("name", sorted(plugin.RESERVED_NAMES) + ["consent_fax"])
def test_names_beside_the_answers_are_refused(shipped_fields, name):
    data = copy.deepcopy(shipped_fields)
    field_named(data, "message")["name"] = name
    with pytest.raises(
        plugin.FieldDefinitionError, match=rf"field 7 \({name}\): the name '{name}' is reserved"
    ):
        plugin.check_form(data, "intake.toml")


def test_a_consent_box_may_carry_only_its_own_column_name(shipped_fields):
    plugin.check_form(shipped_fields, "intake.toml")  # consent_phone, consent_email, consent_sms
    data = copy.deepcopy(shipped_fields)
    phone, sms = field_named(data, "consent_phone"), field_named(data, "consent_sms")
    phone["name"], sms["name"] = "consent_sms", "consent_phone"  # each named after another column
    with pytest.raises(
        plugin.FieldDefinitionError, match=r"\(consent_sms\): the name 'consent_sms' is"
    ):
        plugin.check_form(data, "intake.toml")


def test_reserved_names_cover_the_staff_tables_own_columns():
    """Every column the staff tools add beside the answers is a reserved name (and so refused:
    test_names_beside_the_answers_are_refused tries each of them)."""
    from staff.readers import METADATA_FIELDS

    assert METADATA_FIELDS <= plugin.RESERVED_NAMES


# ---------------------------------------------------------------- one form per language


def test_fields_setting_takes_one_file_per_language(tmp_path):
    spanish = second_language_file(tmp_path / "intake.es.toml")
    settings = {"INTAKE_FORM": {"fields": {"en": str(FIELDS_FILE), "es": str(spanish)}}}
    setup = plugin.resolve(settings, {})
    assert sorted(setup.forms) == ["en", "es"]
    english = LexborHTMLParser(plugin.render_form(setup.config("en"), {}))
    spanish_form = LexborHTMLParser(plugin.render_form(setup.config("es"), {}))
    assert english.css_first("form").attributes["data-lang"] == "en"
    assert spanish_form.css_first("form").attributes["data-lang"] == "es"
    assert spanish_form.css_first("button[type=submit]").text() == "Enviar"
    assert spanish_form.css_first("label[for=intake-name]").text() == "Su nombre"
    assert english.css_first("label[for=intake-name]").text() == "Your name"
    # Each language's file brings its own go-live items, named by its own path.
    items = plugin.go_live_items(settings, {}, ROOT)
    assert any(
        item.startswith(f"{spanish}: form.success is a placeholder (")
        and "[TO CONFIRM: plazo]" in item
        for item in items
    )
    assert any(item.startswith(f"{FIELDS_FILE}: form.success is a placeholder") for item in items)


def test_one_path_is_the_default_language():
    setup = plugin.resolve({"DEFAULT_LANG": "en"}, {})
    assert list(setup.forms) == ["en"]
    with pytest.raises(KeyError):
        setup.config("es")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "INTAKE_FORM['fields'] is an empty dict"),
        ({"English": "x.toml"}, "INTAKE_FORM['fields'] has the language code 'English'"),
        ({"es": ""}, "INTAKE_FORM['fields']['es'] must be a non-empty string"),
        (["x.toml"], "INTAKE_FORM['fields'] must be a non-empty string (a field file) or a dict"),
    ],
)
def test_malformed_fields_setting_refused(fields, message):
    with pytest.raises(plugin.SettingsError, match=re.escape(message)):
        plugin.merged_options({"INTAKE_FORM": {"fields": fields}}, {})


def test_a_language_field_file_is_checked_like_the_first(tmp_path):
    broken = tmp_path / "intake.es.toml"
    text = FIELDS_FILE.read_text(encoding="utf-8")
    broken.write_text(edited(text, ('label = "Your name"', 'lable = "Nombre"')), encoding="utf-8")
    settings = {"INTAKE_FORM": {"fields": {"en": str(FIELDS_FILE), "es": str(broken)}}}
    with pytest.raises(plugin.FieldDefinitionError, match=rf"^{re.escape(str(broken))}: field 1"):
        plugin.resolve(settings, {})


# The Spanish edition's form page (content/pages/es/).
SPANISH_FORM_PAGE = Path("es") / "es-la-ketamina-para-mi" / "index.html"
SPANISH_FORM_SOURCE = ROOT / "content" / "pages" / "es" / "es-la-ketamina-para-mi.md"


def test_build_gives_a_page_the_form_of_its_language(tmp_path, dev_keypair, shipped_fields):
    spanish = second_language_file(tmp_path / "intake.es.toml")
    output = tmp_path / "output"
    fields = {"en": "content/forms/intake.toml", "es": str(spanish)}
    result = run_pelican(output, overrides={"INTAKE_FORM": {"fields": fields}})
    assert result.returncode == 0, output_of(result)
    forms = {
        page: LexborHTMLParser((output / page).read_text("utf-8")).css_first("form.intake")
        for page in (SPANISH_FORM_PAGE, Path(FORM_PAGE))
    }
    assert forms[SPANISH_FORM_PAGE].attributes["data-lang"] == "es"
    assert forms[SPANISH_FORM_PAGE].css_first("button[type=submit]").text() == "Enviar"
    assert forms[Path(FORM_PAGE)].attributes["data-lang"] == "en"
    assert forms[Path(FORM_PAGE)].css_first("button[type=submit]").text() == "Send securely"


def test_build_stops_when_a_page_language_has_no_field_file(tmp_path, dev_keypair):
    fields = {"en": "content/forms/intake.toml"}
    result = run_pelican(tmp_path / "output", overrides={"INTAKE_FORM": {"fields": fields}})
    assert result.returncode == 1
    out = output_of(result)
    assert (
        f"[intake_form] {SPANISH_FORM_SOURCE} places the intake form, but its "
        "language 'es' has no field file (INTAKE_FORM['fields'] has: en)"
    ) in out
    assert "Traceback" not in out
    assert not list((tmp_path / "output").rglob("*.html"))


# ---------------------------------------------------------------- a fresh folder's first build


@pytest.fixture
def fresh_folder(tmp_path) -> Path:
    """A folder laid out like a fresh clone: settings, content, theme and plugins, and no var/."""
    folder = tmp_path / "site"
    folder.mkdir()
    shutil.copy(ROOT / "pelicanconf.py", folder / "pelicanconf.py")
    for name in ("content", "theme", "plugins"):
        (folder / name).symlink_to(ROOT / name, target_is_directory=True)
    return folder


def pelican_in(folder: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """`pelican content -s pelicanconf.py` as a newcomer types it, plus -v to show info lines (with
    `--log-handler plain` Pelican prints none). Pass every KEY=VALUE after one -e: a second -e
    replaces the first."""
    command = [sys.executable, "-m", "pelican", "content", "-s", "pelicanconf.py", "-v", *args]
    environ = {k: v for k, v in os.environ.items() if not k.startswith("INTAKE_")}
    return subprocess.run(
        command,
        cwd=folder,
        env={**environ, "COLUMNS": "400", **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_first_build_makes_the_development_key_and_says_so_once(fresh_folder):
    cache = ["-e", f'CACHE_PATH="{fresh_folder / "cache"}"']
    result = pelican_in(fresh_folder, *cache)
    assert result.returncode == 0, output_of(result)
    assert output_of(result).count(DEV_KEY_LINE) == 1
    keys = fresh_folder / DEV_KEY_DIR
    assert (keys / DEV_PUBLIC_KEY).is_file() and (keys / DEV_PRIVATE_KEY).is_file()
    kid = plugin.load_public_key(keys / DEV_PUBLIC_KEY).kid
    page = (fresh_folder / "output" / FORM_PAGE).read_text(encoding="utf-8")
    assert f'data-kid="{kid}"' in page

    again = pelican_in(fresh_folder, *cache)
    assert again.returncode == 0, output_of(again)
    assert DEV_KEY_LINE not in output_of(again)
    assert plugin.load_public_key(keys / DEV_PUBLIC_KEY).kid == kid


def test_go_live_build_never_makes_a_key(fresh_folder):
    result = pelican_in(
        fresh_folder, "-e", "GO_LIVE_CHECKS=true", f'CACHE_PATH="{fresh_folder / "c"}"'
    )
    assert result.returncode == 1
    assert "cannot read the public key var/intake-dev/public.pem" in output_of(result)
    assert DEV_KEY_LINE not in output_of(result)
    assert not (fresh_folder / "var").exists()


def test_a_key_set_elsewhere_is_used_and_no_development_key_is_made(fresh_folder, dev_keypair):
    result = pelican_in(
        fresh_folder,
        "-e",
        f'CACHE_PATH="{fresh_folder / "c"}"',
        INTAKE_PUBLIC_KEY=str(dev_keypair / DEV_PUBLIC_KEY),
    )
    assert result.returncode == 0, output_of(result)
    assert DEV_KEY_LINE not in output_of(result)
    assert not (fresh_folder / "var").exists()


# ---------------------------------------------------------------- why sending failed (issue 16)


@pytest.mark.parametrize("lang", ["en", "es"])
def test_the_alert_holds_one_hidden_message_per_reason(lang):
    path = FIELDS_FILE if lang == "en" else FIELDS_FILE.with_name("intake.es.toml")
    form = plugin.load_form(path)
    texts = form.texts
    alert = rendered_form(form.raw, lang).css_first("[data-intake-alert]")
    messages = alert.css("p[data-intake-reason]")
    reasons = [p.attributes["data-intake-reason"] for p in messages]
    assert reasons == ["too_many", "unavailable", "busy", "network", "timeout", "refused"]
    assert all("hidden" in p.attributes for p in messages)
    for p in messages[1:]:
        assert p.text().startswith(texts["error_" + p.attributes["data-intake-reason"]])
    # After 429, intake.js puts the wait in words into the span; until then it reads wait_unknown.
    too_many = messages[0]
    wait = too_many.css_first("span[data-intake-wait]")
    assert wait.attributes == {
        "data-intake-wait": None,
        "data-one": texts["wait_one_minute"],
        "data-many": texts["wait_minutes"],
        "data-unknown": texts["wait_unknown"],
    }
    assert too_many.text() == texts["error_too_many"].replace("{wait}", texts["wait_unknown"])
