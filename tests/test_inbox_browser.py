"""The offline staff inbox (`invoke inbox --out PATH`) in real Chromium, opened from disk.

Both readers, `invoke decrypt` (Python) and the inbox (JavaScript), read the shared vectors in
tests/data/inbox-vectors/ (made by jwcrypto; see make_vectors.py) and must show what
expected.json says, and export byte-identical CSV.
"""

from __future__ import annotations

import http.server
import io
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from conftest import ROOT
from intake_form.keys import b64url, b64url_decode
from playwright.sync_api import Page, expect

from staff.decrypt import read_submissions, write_csv
from staff.inbox import inbox_html, write_inbox
from staff.keys import load_private_key
from staff.readers import visible

VECTORS = ROOT / "tests" / "data" / "inbox-vectors"
PASSPHRASE = (VECTORS / "passphrase.txt").read_text().splitlines()[0]
EXPECTED = json.loads((VECTORS / "expected.json").read_text())
SUBMISSIONS = sorted((VECTORS / "submissions").iterdir())


# ---------------------------------------------------------------- the Python reader


def python_result(paths: list[Path]) -> tuple[dict, str]:
    """What `invoke decrypt` makes of PATHS with the vectors' key: entries and problems in the
    shape of expected.json, and its CSV."""
    key = load_private_key(VECTORS / "key.jwe", PASSPHRASE)
    entries, _found, problems = read_submissions(key, paths)
    shown = [
        {
            "sid": e.submission["sid"],
            "name": e.submission["fields"]["name"],
            "time": e.time,
            "time_source": e.time_source,
            "lang": e.submission["lang"],
            "likely_spam": e.submission["likely_spam"],
            "warning": bool(e.warning),
        }
        for e in entries
    ]
    csv = io.StringIO()
    write_csv(entries, csv)
    result = {"entries": shown, "problems": [[Path(f).name, m] for f, m in problems]}
    return result, csv.getvalue()


def test_the_python_reader_gives_the_expected_results_on_the_shared_vectors():
    result, csv = python_result(SUBMISSIONS)
    assert result["entries"] == EXPECTED["entries"]
    assert result["problems"] == EXPECTED["problems"]
    assert "\x1b" not in csv and "[U+001B][2J" in csv


