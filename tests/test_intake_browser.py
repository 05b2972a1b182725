"""The intake form end to end in real Chromium.

The real site (real content and theme) is built with INTAKE_ENDPOINT pointing at the real receiver
(receiver/, its own process) over HTTPS on loopback (a trustme certificate), storing in a real
PostgreSQL; the site is served by wrangler pages dev (Cloudflare's runtime) with `_headers` over
http://127.0.0.1 on another port. The shipped intake.js encrypts; Python decrypts with
`cryptography` (our staff tool) and `jwcrypto`. One browser serves the module; each test gets a
fresh context and an emptied database. Faults are real: the database server is stopped, or a
table is locked by another connection.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import time
import tomllib
import uuid
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from axe_playwright_python.sync_playwright import Axe
from conftest import ROOT, operator_engine, run_pelican
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from host import free_port, wrangler_pages_dev
from intake_form.keys import b64url, b64url_decode
from jwcrypto import jwe, jwk
from playwright.sync_api import Page, expect
from receiver_client import Client
from receiver_process import ReceiverProcess
from sqlalchemy import delete, select, text
from wire import leaks

from receiver import passwords
from receiver.store import Store, iso, submissions
from staff.decrypt import decrypt_paths
from staff.inbox import write_inbox
from staff.keys import load_private_key, protect_private_key
from staff.readers import DecryptionError, decrypt_jwe

FORM_PATH = "/is-ketamine-right-for-me/"
SPANISH_FORM_PATH = "/es/es-la-ketamina-para-mi/"
# The shipped field files: the form's words in each language.
ENGLISH, SPANISH = (
    tomllib.loads((ROOT / "content" / "forms" / name).read_text(encoding="utf-8"))
    for name in ("intake.toml", "intake.es.toml")
)
# The consent wording the shipped field file declares (sent inside every submission).
WORDING_VERSION = ENGLISH["consent"]["wording_version"]
SEND = "Send securely"
# The site is served from a port chosen now, so that the receiver can be told its origin.
SITE_PORT = free_port()
SITE_ORIGIN = f"http://127.0.0.1:{SITE_PORT}"
RECEIVER_PORT = free_port()
NO_CLIENT_LIMIT = {"RECEIVER_CLIENT_RATE": "100000"}

TYPED = {
    "name": 'Zoë "Q" O\'Brien-Núñez <b>&amp;</b>',
    "phone": "+1 (310) 555-0123",
    "email": "o'brien+intake@example.com",
    "message": "Line one & \"two\"\n<script>alert('x')</script> — café ✓\n  indented  ",
}


# ---------------------------------------------------------------- fixtures


class Receiver:
    """The running receiver, and its database read directly (as an operator would)."""

    def __init__(
        self, process: ReceiverProcess, database_url: str, postgres, authority, options: dict
    ):
        self.process = process
        self.database_url = database_url
        self.options = options  # how `process` was started, but for its environment
        self.url = process.url + "/submit"
        self.client = Client(process.url, authority, SITE_ORIGIN)
        self.store = Store(database_url)
        self.engine = operator_engine(database_url)
        self.postgres = postgres

    def stored(self) -> list[dict]:
        """The stored rows, oldest first, as the export gives them."""
        with self.engine.connect() as connection:
            rows = connection.execute(select(submissions).order_by(submissions.c.id)).all()
        return [
            {
                "submission_id": row.submission_id,
                "form": row.form,
                "received_at": iso(row.received_at),
                "jwe": row.jwe,
            }
            for row in rows
        ]

    def export(self, folder: Path) -> Path:
        """The staff export, downloaded over HTTPS with a staff user's password, as a file."""
        password = "a staff password for tests only"
        self.store.set_password_hash("staff", passwords.hash_password(password))
        answer = self.client.export("staff", password)
        assert answer.status == 200, answer.body
        target = folder / "intake-export.json"
        target.write_bytes(answer.body)
        return target

    def clear(self) -> None:
        with self.engine.begin() as connection:
            connection.execute(delete(submissions))

    @contextlib.contextmanager
    def replaced(self, environment: dict[str, str]):
        """Another receiver in this one's place (the port the site posts to, the same database)
        with other settings, for one test; this one is back afterwards, whatever happened."""
        self.process.stop()
        other = ReceiverProcess(self.database_url, environment=environment, **self.options)
        try:
            yield other.start()
        finally:
            other.stop()
            self.process.start()

    @contextlib.contextmanager
    def table_locked(self):
        """Another connection holds the submissions table: posts wait (and after the receiver's
        2 s database timeout, get 503)."""
        with self.engine.connect() as connection:
            connection.execute(text("LOCK TABLE submissions IN EXCLUSIVE MODE"))
            yield
            connection.rollback()


