"""The intake form's build-time checks: endpoint, public key, field definitions, go-live checklist.

Fast unit tests call the plugin's check functions; a few real Pelican builds (subprocesses) show
that a bad setting stops the build with one clear line and no traceback, and that a good one
reaches the page and the Content-Security-Policy.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
from conftest import FIELDS_FILE, ROOT, field_named, run_pelican
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from intake_form import intake_form as plugin
from jwcrypto import jwk

FORM_PAGE = Path("is-ketamine-right-for-me") / "index.html"


# ---------------------------------------------------------------- helpers


def write_public(path: Path, key) -> Path:
    path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return path


@pytest.fixture(scope="module")
def rsa_3072():
    return rsa.generate_private_key(public_exponent=65537, key_size=3072)


# ---------------------------------------------------------------- the endpoint


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://forms.example.org/f/abc", "https://forms.example.org"),
        ("https://forms.example.org:443/f", "https://forms.example.org"),
        ("https://Forms.Example.org:8443/f?x=1", "https://forms.example.org:8443"),
        ("http://127.0.0.1:8788/submit", "http://127.0.0.1:8788"),
        ("http://localhost:8788/submit", "http://localhost:8788"),
        ("http://[::1]:8788/submit", "http://[::1]:8788"),
        ("https://[2001:db8::1]/submit", "https://[2001:db8::1]"),
    ],
)
def test_endpoint_accepted_with_its_origin(url, origin):
    assert plugin.check_endpoint(url) == origin


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://forms.example.org/submit", "is plain http://: use https://"),
        ("http://10.0.0.5:8788/submit", "is plain http://"),
        ("http://127.0.0.1.example.org/submit", "is plain http://"),
        ("ftp://forms.example.org/submit", "must start with https://"),
        ("forms.example.org/submit", "must start with https://"),
        ("https:///submit", "has no host name"),
        ("https://user:secret@forms.example.org/submit", "user name or password"),
        ("https://forms.example.org/submit#x", "#fragment"),
        ("https://forms.example.org:99999/submit", "not a valid URL"),
        ("https://forms.example.org/sub mit", "contains spaces"),
        # The origin goes into the CSP: a ';' or a quote in the host would add a directive.
        ("https://forms.example.org;script-src/f", "invalid host name"),
        ("https://forms.example.org'/f", "invalid host name"),
        ("https://[fe80::1%a;b]/f", "invalid host name"),
        ("https://förms.example.org/f", "xn-- form"),
    ],
)
def test_endpoint_refused(url, message):
    with pytest.raises(plugin.EndpointError, match=re.escape(message)):
        plugin.check_endpoint(url)


# ---------------------------------------------------------------- the public key


def test_public_key_accepted_and_kid_is_the_rfc7638_thumbprint(tmp_path, rsa_3072):
    path = write_public(tmp_path / "public.pem", rsa_3072)
    key = plugin.load_public_key(path)
    assert key.bits == 3072
    assert key.kid == jwk.JWK.from_pem(path.read_bytes()).thumbprint()
    assert key.spki.startswith("MII")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
            "2048-bit RSA key",
        ),
        (lambda: ec.generate_private_key(ec.SECP256R1()), "not RSA"),
        (ed25519.Ed25519PrivateKey.generate, "not RSA"),
    ],
    ids=["rsa-2048", "ec-p256", "ed25519"],
)
def test_public_key_of_wrong_kind_or_size_refused(tmp_path, make, message):
    path = write_public(tmp_path / "public.pem", make())
    with pytest.raises(plugin.PublicKeyError, match=re.escape(message)):
        plugin.load_public_key(path)


def test_private_key_file_refused(tmp_path, rsa_3072):
    path = tmp_path / "private.pem"
    path.write_bytes(
        rsa_3072.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(plugin.PublicKeyError, match="holds a private key"):
        plugin.load_public_key(path)


@pytest.mark.parametrize(
    "text",
    ["not a key\n", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", ""],
)
def test_unparsable_key_refused(tmp_path, text):
    path = tmp_path / "public.pem"
    path.write_text(text)
    with pytest.raises(plugin.PublicKeyError, match="is not a PEM public key"):
        plugin.load_public_key(path)


def test_missing_key_refused_with_the_way_out(tmp_path):
    with pytest.raises(plugin.PublicKeyError, match="invoke keygen"):
        plugin.load_public_key(tmp_path / "nowhere.pem")


# ---------------------------------------------------------------- the setting and the environment


def test_environment_overrides_the_setting():
    settings = {"INTAKE_FORM": {"endpoint": "http://127.0.0.1:8788/submit"}}
    environ = {"INTAKE_ENDPOINT": "https://forms.example.org/x", "INTAKE_PUBLIC_KEY": " "}
    options = plugin.merged_options(settings, environ)
    assert options["endpoint"] == "https://forms.example.org/x"
    assert options["public_key"] == plugin.DEFAULTS["public_key"]  # a blank variable is unset


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"endpiont": "https://x.example"}, "unknown keys: endpiont"),
        ({"endpoint": ""}, "INTAKE_FORM['endpoint'] must be a non-empty string"),
        ({"fields": 3}, "INTAKE_FORM['fields'] must be a non-empty string"),
        ("https://x.example", "INTAKE_FORM must be a dict"),
    ],
)
def test_malformed_setting_refused(setting, message):
    with pytest.raises(plugin.SettingsError, match=re.escape(message)):
        plugin.merged_options({"INTAKE_FORM": setting}, {})


# ---------------------------------------------------------------- field definitions


def test_shipped_field_file_is_valid_and_complete(shipped_fields):
    form = plugin.check_form(shipped_fields, "intake.toml")
    by_name = {f.name: f for f in form.fields}
    assert {"name", "phone", "email", "contact", "conditions", "medicines", "message"} <= set(
        by_name
    )
    consents = [f for f in form.fields if f.type == "consent"]
    assert [f.channel for f in consents] == ["phone", "email", "sms"]
    assert all(not f.required for f in consents)  # never pre-ticked, never demanded outright
    assert [f.type for f in form.fields].count("honeypot") == 1
    medicines = {o.value for o in by_name["medicines"].options}
    assert {"opioids", "naltrexone", "benzodiazepines"} <= medicines
    assert form.consent["wording_version"]
    for f in form.fields:
        if f.type in plugin.TEXT_TYPES | {"textarea"}:
            assert f.maxlength, f.name
    assert by_name["email"].autocomplete == "email" and by_name["email"].inputmode == "email"
    assert by_name["phone"].autocomplete == "tel" and by_name["phone"].inputmode == "tel"


def _broken(shipped: dict, change) -> dict:
    data = copy.deepcopy(shipped)
    change(data)
    return data


BROKEN_DEFINITIONS = {
    "typo in a key": (
        lambda d: field_named(d, "name").update(lable="Name"),
        "field 1 (name): unknown key 'lable'",
    ),
    "two fields, one name": (
        lambda d: field_named(d, "email").update(name="phone"),
        "another field already has the name 'phone'",
    ),
    "unknown type": (
        lambda d: field_named(d, "name").update(type="date"),
        "type 'date' is not one",
    ),
    "empty label": (lambda d: field_named(d, "name").update(label=" "), "'label' is missing"),
    "no maxlength": (
        lambda d: field_named(d, "message").pop("maxlength"),
        "'maxlength' is missing",
    ),
    "maxlength zero": (
        lambda d: field_named(d, "name").update(maxlength=0),
        "'maxlength' must be a whole number from 1 to 10000",
    ),
    "bad name": (lambda d: field_named(d, "name").update(name="Full Name"), "'name' must start"),
    "required without message": (
        lambda d: field_named(d, "name").pop("error_required"),
        "'error_required' is missing",
    ),
    "condition on unknown field": (
        lambda d: field_named(d, "phone").update(required_if={"field": "how", "values": ["phone"]}),
        "'required_if' names 'how'",
    ),
    "condition on unknown value": (
        lambda d: field_named(d, "phone").update(
            required_if={"field": "contact", "values": ["fax"]}
        ),
        "'required_if' values must be options of 'contact'",
    ),
    "bad autocomplete": (
        lambda d: field_named(d, "name").update(autocomplete="fullname"),
        "'autocomplete' 'fullname' is not an autofill token",
    ),
    "bad inputmode": (
        lambda d: field_named(d, "phone").update(inputmode="phone"),
        "'inputmode' must be one of",
    ),
    "pattern browsers ignore": (
        lambda d: field_named(d, "phone").update(pattern="[0-9 ()+-]{7,30}"),
        "inside [...] write '(' as '\\('",
    ),
    "pattern that does not compile": (
        lambda d: field_named(d, "phone").update(pattern="[0-9"),
        "'pattern' is not a valid pattern",
    ),
    "email without invalid message": (
        lambda d: field_named(d, "email").pop("error_invalid"),
        "'error_invalid' is missing",
    ),
    "radios with one option": (
        lambda d: field_named(d, "contact").update(options=[{"value": "phone", "label": "Phone"}]),
        "'options' must list at least 2 choices",
    ),
    "option value with spaces": (
        lambda d: field_named(d, "conditions")["options"][0].update(value="low mood"),
        "option 1: 'value' must use only",
    ),
    "missing consent box": (
        lambda d: d["fields"].remove(field_named(d, "consent_sms")),
        'one consent box (type = "consent") for each of phone, email and sms (missing: sms',
    ),
    "consent boxes apart": (
        lambda d: d["fields"].insert(
            d["fields"].index(field_named(d, "consent_email")), d["fields"].pop(0)
        ),
        "the three consent boxes must come one after another",
    ),
    "unknown channel": (
        lambda d: field_named(d, "consent_sms").update(channel="fax"),
        "'channel' must be one of phone, email, sms",
    ),
    "two honeypots": (
        lambda d: d["fields"].append({"name": "url", "type": "honeypot", "label": "Leave empty"}),
        "only one honeypot",
    ),
    "no consent wording version": (
        lambda d: d["consent"].pop("wording_version"),
        "[consent]: 'wording_version' is missing",
    ),
    "no form texts": (lambda d: d["form"].pop("submit"), "[form]: 'submit' is missing"),
    "label not text": (lambda d: field_named(d, "name").update(label=3), "must be text in quotes"),
    "no fields": (lambda d: d.pop("fields"), "no fields"),
}


@pytest.mark.parametrize(("change", "message"), BROKEN_DEFINITIONS.values(), ids=BROKEN_DEFINITIONS)
def test_bad_field_definitions_refused(shipped_fields, change, message):
    with pytest.raises(plugin.FieldDefinitionError, match=re.escape(message)):
        plugin.check_form(_broken(shipped_fields, change), "intake.toml")


# The failure messages that tell 429 and 503 apart (issue 16), and the wait shown after 429.
FAILURE_TEXTS = [
    "error_too_many",
    "wait_one_minute",
    "wait_minutes",
    "wait_unknown",
    "error_unavailable",
]
SHIPPED_FIELD_FILES = [FIELDS_FILE, FIELDS_FILE.with_name("intake.es.toml")]


@pytest.mark.parametrize("key", FAILURE_TEXTS)
@pytest.mark.parametrize("shipped", SHIPPED_FIELD_FILES, ids=lambda path: path.name)
def test_a_field_file_without_a_failure_message_is_refused(tmp_path, shipped, key):
    text = shipped.read_text(encoding="utf-8")
    line = next(line for line in text.splitlines() if line.startswith(f"{key} = "))
    path = tmp_path / shipped.name
    path.write_text(text.replace(line + "\n", ""), encoding="utf-8")
    with pytest.raises(plugin.FieldDefinitionError) as caught:
        plugin.load_form(path)
    assert str(caught.value) == f"{path}: [form]: '{key}' is missing or empty"


def test_a_typo_in_a_failure_message_key_is_refused(shipped_fields):
    data = _broken(
        shipped_fields,
        lambda d: d["form"].update(error_to_many=d["form"].pop("error_too_many")),
    )
    with pytest.raises(plugin.FieldDefinitionError, match=r"\[form\]: unknown key 'error_to_many'"):
        plugin.check_form(data, "intake.toml")


BAD_PLACEHOLDERS = {
    "no wait": (
        "error_too_many",
        "Please wait, then try again.",
        "'error_too_many' must contain {wait}, where the waiting time goes in words",
    ),
    "misspelt wait": (
        "error_too_many",
        "Please wait {wiat}, then try again.",
        "'error_too_many' must contain {wait}",
    ),
    "wait twice": (
        "error_too_many",
        "Wait {wait}. Really, {wait}.",
        "'error_too_many' may contain {wait} once and no other { or }",
    ),
    "no number": (
        "wait_minutes",
        "a few minutes",
        "'wait_minutes' must contain {n}, where the number of minutes goes",
    ),
    "a number in the singular": (
        "wait_one_minute",
        "about {n} minute",
        "'wait_one_minute' may contain no { or }",
    ),
    "a placeholder elsewhere": (
        "error_unavailable",
        "Please try again in {wait}.",
        "'error_unavailable' may contain no { or }",
    ),
}


@pytest.mark.parametrize(
    ("key", "value", "message"), BAD_PLACEHOLDERS.values(), ids=BAD_PLACEHOLDERS
)
def test_placeholders_only_where_the_form_fills_them_in(shipped_fields, key, value, message):
    data = _broken(shipped_fields, lambda d: d["form"].update({key: value}))
    with pytest.raises(
        plugin.FieldDefinitionError, match=re.escape(f"intake.toml: [form]: {message}")
    ):
        plugin.check_form(data, "intake.toml")


def test_toml_syntax_error_names_the_line(tmp_path):
    path = tmp_path / "intake.toml"
    path.write_text('[form]\nname = "intake"\nsubmit = "Send\n')
    with pytest.raises(plugin.FieldDefinitionError, match=r"is not valid TOML: .*line 3"):
        plugin.load_form(path)


# ---------------------------------------------------------------- rendering


def test_every_value_is_escaped(shipped_fields, tmp_path, rsa_3072):
    hostile = '"><script>alert(1)</script>&'
    data = copy.deepcopy(shipped_fields)
    # Every text an editor writes: the form's texts, the consent table, each field and option.
    for key in [*plugin.FORM_TEXTS, "privacy_note"]:
        placeholder = plugin.TEXT_PLACEHOLDERS.get(key, ("",))[0]  # "{wait}" and "{n}" must stay
        data["form"][key] = hostile + placeholder
    data["consent"].update(wording_version=hostile, legend=hostile, hint=hostile)
    for f in data["fields"]:
        f.update(
            {k: hostile for k in ("label", "hint", "error_required", "error_invalid") if k in f}
        )
        if f["type"] not in {"consent", "honeypot"}:
            f["hint"] = hostile
        for option in f.get("options", []):
            option.update(label=hostile, hint=hostile)
    config = plugin.IntakeConfig(
        endpoint='https://forms.example.org/"x"',
        origin="https://forms.example.org",
        public_key=plugin.load_public_key(write_public(tmp_path / "k.pem", rsa_3072)),
        form=plugin.check_form(data, "intake.toml"),
        options={},
    )
    rendered = plugin.render_form(config, {"phone": hostile})
    assert "<script>" not in rendered
    assert '"><script' not in rendered
    assert '"' not in re.sub(r'="[^"<>]*"', "", rendered)  # every quote closes an attribute
    # The theme's templates escape with Jinja (markupsafe), which writes " as &#34;; the phone
    # number comes escaped from clinic_facts (html.escape), which writes &quot;. Both are the same.
    assert "&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&amp;" in rendered
    assert "&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&amp;" in rendered
    assert 'data-endpoint="https://forms.example.org/&#34;x&#34;"' in rendered


def test_controls_carry_labels_hints_and_input_attributes(shipped_fields, tmp_path, rsa_3072):
    config = plugin.IntakeConfig(
        endpoint="https://forms.example.org/f",
        origin="https://forms.example.org",
        public_key=plugin.load_public_key(write_public(tmp_path / "k.pem", rsa_3072)),
        form=plugin.check_form(shipped_fields, "intake.toml"),
        options={},
    )
    rendered = plugin.render_form(config, {})
    controls = {
        re.search(r'\bid="([^"]+)"', tag).group(1): tag
        for tag in re.findall(r"<(?:input|textarea)\b[^>]*>", rendered)
    }
    email, phone = controls["intake-email"], controls["intake-phone"]
    for expected in (
        'type="email"',
        'autocomplete="email"',
        'inputmode="email"',
        'maxlength="254"',
    ):
        assert expected in email
    for expected in ('type="tel"', 'autocomplete="tel"', 'inputmode="tel"', 'maxlength="30"'):
        assert expected in phone
    assert 'aria-describedby="intake-phone-hint"' in phone
    assert 'id="intake-phone-hint"' in rendered
    assert 'maxlength="2000"' in controls["intake-message"]
    for control_id, tag in controls.items():
        assert " checked" not in tag and "aria-invalid" not in tag, tag
        assert re.search(rf'<label\b[^>]*\bfor="{control_id}"', rendered), control_id
    consents = [t for i, t in controls.items() if i.startswith("intake-consent_")]
    assert len(consents) == 3 and all('type="checkbox"' in t for t in consents)


def test_placeholders_render_only_the_phone_fallback(shipped_fields):
    config = plugin.IntakeConfig(
        endpoint=None,
        origin="",
        public_key=None,
        form=plugin.check_form(shipped_fields, "intake.toml"),
        options={},
    )
    rendered = plugin.render_form(config, {"phone": "(310) 555-0123", "phone_e164": "+13105550123"})
    assert "data-key" not in rendered and "data-endpoint" not in rendered
    assert '<a href="tel:+13105550123">(310) 555-0123</a>' in rendered


def test_text_inputs_have_no_name_so_a_native_submit_carries_nothing_typed(shipped_fields):
    config = plugin.IntakeConfig(None, "", None, plugin.check_form(shipped_fields, "x"), {})
    rendered = plugin.render_form(config, {})
    for tag in re.findall(r"<(?:input|textarea)\b[^>]*>", rendered):
        if "data-intake-trap" in tag or 'type="radio"' in tag:
            continue
        assert " name=" not in tag, tag
    assert "action=" not in rendered
    assert 'method="post"' in rendered


def test_typogrify_before_or_after_leaves_marker_and_form_alone(shipped_fields, tmp_path, rsa_3072):
    """The editorial plugin's Typogrify may run before the form is placed (it must keep the marker)
    or over the placed form (it must skip the whole form: `form` is in its ignore list)."""
    from editorial.editorial import DEFAULTS as EDITORIAL_DEFAULTS
    from typogrify.filters import typogrify

    ignore = EDITORIAL_DEFAULTS["typogrify_ignore_tags"]
    page = '<p>Call us -- "today" at AT&T & CAPS</p>\n<div data-intake-form></div>\n<p>After</p>'
    assert plugin.MARKER.search(typogrify(page, ignore))
    config = plugin.IntakeConfig(
        endpoint="https://forms.example.org/f",
        origin="https://forms.example.org",
        public_key=plugin.load_public_key(write_public(tmp_path / "k.pem", rsa_3072)),
        form=plugin.check_form(shipped_fields, "intake.toml"),
        options={},
    )
    rendered = plugin.render_form(config, {"phone": "[TO CONFIRM: main phone number]"})
    assert typogrify(rendered, ignore) == rendered


# ---------------------------------------------------------------- go-live checklist


def test_go_live_lists_the_development_endpoint_and_key(dev_keypair):
    items = plugin.go_live_items({"INTAKE_FORM": plugin.DEFAULTS}, {}, ROOT)
    text = "\n".join(items)
    assert "INTAKE_FORM endpoint is the development receiver (http://127.0.0.1:8788/submit)" in text
    assert "set INTAKE_ENDPOINT" in text
    assert "the intake public key is the development key" in text
    assert "set INTAKE_PUBLIC_KEY" in text


def test_go_live_catches_the_development_key_copied_elsewhere(tmp_path, dev_keypair):
    copied = tmp_path / "clinic.pem"
    copied.write_bytes((dev_keypair / "public.pem").read_bytes())
    environ = {"INTAKE_ENDPOINT": "https://forms.example.org/f", "INTAKE_PUBLIC_KEY": str(copied)}
    items = plugin.go_live_items({}, environ, ROOT)
    assert any("is the development key" in item for item in items)
    assert not any("endpoint" in item for item in items)


def test_go_live_lists_placeholders_and_is_quiet_when_ready(tmp_path, rsa_3072, shipped_fields):
    placeholder = "[TO CONFIRM: the clinic's form service]"
    items = plugin.go_live_items({"INTAKE_FORM": {"endpoint": placeholder}}, {}, ROOT)
    assert f"INTAKE_FORM endpoint is a placeholder ({placeholder})" in items[0]
    items = plugin.go_live_items({"INTAKE_FORM": {"public_key": "[TO CONFIRM: key]"}}, {}, ROOT)
    assert any("the intake public key is a placeholder" in item for item in items)

    data = copy.deepcopy(shipped_fields)
    data["form"]["success"] = "We will call you within 2 working days."
    fields = tmp_path / "intake.toml"
    fields.write_text(_toml(data), encoding="utf-8")
    environ = {
        "INTAKE_ENDPOINT": "https://forms.example.org/f",
        "INTAKE_PUBLIC_KEY": str(write_public(tmp_path / "clinic.pem", rsa_3072)),
    }
    assert plugin.go_live_items({"INTAKE_FORM": {"fields": str(fields)}}, environ, ROOT) == []


def test_go_live_lists_placeholders_in_the_field_file():
    items = plugin.go_live_items({}, {"INTAKE_ENDPOINT": "https://forms.example.org/f"}, ROOT)
    assert any(
        item.startswith(f"{plugin.DEFAULTS['fields']}: form.success is a placeholder")
        for item in items
    )


def _toml(data: dict) -> str:
    """Enough of a TOML writer for the field file (strings, numbers, booleans, lists, tables)."""

    def value(v) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int):
            return str(v)
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, list):
            return "[" + ", ".join(value(i) for i in v) + "]"
        return "{" + ", ".join(f"{k} = {value(i)}" for k, i in v.items()) + "}"

    lines = []
    for table in ("form", "consent"):
        lines.append(f"[{table}]")
        lines += [f"{k} = {value(v)}" for k, v in data[table].items()]
    for item in data["fields"]:
        lines.append("[[fields]]")
        lines += [f"{k} = {value(v)}" for k, v in item.items()]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- real builds


def _output(result) -> str:
    return result.stdout + result.stderr


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"INTAKE_ENDPOINT": "http://forms.example.org/submit"},
            "[intake_form] the endpoint 'http://forms.example.org/submit' is plain http://",
        ),
        ({"INTAKE_PUBLIC_KEY": "var/intake-dev/private.pem"}, "holds a private key"),
    ],
    ids=["http-endpoint", "private-key"],
)
def test_build_stops_with_one_clear_line(tmp_path, dev_keypair, env, message):
    result = run_pelican(tmp_path / "output", env=env)
    assert result.returncode == 1
    assert message in _output(result)
    assert "Traceback" not in _output(result)
    assert not (tmp_path / "output" / FORM_PAGE).exists()


def test_build_stops_on_a_small_key_and_on_bad_fields(tmp_path, dev_keypair):
    small = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    env = {"INTAKE_PUBLIC_KEY": str(write_public(tmp_path / "small.pem", small))}
    result = run_pelican(tmp_path / "a", env=env)
    assert result.returncode == 1
    assert "is a 2048-bit RSA key: use at least 3072 bits" in _output(result)

    broken = tmp_path / "intake.toml"
    broken.write_text(
        FIELDS_FILE.read_text(encoding="utf-8").replace('type = "tel"', 'type = "phone"')
    )
    result = run_pelican(tmp_path / "b", overrides={"INTAKE_FORM": f'{{"fields": "{broken}"}}'})
    assert result.returncode == 1
    assert "field 3 (phone): type 'phone' is not one of" in _output(result)
    assert "Traceback" not in _output(result)


def test_build_places_the_form_and_allows_its_origin(tmp_path, dev_keypair):
    """The endpoint from the environment reaches the form, the CSP and _headers; Typogrify never
    touches the form."""
    endpoint = "https://forms.example.org:8443/f/intake"
    output = tmp_path / "output"
    result = run_pelican(output, env={"INTAKE_ENDPOINT": endpoint})
    assert result.returncode == 0, _output(result)
    page = (output / FORM_PAGE).read_text(encoding="utf-8")
    assert "data-intake-form" not in page  # the marker is gone
    form = re.search(r"<form\b.*?</form>", page, re.S).group(0)
    assert f'data-endpoint="{endpoint}"' in form
    assert 'data-kid="' in form and 'data-key="MII' in form
    assert 'class="caps"' not in form and 'class="amp"' not in form and "&#8220;" not in form
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page).group(1)
    assert "connect-src &#39;self&#39; https://forms.example.org:8443" in csp
    assert "form-action &#39;self&#39; https://forms.example.org:8443" in csp
    assert "https://forms.example.org:8443" in (output / "_headers").read_text(encoding="utf-8")
    # The form's script is fetched after the first paint by an inline loader; its styles are inlined.
    assert re.search(r'<script data-src="[^"]*theme/js/intake\.js(\?v=[0-9a-f]+)?">', page)
    assert "theme/css/form.css" not in page
    assert '<meta name="referrer" content="no-referrer">' in page


def test_go_live_build_lists_the_intake_items(tmp_path, dev_keypair):
    result = run_pelican(tmp_path / "output", overrides={"GO_LIVE_CHECKS": "true"})
    assert result.returncode == 1
    out = _output(result)
    assert "INTAKE_FORM endpoint is the development receiver" in out
    assert "the intake public key is the development key" in out
    assert "Traceback" not in out