def test_invoke_inbox_writes_one_self_contained_file(tmp_path):
    made = subprocess.run(
        [sys.executable, "-m", "invoke", "inbox", "--out", str(tmp_path / "inbox.html")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    html = (tmp_path / "inbox.html").read_text(encoding="utf-8")
    assert html == inbox_html()
    assert "default-src 'none'; script-src 'sha256-" in html
    for outside in ("<script src", "<link", "http://", "https://", "@import", "url("):
        assert outside not in html, outside
    for stored in ("localStorage", "sessionStorage", "indexedDB", "document.cookie", "innerHTML"):
        assert stored not in html, stored


# ---------------------------------------------------------------- the page


@pytest.fixture(scope="module")
def inbox_url(tmp_path_factory) -> str:
    return write_inbox(tmp_path_factory.mktemp("staff") / "inbox.html").as_uri()


class Inbox:
    def __init__(self, browser, url: str):
        self.url = url
        self.context = browser.new_context(accept_downloads=True)
        self.page: Page = self.context.new_page()
        self.requests = []
        self.errors = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.goto(url)
        self.status = self.page.get_by_role("status")

    def open(self, files: list[Path], key: Path = VECTORS / "key.jwe", passphrase=PASSPHRASE):
        self.page.get_by_label("Private key", exact=True).set_input_files(key)
        self.page.get_by_label("Passphrase").fill(passphrase)
        self.page.get_by_label("Submissions", exact=True).set_input_files(files)
        self.page.get_by_role("button", name="Open").click()

    def rows(self) -> list[dict]:
        return self.page.eval_on_selector_all(
            "#table tbody tr",
            """rows => rows.map(r => ({sid: r.dataset.sid,
                name: r.querySelector('[data-col=name]').textContent, time: r.dataset.time,
                time_source: r.dataset.timeSource, lang: r.dataset.lang,
                likely_spam: r.dataset.spam === 'yes', warning: r.dataset.warning === 'yes'}))""",
        )

    def problems(self) -> list[list[str]]:
        return self.page.eval_on_selector_all(
            "#problem-table tbody tr",
            "rows => rows.map(r => Array.from(r.cells, c => c.textContent))",
        )

    def storage_is_empty(self) -> None:
        counts = self.page.evaluate(
            """async () => [localStorage.length, sessionStorage.length, document.cookie.length,
                (await indexedDB.databases()).length]"""
        )
        assert counts == [0, 0, 0, 0]
        assert self.context.cookies() == []
        assert self.page.url == self.url  # nothing in a query or fragment


@pytest.fixture
def inbox(browser, inbox_url):
    tab = Inbox(browser, inbox_url)
    yield tab
    tab.context.close()
    assert tab.errors == []


def test_the_inbox_gives_the_same_results_as_invoke_decrypt(inbox):
    """The JavaScript reader on the shared vectors: the rows and per-file problems expected.json
    names, and an exported CSV byte-identical to `invoke decrypt --csv`. No request leaves the
    page, and nothing is stored."""
    inbox.open(SUBMISSIONS)
    expect(inbox.status).to_contain_text("9 submissions shown; 5 problems listed below.")
    expected_rows = [dict(e, name=visible(e["name"])) for e in EXPECTED["entries"]]
    assert inbox.rows() == expected_rows
    assert inbox.problems() == EXPECTED["problems"]
    _, python_csv = python_result(SUBMISSIONS)
    with inbox.page.expect_download() as download:
        inbox.page.get_by_role("button", name="Export CSV").click()
    assert download.value.suggested_filename == "intake-submissions.csv"
    exported = Path(download.value.path()).read_text(encoding="utf-8")
    assert exported == python_csv
    # The CSV guards: controls visible, formulas defused, two versions both present and warned.
    assert "\x1b" not in exported and "\u202e" not in exported and "\x9b" not in exported
    assert "[U+001B]]0;x[U+0007][U+001B][2J" in exported
    assert '"\'=1+2 line one\nline two"' in exported
    assert exported.count("2 different versions share submission id") == 2
    assert inbox.requests == [inbox.url], inbox.requests
    inbox.storage_is_empty()


def test_marks_spam_two_versions_the_senders_claim_and_controls(inbox):
    inbox.open(SUBMISSIONS)
    table = inbox.page.locator("#table")
    spam = table.locator("tr[data-spam=yes]")
    expect(spam).to_have_count(1)
    expect(spam).to_contain_text("Likely spam")
    expect(spam).to_contain_text("Gus Bot")
    expect(table.locator("tr[data-warning=yes]")).to_have_count(2)
    expect(table.locator("tr", has_text="Mallory")).to_contain_text("2 different versions")
    expect(table.locator("tr", has_text="Ana Ruiz")).to_contain_text("sender's claim")
    expect(table.locator("tr", has_text="Ana Ruiz")).to_contain_text("Language: es")
    text = inbox.page.locator("body").inner_text()
    assert "\x1b" not in text and "\u202e" not in text
    assert "[U+001B][2J[U+001B][1;1HAll submissions decrypted OK" in text

    # One submission in full, for reading and printing.
    inbox.page.get_by_role("button", name="Show the submission from Cy Lee").click()
    detail = inbox.page.locator("#detail")
    expect(detail).to_be_focused()
    expect(detail).to_contain_text("pain, anxiety")
    expect(detail).to_contain_text("Consent wording version2026-11-29")
    inbox.page.emulate_media(media="print")
    expect(inbox.page.locator("#table")).to_be_hidden()
    expect(inbox.page.locator("#open-form")).to_be_hidden()
    expect(detail).to_be_visible()
    inbox.page.emulate_media(media="screen")


def test_close_wipes_the_page(inbox):
    inbox.open(SUBMISSIONS)
    expect(inbox.status).to_contain_text("submissions shown")
    inbox.page.get_by_role("button", name="Show the submission from Ben Ode").click()
    inbox.page.get_by_role("button", name="Close").click()
    expect(inbox.status).to_have_text("Closed: everything was removed from this page.")
    state = inbox.page.evaluate(
        """() => ({text: document.body.innerText,
            key: document.querySelector('#key').files.length,
            files: document.querySelector('#files').files.length,
            pass: document.querySelector('#passphrase').value,
            rows: document.querySelectorAll('td').length})"""
    )
    assert state["key"] == state["files"] == state["rows"] == 0 and state["pass"] == ""
    for entry in EXPECTED["entries"]:
        assert entry["name"][:6] not in state["text"]
        assert entry["sid"] not in inbox.page.content()
    inbox.storage_is_empty()


def test_key_problems_are_said_plainly(inbox, tmp_path):
    inbox.open(SUBMISSIONS[:1], passphrase="not the passphrase")
    expect(inbox.status).to_have_text("Wrong passphrase.")
    expect(inbox.page.locator("#results")).to_be_hidden()
    expect(inbox.page.get_by_label("Passphrase")).to_have_value("")

    parts = (VECTORS / "key.jwe").read_text().strip().split(".")
    header = json.loads(b64url_decode(parts[0]))
    header["p2c"] = 1000
    weak = tmp_path / "weak.jwe"
    weak.write_text(".".join([b64url(json.dumps(header).encode()), *parts[1:]]))
    inbox.open(SUBMISSIONS[:1], key=weak)
    expect(inbox.status).to_contain_text("Too few PBKDF2 iterations (1000; at least 600,000")

    inbox.open(SUBMISSIONS[:1], key=SUBMISSIONS[0])
    expect(inbox.status).to_contain_text("This file is not a private key")
    inbox.open(SUBMISSIONS[:1], key=VECTORS / "submissions" / "12-foreign.txt")  # a bare JWE
    expect(inbox.status).to_contain_text("This file is not a protected key")


def test_hostile_files_get_their_own_rows_and_dropped_files_are_read(inbox, tmp_path):
    huge = tmp_path / "huge.txt"
    huge.write_bytes(b"x" * (5 * 1024 * 1024 + 1))
    dropped = (VECTORS / "submissions" / "09-spam.txt").read_text()
    inbox.page.evaluate(
        """text => {
            const data = new DataTransfer();
            data.items.add(new File([text], 'dropped-spam.txt', {type: 'text/plain'}));
            const zone = document.querySelector('#drop');
            zone.dispatchEvent(new DragEvent('dragover', {dataTransfer: data, bubbles: true}));
            zone.dispatchEvent(new DragEvent('drop', {dataTransfer: data, bubbles: true}));
        }""",
        dropped,
    )
    expect(inbox.page.locator("#dropped")).to_have_text("1 dropped file added.")
    nested = VECTORS / "submissions" / "13-nested.eml"
    inbox.open([huge, nested, VECTORS / "submissions" / "01-post.txt"])
    expect(inbox.status).to_contain_text("2 submissions shown; 2 problems")
    assert inbox.problems() == [
        ["13-nested.eml", "too deeply nested (more than 32 MIME boundaries)"],
        ["huge.txt", "too large (5,242,881 bytes; at most 5 MB)"],
    ]
    assert sorted(r["name"] for r in inbox.rows()) == ["Ana Ruiz", "Gus Bot"]


def test_keyboard_only_and_axe(inbox):
    violations = Axe().run(inbox.page).response["violations"]
    assert violations == [], json.dumps(violations, indent=1)[:3000]
    page = inbox.page
    page.get_by_label("Private key", exact=True).set_input_files(VECTORS / "key.jwe")
    page.get_by_label("Submissions", exact=True).set_input_files(SUBMISSIONS)
    page.get_by_label("Private key", exact=True).focus()
    order = []
    for _ in range(4):
        order.append(page.evaluate("document.activeElement.id"))
        page.keyboard.press("Tab")
    assert order == ["key", "passphrase", "files", "open"]
    page.get_by_label("Passphrase").focus()
    page.keyboard.type(PASSPHRASE)
    page.keyboard.press("Enter")
    expect(inbox.status).to_contain_text("9 submissions shown")
    page.get_by_role("button", name="Show the submission from Fay Retry").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#detail")).to_be_focused()
    violations = Axe().run(page).response["violations"]
    assert violations == [], json.dumps(violations, indent=1)[:3000]


def test_the_page_cannot_reach_the_network(browser, inbox_url):
    """The CSP allows no connection, image, frame or form target: even a script added to the
    page cannot send anything out. A real server on loopback listens and must hear nothing.
    (Chromium reports each refusal as a console error.)"""
    heard = []

    class Listener(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the base class's name)
            heard.append(self.path)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Listener)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    tab = Inbox(browser, inbox_url)
    try:
        outcome = tab.page.evaluate(
            """async base => {
                const tries = [];
                try { await fetch(base + '/fetch'); tries.push('fetch sent'); }
                catch { tries.push('fetch refused'); }
                const image = new Image();
                const loaded = new Promise(done => { image.onload = () => done('image loaded');
                    image.onerror = () => done('image refused'); });
                image.src = base + '/image';
                tries.push(await loaded);
                return tries;
            }""",
            base,
        )
        assert outcome == ["fetch refused", "image refused"]
        assert heard == []
        assert any("Content Security Policy" in e for e in tab.errors), tab.errors
    finally:
        tab.context.close()
        server.shutdown()
        server.server_close()


def test_the_private_key_is_imported_as_non_extractable(browser, inbox_url):
    """Every key the inbox makes is non-extractable: a script on the page (or a devtools
    session) cannot export the clinic's private key. WebCrypto's importKey is watched from
    before the page's own script runs (the RSA key is made by unwrapKey straight from the
    protected file, so it never exists as data in the page)."""
    tab = Inbox(browser, inbox_url)
    try:
        tab.context.close()
        tab.context = browser.new_context()
        tab.context.add_init_script(
            """(() => {
              const subtle = crypto.subtle;
              window.__keys = [];
              for (const verb of ["importKey", "unwrapKey", "deriveKey", "generateKey"]) {
                const original = subtle[verb].bind(subtle);
                subtle[verb] = async (...args) => {
                  const key = await original(...args);
                  window.__keys.push({verb, name: key.algorithm.name, type: key.type,
                                      extractable: key.extractable, usages: key.usages});
                  return key;
                };
              }
            })()"""
        )
        tab.page = tab.context.new_page()
        tab.page.on("pageerror", lambda e: tab.errors.append(str(e)))
        tab.page.goto(inbox_url)
        tab.status = tab.page.get_by_role("status")
        tab.open(SUBMISSIONS)
        expect(tab.status).to_contain_text("submissions shown")
        keys = tab.page.evaluate("window.__keys")
        private = [k for k in keys if k["name"] == "RSA-OAEP"]
        assert [k["type"] for k in private] == ["private"], keys
        assert private[0]["usages"] == ["decrypt"]
        assert all(k["extractable"] is False for k in keys), keys
        assert tab.errors == []
    finally:
        tab.context.close()