@pytest.fixture(scope="module")
def receiver(postgres, certificate_authority, dev_key_id, tmp_path_factory):
    """The HTTPS receiver the built site posts to, on a database of its own."""
    authority, certificate = certificate_authority
    database = postgres.create_database(f"intake_browser_{uuid.uuid4().hex[:8]}")
    options = {
        "origins": [SITE_ORIGIN],
        "key_ids": [dev_key_id],
        "port": RECEIVER_PORT,
        "certfile": certificate,
        "log": tmp_path_factory.mktemp("receiver") / "receiver.log",
    }
    # Every test here posts from 127.0.0.1: the per-address limit would soon refuse them.
    process = ReceiverProcess(database, environment=NO_CLIENT_LIMIT, **options).start()
    running = Receiver(process, database, postgres, authority, options)
    yield running
    process.stop()
    running.store.close()
    running.engine.dispose()


@pytest.fixture
def rx(receiver):
    """The receiver with an empty database, for one test."""
    receiver.clear()
    return receiver


@pytest.fixture(scope="module")
def site_url(tmp_path_factory, receiver, dev_keypair):
    """The real site built to post to the test receiver, served by the host's own runtime
    (`wrangler pages dev`, with `_headers`) over HTTP on loopback."""
    output = tmp_path_factory.mktemp("intake-site") / "output"
    result = run_pelican(output, env={"INTAKE_ENDPOINT": receiver.url})
    if result.returncode != 0:
        pytest.fail(f"the build failed:\n{result.stdout}\n{result.stderr}", pytrace=False)
    with wrangler_pages_dev(output, SITE_PORT) as base:
        yield base


@pytest.fixture(scope="module")
def private_key(dev_keypair):
    return load_private_key(dev_keypair / "private.pem")


@pytest.fixture(scope="module")
def jwcrypto_key(dev_keypair):
    return jwk.JWK.from_pem((dev_keypair / "private.pem").read_bytes())


class FormPage:
    """A tab on the form page that records every request the page makes."""

    def __init__(self, browser, url: str, **context_options):
        # Reduced motion: the site scrolls smoothly otherwise, and each click waits for the scroll.
        self.context = browser.new_context(
            ignore_https_errors=True, reduced_motion="reduce", **context_options
        )
        self.page: Page = self.context.new_page()
        self.requests = []
        self.errors = []
        self.console = []
        self.page.on("request", lambda request: self.requests.append(request))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("console", self._console)
        self.page.goto(url)
        self.body = self.page.locator("[data-intake-body]")
        self.submit = self.body.get_by_role("button")
        self.summary = self.page.locator("[data-intake-summary]")
        self.success = self.page.locator("[data-intake-success]")
        self.alert = self.page.locator("[data-intake-alert]")
        # The alert holds a message for each kind of failure, all but one hidden: assert on the
        # one shown (text assertions on the whole alert would read the hidden ones too).
        self.reason = self.alert.locator("[data-intake-reason]:visible")
        self.retry_hint = self.alert.locator("[data-intake-retry-hint]")

    def _console(self, message) -> None:
        self.console.append(message.text)
        # The browser itself logs failed requests (the 503 and network-error tests cause them).
        if message.type == "error" and "Failed to load resource" not in message.text:
            self.errors.append(message.text)

    def field(self, name: str):
        return self.page.locator(f"#intake-{name}")

    def posts(self) -> list:
        return [r for r in self.requests if r.method == "POST"]

    def fill_minimal(self, name: str = "Ann") -> None:
        self.field("name").fill(name)
        self.field("contact-email").check()
        self.field("email").fill("ann@example.com")
        self.field("consent_email").check()

    def fill_typed(self) -> None:
        """Answers with the hard characters of TYPED, in a text box and in the message."""
        self.fill_minimal(TYPED["name"])
        self.field("message").fill(TYPED["message"])

    def expect_typed_kept(self) -> None:
        """Every answer fill_typed gave is still in the form."""
        expect(self.field("name")).to_have_value(TYPED["name"])
        expect(self.field("contact-email")).to_be_checked()
        expect(self.field("email")).to_have_value("ann@example.com")
        expect(self.field("message")).to_have_value(TYPED["message"])
        expect(self.field("consent_email")).to_be_checked()


@pytest.fixture
def form(browser, site_url):
    tab = FormPage(browser, site_url + FORM_PATH)
    expect(tab.body).to_be_visible()
    yield tab
    tab.context.close()
    assert tab.errors == [], "the page logged errors"


def decrypt_both(token: str, private_key, jwcrypto_key) -> dict:
    """Decrypt with our staff tool (cryptography) and with jwcrypto; both must agree."""
    ours = decrypt_jwe(token, private_key)
    theirs = jwe.JWE()
    theirs.deserialize(token, key=jwcrypto_key)
    assert json.loads(theirs.payload.decode("utf-8")) == ours
    return ours


def wire_texts(requests) -> list[str]:
    """Every request's URL and body as sent (bodies as text)."""
    texts = []
    for request in requests:
        texts.append(request.url)
        body = request.post_data_buffer
        texts.append(body.decode("utf-8", "replace") if body else "")
    return texts


def posted_fields(form: FormPage) -> list[dict[str, str]]:
    """The fields of each post the page sent, as the receiver got them."""
    return [
        {k: v[0] for k, v in parse_qs(post.post_data_buffer.decode("ascii")).items()}
        for post in form.posts()
    ]


# ---------------------------------------------------------------- the round trip


def test_decrypts_to_exactly_what_was_typed_with_nothing_typed_on_the_wire(
    form, rx, private_key, jwcrypto_key, dev_keypair, tmp_path
):
    form.field("name").fill(TYPED["name"])
    form.field("contact-sms").check()
    form.field("phone").fill(TYPED["phone"])
    form.field("email").fill(TYPED["email"])
    form.field("conditions-depression").check()
    form.field("conditions-pain").check()
    form.field("medicines-naltrexone").check()
    form.field("message").fill(TYPED["message"])
    form.field("consent_phone").check()
    form.field("consent_sms").check()
    form.submit.click()

    expect(form.success).to_be_focused()
    status = form.page.get_by_role("status")
    expect(status).to_contain_text("Thank you. We have your details.", use_inner_text=True)
    expect(form.field("name")).to_have_value("")  # nothing typed stays in the page after success

    [stored] = rx.stored()
    [posted] = posted_fields(form)
    assert set(posted) == {"form", "submission_id", "jwe"}
    assert posted["jwe"] == stored["jwe"]
    submission = decrypt_both(stored["jwe"], private_key, jwcrypto_key)
    assert submission["fields"] == {
        "name": TYPED["name"],
        "contact": "sms",
        "phone": TYPED["phone"],
        "email": TYPED["email"],
        "conditions": ["depression", "pain"],
        "medicines": ["naltrexone"],
        "message": TYPED["message"],
    }
    assert submission["consent"] == {
        "phone": True,
        "email": False,
        "sms": True,
        "wording_version": WORDING_VERSION,
    }
    assert (submission["v"], submission["form"], submission["page"]) == (1, "intake", FORM_PATH)
    assert (submission["lang"], submission["likely_spam"]) == ("en", False)
    assert submission["sid"] == posted["submission_id"]
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", submission["submitted_at"])

    # The page asked for nothing but its own files and made the one POST, to the endpoint.
    [post] = form.posts()
    site = form.page.url.split(FORM_PATH)[0] + "/"
    others = [
        (r.method, r.url)
        for r in form.requests
        if not (r.method == "GET" and r.url.startswith(site)) and r is not post
    ]
    assert others == [], others
    assert post.url == rx.url
    # Nothing typed in any URL or body the page sent, nor in what the receiver stored or logged,
    # however decoded (percent-encoding, '+' for a space, JSON escapes); no Referer.
    wire = wire_texts(form.requests)
    wire += [json.dumps(row) for row in rx.stored()] + [rx.process.log_text()]
    assert leaks(wire, TYPED) == []
    assert "referer" not in {name.lower() for name in post.all_headers()}
    assert form.page.url.endswith(FORM_PATH)  # no query string
    assert form.context.cookies() == []
    assert form.page.evaluate("() => localStorage.length + sessionStorage.length") == 0
    for value in TYPED.values():
        assert not any(value in text for text in form.console), value

    # What the staff tool (`invoke decrypt`) reads from the receiver's export is the same, with
    # the receiver's receipt time.
    out, err = io.StringIO(), io.StringIO()
    export = rx.export(tmp_path)
    assert decrypt_paths(dev_keypair / "private.pem", [export], out=out, err=err) == 0, err
    [line] = [json.loads(line) for line in out.getvalue().splitlines()]
    assert line["submission"] == submission
    assert (line["time"], line["time_source"]) == (stored["received_at"], "service")


def test_the_jwe_header_and_tampering(form, rx, private_key, jwcrypto_key, dev_keypair):
    form.fill_minimal()
    form.submit.click()
    expect(form.success).to_be_visible()
    [stored] = rx.stored()
    token = stored["jwe"]
    header = json.loads(b64url_decode(token.split(".")[0]))
    public = jwk.JWK.from_pem((dev_keypair / "public.pem").read_bytes())
    assert header == {
        "alg": "RSA-OAEP-256",
        "enc": "A256GCM",
        "kid": public.thumbprint(),
        "cty": "application/json",
        "sid": stored["submission_id"],
    }
    _, encrypted_key, iv, _, tag = (b64url_decode(p) for p in token.split("."))
    assert (len(encrypted_key), len(iv), len(tag)) == (384, 12, 16)
    decrypt_both(token, private_key, jwcrypto_key)

    def tampered(part: int) -> str:
        parts = token.split(".")
        raw = bytearray(b64url_decode(parts[part]))
        raw[-1] ^= 1
        parts[part] = b64url(bytes(raw))
        return ".".join(parts)

    changed_header = dict(header, sid="00000000-0000-4000-8000-000000000000")
    reheadered = ".".join([b64url(json.dumps(changed_header).encode()), *token.split(".")[1:]])
    for bad in [reheadered, tampered(0), tampered(1), tampered(2), tampered(3), tampered(4)]:
        with pytest.raises(DecryptionError):
            decrypt_jwe(bad, private_key)
        with pytest.raises(Exception) as refused:  # noqa: PT011 (jwcrypto raises several kinds)
            theirs = jwe.JWE()
            theirs.deserialize(bad, key=jwcrypto_key)
        assert not isinstance(refused.value, AssertionError)


# ---------------------------------------------------------------- validation


def test_empty_submit_sends_nothing_and_focuses_the_summary(form, rx):
    name = form.field("name")
    assert name.get_attribute("aria-invalid") is None  # only after validation
    form.submit.click()

    expect(form.summary).to_be_focused()
    links = form.summary.get_by_role("link")
    expect(links).to_have_text(["Enter your name", "Choose how you would like us to contact you"])
    expect(name).to_have_attribute("aria-invalid", "true")
    expect(name).to_have_attribute("aria-describedby", "intake-name-error")
    expect(form.page.locator("#intake-name-error")).to_have_text("Error: Enter your name")
    expect(form.page.locator("#intake-contact-phone")).to_have_attribute("aria-invalid", "true")
    contact_group = form.page.locator("[data-field=contact] fieldset")
    expect(contact_group).to_have_attribute("aria-describedby", "intake-contact-error")
    expect(form.page).to_have_title(re.compile(r"^Error: "))

    links.first.click()
    expect(name).to_be_focused()
    assert form.page.url.endswith(FORM_PATH)  # the link moved focus without changing the URL

    name.fill("Ann")
    form.submit.click()
    expect(links).to_have_text(["Choose how you would like us to contact you"])
    expect(name).not_to_have_attribute("aria-invalid", "true")
    assert form.posts() == [] and rx.stored() == []


def test_the_chosen_way_to_contact_needs_its_details_and_consent(form, rx):
    form.field("name").fill("Ann")
    form.field("contact-sms").check()
    form.submit.click()
    expect(form.summary.get_by_role("link")).to_have_text(
        [
            "Enter your phone number, or choose email",
            "Tick the box to let us text you, or choose another way to contact you",
        ]
    )
    form.field("phone").fill("call me maybe")
    form.field("consent_sms").check()
    form.field("email").fill("not an email")
    form.submit.click()
    expect(form.summary.get_by_role("link")).to_have_text(
        [
            "Enter a phone number using only digits, spaces and ( ) + - , like 310 555 0123",
            "Enter an email address like name@example.com",
        ]
    )
    assert form.posts() == [] and rx.stored() == []


def test_error_state_passes_axe(form):
    form.submit.click()
    expect(form.summary).to_be_focused()
    violations = Axe().run(form.page).response["violations"]
    assert violations == [], json.dumps(violations, indent=1)[:3000]


# ---------------------------------------------------------------- failures and retries


def test_the_database_stopped_keeps_the_input_and_the_retry_stores_once_with_the_same_id(
    form, rx, private_key
):
    """PostgreSQL is stopped under the running receiver: the post gets 503, the form keeps every
    answer and says so; once the database is back, "Try again" stores the submission once."""
    form.fill_typed()
    rx.postgres.stop("fast")
    try:
        form.submit.click()
        expect(form.alert).to_be_visible(timeout=10_000)
        expect(form.reason).to_have_text(ENGLISH["form"]["error_unavailable"])
        expect(form.retry_hint).to_be_visible()
        expect(form.retry_hint).to_contain_text("Your answers are still here")
        # The clinic's phone as it stands in clinic.toml (a placeholder until the clinic fills it).
        expect(form.retry_hint).to_contain_text("[TO CONFIRM: main phone number]")
        expect(form.submit).to_have_text("Try again")
        form.expect_typed_kept()
    finally:
        rx.postgres.start()
    assert rx.stored() == []

    form.submit.click()
    expect(form.success).to_be_focused()
    first, second = posted_fields(form)
    assert first["submission_id"] == second["submission_id"]
    # Each attempt has its own AES key and IV (RSA-OAEP's own randomness alone would make the two
    # tokens differ, so compare the unwrapped keys).
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    attempts = [p["jwe"].split(".") for p in (first, second)]
    keys = [private_key.decrypt(b64url_decode(a[1]), oaep) for a in attempts]
    ivs = [b64url_decode(a[2]) for a in attempts]
    assert keys[0] != keys[1] and ivs[0] != ivs[1]
    assert [len(k) for k in keys] == [32, 32] and [len(i) for i in ivs] == [12, 12]
    assert attempts[0][0] == attempts[1][0]  # the same header: same sid and kid
    [stored] = rx.stored()
    assert stored["submission_id"] == first["submission_id"]
    assert decrypt_jwe(stored["jwe"], private_key)["sid"] == first["submission_id"]


def test_a_double_click_posts_once(form, rx):
    form.fill_minimal()
    # The database is slow (its table locked for a moment): the first post is still on its way
    # when the second click lands.
    with rx.table_locked():
        form.submit.dblclick()
        expect(form.submit).to_have_attribute("aria-disabled", "true")
        time.sleep(0.5)
    expect(form.success).to_be_visible()
    assert len(form.posts()) == 1 and len(rx.stored()) == 1


def test_network_error_and_refusal_say_what_happened(form, rx):
    endpoint = rx.url
    form.context.route(endpoint, lambda route: route.abort())
    form.fill_minimal()
    form.submit.click()
    expect(form.reason).to_contain_text("could not reach our form service")
    expect(form.retry_hint).to_be_visible()
    expect(form.submit).to_have_text("Try again")

    form.context.unroute(endpoint)
    form.context.route(
        endpoint,
        lambda route: route.fulfill(
            status=400, body="{}", headers={"Access-Control-Allow-Origin": "*"}
        ),
    )
    form.submit.click()
    expect(form.reason).to_contain_text("could not accept your form. Please call us instead:")
    expect(form.reason).to_contain_text("[TO CONFIRM: main phone number]")
    expect(form.retry_hint).to_be_hidden()
    expect(form.submit).to_have_text(SEND)
    expect(form.field("name")).to_have_value("Ann")
    assert rx.stored() == []


def too_many(texts: dict, wait: str) -> str:
    """The 429 message of a field file, with the wait in words."""
    return texts["form"]["error_too_many"].replace("{wait}", wait)


# The receiver sends Retry-After with 429 and 503, and lets the site's script read it.
EXPOSED = {"Access-Control-Expose-Headers": "Retry-After"}
ANSWERS = {
    "200": (200, {}, None),
    "409 stored before": (409, {}, None),
    "429 wait 300 s": (
        429,
        {"Retry-After": "300", **EXPOSED},
        too_many(ENGLISH, "about 5 minutes"),
    ),
    "429 wait 60 s": (429, {"Retry-After": "60", **EXPOSED}, too_many(ENGLISH, "about 1 minute")),
    "429 wait 61 s": (429, {"Retry-After": "61", **EXPOSED}, too_many(ENGLISH, "about 2 minutes")),
    "429 wait 0 s": (429, {"Retry-After": "0", **EXPOSED}, too_many(ENGLISH, "about 1 minute")),
    "429 wait a day": (
        429,
        {"Retry-After": "86400", **EXPOSED},
        too_many(ENGLISH, "about 60 minutes"),
    ),
    # Not exposed: the browser hides the header from the script.
    "429 wait not exposed": (429, {"Retry-After": "300"}, too_many(ENGLISH, "a few minutes")),
    "429 no wait": (429, EXPOSED, too_many(ENGLISH, "a few minutes")),
    "429 wait as a date": (
        429,
        {"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT", **EXPOSED},
        too_many(ENGLISH, "a few minutes"),
    ),
    "503": (503, {"Retry-After": "10", **EXPOSED}, ENGLISH["form"]["error_unavailable"]),
    "500": (500, {}, ENGLISH["form"]["error_busy"]),
    "502": (502, {}, ENGLISH["form"]["error_busy"]),
}


@pytest.mark.parametrize(("status", "headers", "message"), ANSWERS.values(), ids=ANSWERS)
def test_what_each_answer_means(form, rx, status, headers, message):
    """2xx and 409 (stored before: a retry whose first answer was lost) mean stored. 429 says that
    too many forms came in a short time, and how long to wait when Retry-After says so and may be
    read; 503 that the service is down for a short while; another 5xx that it has a problem. Each
    keeps every answer and offers another try."""
    cors = {"Access-Control-Allow-Origin": "*", **headers}
    answer = {"status": status, "body": "{}", "headers": cors}
    form.context.route(rx.url, lambda route: route.fulfill(**answer))
    form.fill_typed()
    form.submit.click()
    if message is None:
        expect(form.success).to_be_focused()
        expect(form.alert).to_be_hidden()
    else:
        expect(form.reason).to_have_text(message)
        expect(form.reason).to_have_count(1)
        expect(form.retry_hint).to_be_visible()
        expect(form.submit).to_have_text("Try again")
        form.expect_typed_kept()
        expect(form.success).to_be_hidden()
    assert len(form.posts()) == 1


def test_the_spanish_form_says_in_spanish_how_long_to_wait(browser, site_url, rx):
    """The Spanish words for the wait, one and many minutes, written anew after each answer; then
    503 and 500. Unchanged answers keep their submission_id through every retry."""
    texts = SPANISH["form"]
    answers = [
        (429, {"Retry-After": "45", **EXPOSED}, too_many(SPANISH, "más o menos 1 minuto")),
        (429, {"Retry-After": "300", **EXPOSED}, too_many(SPANISH, "unos 5 minutos")),
        (429, {"Retry-After": "7200", **EXPOSED}, too_many(SPANISH, "unos 60 minutos")),
        (429, {"Retry-After": "300"}, too_many(SPANISH, "unos minutos")),
        (503, {"Retry-After": "10", **EXPOSED}, texts["error_unavailable"]),
        (500, {}, texts["error_busy"]),
    ]
    pending = iter(answers)

    def fulfil(route):
        status, headers, _ = next(pending)
        cors = {"Access-Control-Allow-Origin": "*", **headers}
        route.fulfill(status=status, body="{}", headers=cors)

    tab = FormPage(browser, site_url + SPANISH_FORM_PATH)
    try:
        expect(tab.body).to_be_visible()
        tab.context.route(rx.url, fulfil)
        tab.fill_typed()
        for _, _, message in answers:
            tab.submit.click()
            expect(tab.reason).to_have_text(message)
            expect(tab.retry_hint).to_have_text(re.compile("^" + re.escape(texts["retry_hint"])))
            expect(tab.submit).to_have_text(texts["retry"])
            expect(tab.submit).not_to_have_attribute("aria-disabled", "true")
            tab.expect_typed_kept()
        ids = {post["submission_id"] for post in posted_fields(tab)}
        assert len(tab.posts()) == len(answers) and len(ids) == 1
        assert rx.stored() == []
        assert tab.errors == []
    finally:
        tab.context.close()


def test_the_real_receiver_refuses_a_second_form_over_its_limit(form, rx, private_key):
    """The real receiver with a per-address limit of one post in five minutes (deployed, it is 10 a
    minute) stores the first form and answers the second 429 with Retry-After, exposed to the site:
    the form says to wait about 5 minutes, keeps every answer, and nothing of it is stored. With the
    module's receiver back (no per-address limit), "Try again" stores it."""
    with rx.replaced({"RECEIVER_CLIENT_RATE": "0.2"}):
        form.fill_minimal()
        form.submit.click()
        expect(form.success).to_be_visible()
        [first] = rx.stored()

        form.page.reload()
        expect(form.body).to_be_visible()
        form.fill_typed()
        form.submit.click()
        expect(form.reason).to_have_text(too_many(ENGLISH, "about 5 minutes"))
        expect(form.retry_hint).to_be_visible()
        expect(form.submit).to_have_text("Try again")
        form.expect_typed_kept()
        assert rx.stored() == [first]
        accepted, refused = posted_fields(form)
        assert accepted["submission_id"] == first["submission_id"] != refused["submission_id"]

    form.submit.click()
    expect(form.success).to_be_focused()
    stored = rx.stored()
    assert [row["submission_id"] for row in stored] == [
        first["submission_id"],
        refused["submission_id"],
    ]
    assert decrypt_jwe(stored[1]["jwe"], private_key)["fields"]["name"] == TYPED["name"]
    assert leaks([rx.process.log_text()], TYPED) == []


def test_a_silent_service_times_out_after_15_seconds(form, rx):
    form.page.clock.install()
    form.page.reload()
    expect(form.body).to_be_visible()
    form.context.route(rx.url, lambda route: None)  # never answers
    form.fill_minimal()
    form.submit.click()
    expect(form.submit).to_have_attribute("aria-disabled", "true")
    form.page.clock.run_for(14_000)
    expect(form.alert).to_be_hidden()
    form.page.clock.run_for(1_500)
    expect(form.reason).to_contain_text("did not answer in time")
    expect(form.retry_hint).to_be_visible()
    expect(form.submit).to_have_text("Try again")
    expect(form.field("email")).to_have_value("ann@example.com")


def test_a_filled_spam_trap_is_sent_flagged_not_dropped(form, rx, private_key):
    """Autofill or a password manager may fill the hidden box: the request still arrives, with an
    encrypted flag staff see (the trap's content itself is not sent)."""
    form.fill_minimal()
    form.page.locator("[data-intake-trap]").fill("https://spam.example", force=True)
    # The language sent is the page's own <html lang> (the Spanish edition says "es").
    form.page.evaluate("document.documentElement.lang = 'es'")
    form.submit.click()
    expect(form.success).to_be_visible()
    [stored] = rx.stored()
    submission = decrypt_jwe(stored["jwe"], private_key)
    assert submission["likely_spam"] is True
    assert submission["lang"] == "es"
    assert submission["fields"]["name"] == "Ann"
    assert "spam.example" not in json.dumps(submission)


def test_changed_answers_after_an_unknown_outcome_get_a_new_id(form, rx, private_key):
    """The first post is stored but its answer is lost (a timeout): a retry with the same answers
    keeps the id (one submission); corrected answers get a new id, so nothing can drop them."""
    answered = []

    def lose_the_answer(route):
        response = route.fetch()  # the receiver stores it
        answered.append(response.status)
        route.abort()  # ... but the page never hears back

    form.context.route(rx.url, lose_the_answer)
    form.fill_minimal()
    form.submit.click()
    expect(form.reason).to_contain_text("could not reach our form service")
    form.submit.click()  # unchanged: the same id again
    expect(form.submit).to_have_text("Try again")
    form.field("email").fill("ann.lee@example.com")  # corrected
    form.context.unroute(rx.url)
    form.submit.click()
    expect(form.success).to_be_visible()
    ids = [p["submission_id"] for p in posted_fields(form)]
    assert len(ids) == 3 and ids[0] == ids[1] != ids[2], ids
    stored = {r["submission_id"]: [] for r in rx.stored()}
    for record in rx.stored():
        stored[record["submission_id"]].append(decrypt_jwe(record["jwe"], private_key))
    assert [s["fields"]["email"] for s in stored[ids[2]]] == ["ann.lee@example.com"]
    assert {s["fields"]["email"] for s in stored[ids[0]]} == {"ann@example.com"}


def test_the_wire_check_catches_a_script_that_leaks(form):
    """The check above can fail: a script that sends what was typed, percent-encoded by the
    browser in a URL or JSON-escaped in a body, is caught."""
    form.field("email").fill(TYPED["email"])
    form.field("name").fill(TYPED["name"])
    form.context.route("**/leak*", lambda route: route.fulfill(status=204))
    form.page.evaluate(
        """async () => {
            await fetch('/leak?' + document.querySelector('#intake-email').value);
            await fetch('/leak', {method: 'POST', body: JSON.stringify(
                {n: document.querySelector('#intake-name').value})});
        }"""
    )
    wire = wire_texts(form.requests)
    assert any("o%27brien+intake" in text for text in wire)  # not the raw value
    assert not any(TYPED["email"] in text for text in wire)
    assert leaks(wire, TYPED) == ["name", "email"]


# ---------------------------------------------------------------- without JavaScript


def test_without_javascript_nothing_is_posted(browser, site_url, rx):
    tab = FormPage(browser, site_url + FORM_PATH, java_script_enabled=False)
    try:
        fallback = tab.page.locator("[data-intake-fallback]")
        expect(fallback).to_be_visible()
        expect(fallback).to_contain_text("Please call us instead")
        expect(tab.body).to_be_hidden()
        controls = tab.page.locator("form[data-intake] :is(input, textarea, button)")
        assert controls.count() > 10
        for index in range(controls.count()):
            expect(controls.nth(index)).to_be_hidden()
        assert tab.posts() == []

        # Even forced into view and submitted natively, the form carries nothing typed: text
        # fields have no name, so the browser leaves them out.
        tab.body.evaluate("body => { body.hidden = false; }")
        tab.field("name").fill(TYPED["name"])
        tab.field("message").fill(TYPED["message"])
        with tab.page.expect_request(lambda r: r.method == "POST") as native:
            tab.field("name").press("Enter")
        body = native.value.post_data or ""
        assert "Zo" not in body and "Line" not in body and "script" not in body
        assert rx.stored() == []
    finally:
        tab.context.close()


def test_script_is_small_and_self_contained():
    script = Path(__file__).resolve().parent.parent / "theme" / "static" / "js" / "intake.js"
    text = script.read_text(encoding="utf-8")
    assert len(text.encode("utf-8")) <= 8000
    assert "import " not in text and not re.search(r"https?://", text)
    for banned in ("localStorage", "sessionStorage", "document.cookie", "console.", "innerHTML"):
        assert banned not in text, banned


# ---------------------------------------------------------------- the staff inbox reads it


def test_the_staff_inbox_reads_what_the_real_form_sent(form, rx, browser, tmp_path, dev_keypair):
    """What the shipped script sent, downloaded from the receiver's staff export as staff do, opened
    in the offline inbox (from disk) with a passphrase-protected copy of the development key: the
    same answers, the service's receipt time, and no request from the inbox page."""
    form.field("name").fill(TYPED["name"])
    form.field("contact-email").check()
    form.field("email").fill(TYPED["email"])
    form.field("message").fill(TYPED["message"])
    form.field("consent_email").check()
    form.submit.click()
    expect(form.success).to_be_visible()
    [stored] = rx.stored()

    passphrase = "a passphrase for this test only"
    key = tmp_path / "dev-private.jwe"
    dev_key = load_private_key(dev_keypair / "private.pem")
    key.write_text(protect_private_key(dev_key, passphrase))
    inbox_file = write_inbox(tmp_path / "inbox.html")
    context = browser.new_context()
    try:
        page = context.new_page()
        requests = []
        page.on("request", lambda r: requests.append(r.url))
        page.goto(inbox_file.as_uri())
        page.get_by_label("Private key", exact=True).set_input_files(key)
        page.get_by_label("Passphrase").fill(passphrase)
        page.get_by_label("Submissions", exact=True).set_input_files(rx.export(tmp_path))
        page.get_by_role("button", name="Open").click()
        expect(page.get_by_role("status")).to_have_text("1 submission shown.")
        row = page.locator("#table tbody tr")
        assert row.get_attribute("data-sid") == stored["submission_id"]
        assert row.get_attribute("data-time-source") == "service"
        assert row.get_attribute("data-time") == stored["received_at"]
        expect(row.locator("[data-col=name]")).to_have_text(TYPED["name"])
        page.get_by_role("button", name=f"Show the submission from {TYPED['name']}").click()
        detail = page.locator("#detail-list")
        expect(detail).to_contain_text(TYPED["message"], use_inner_text=False)
        expect(detail).to_contain_text("Languageen")
        assert requests == [inbox_file.as_uri()]
    finally:
        context.close()


def test_the_spanish_form_encrypts_and_posts_like_the_english_one(
    browser, site_url, rx, private_key, jwcrypto_key
):
    """The Spanish page's own form: Spanish words, the same fields, and a submission that says
    "lang": "es" with the Spanish consent wording's version, so staff answer in Spanish."""
    spanish = SPANISH
    tab = FormPage(browser, site_url + SPANISH_FORM_PATH)
    try:
        expect(tab.body).to_be_visible()
        assert tab.page.locator("html").get_attribute("lang") == "es"
        expect(tab.submit).to_have_text(spanish["form"]["submit"])
        tab.submit.click()  # nothing filled in: the errors are in Spanish
        expect(tab.summary).to_be_visible()
        expect(tab.summary).to_contain_text(spanish["form"]["error_summary"])
        name_error = next(f for f in spanish["fields"] if f["name"] == "name")["error_required"]
        expect(tab.summary).to_contain_text(name_error)
        assert tab.posts() == []
        tab.field("name").fill("Ana María Peña")
        tab.field("contact-email").check()
        tab.field("email").fill("ana@example.com")
        tab.field("consent_email").check()
        tab.submit.click()
        expect(tab.success).to_be_visible()
        expect(tab.success).to_contain_text(spanish["form"]["success_heading"])
        [stored] = rx.stored()
        submission = decrypt_both(stored["jwe"], private_key, jwcrypto_key)
        assert submission["lang"] == "es"
        assert submission["page"] == "/es/es-la-ketamina-para-mi/"
        assert submission["fields"]["name"] == "Ana María Peña"
        assert submission["consent"]["wording_version"] == spanish["consent"]["wording_version"]
        typed = {"name": "Ana María Peña", "email": "ana@example.com"}
        assert leaks(wire_texts(tab.requests), typed) == []
        assert tab.errors == []
    finally:
        tab.context.close()
