"""`invoke serve`: an editor saves a Markdown file and the open page in the browser reloads by itself."""

from __future__ import annotations

import base64
import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import ROOT, chromium_launch_options
from playwright.sync_api import expect, sync_playwright
from wire import leaks, stored_texts


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_serving(url: str, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"invoke serve exited:\n{process.stdout.read()}", pytrace=False)
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"invoke serve did not answer at {url}", pytrace=False)


@pytest.fixture
def preview(tmp_path: Path, dev_keypair):
    """`invoke serve` on free ports, building a copy of the real content (so tests can edit it)."""
    content = tmp_path / "content"
    shutil.copytree(ROOT / "content", content)
    for url, _root, _database, receiver_url in _serve(ROOT, tmp_path, content):
        with urllib.request.urlopen(receiver_url + "/healthz", timeout=5) as health:
            assert health.status == 200  # invoke serve runs the receiver too
        yield url, content


@pytest.fixture
def fresh_clone(tmp_path: Path):
    """A real `git clone` of this repository (what is committed, nothing else: no key pair, no
    output), run as the README says: `invoke receiver` (the form receiver on SQLite), and
    `invoke serve --no-receiver` showing the site that posts to it, on free ports."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, timeout=120)
    assert not (clone / "var").exists()
    yield from _serve(clone, tmp_path, clone / "content", receiver_alone=True)


def _invoke(root: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "invoke", *args],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(timeout=15)
    process.stdout.close()


def _serve(root: Path, tmp_path: Path, content: Path, receiver_alone: bool = False):
    port, receiver_port = free_port(), free_port()
    url, receiver_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{receiver_port}"
    database = f"sqlite:///{tmp_path / 'receiver' / 'submissions.sqlite3'}"
    started = []
    if receiver_alone:
        receiving = _invoke(
            root, "receiver", "--port", str(receiver_port), "--db", database, "--origin", url
        )
        started.append(receiving)
    serve = ["serve", "--port", str(port), "--receiver-port", str(receiver_port)]
    serve += ["--content", str(content), "--output", str(tmp_path / "output"), "--db", database]
    if receiver_alone:
        serve.append("--no-receiver")
    try:
        if receiver_alone:
            wait_until_serving(receiver_url + "/healthz", receiving)
        started.append(_invoke(root, *serve))
        wait_until_serving(url + "/", started[-1])
        yield url, root, tmp_path / "receiver", receiver_url
    finally:
        for process in reversed(started):
            _stop(process)
    # Whichever way it ran, nothing of the receiver outlives its task.
    with pytest.raises(OSError):
        urllib.request.urlopen(receiver_url + "/healthz", timeout=2)


def test_saving_markdown_reloads_the_open_page(preview):
    url, content = preview
    added = "A sentence an editor added while the page was open."
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**chromium_launch_options())
        page = browser.new_page()
        with page.expect_request("**/__reload"):
            page.goto(url + "/faq/")
        expect(page.locator("h1")).to_be_visible()
        time.sleep(0.3)  # let the server register the open event stream
        page_file = content / "pages" / "faq.md"
        page_file.write_text(
            page_file.read_text(encoding="utf-8") + f"\n{added}\n", encoding="utf-8"
        )
        expect(page.locator("main")).to_contain_text(added, timeout=10_000)
        browser.close()


def test_the_preview_serves_clean_urls_and_the_404_page(preview):
    url, _content = preview
    with urllib.request.urlopen(url + "/depression/") as response:
        assert response.status == 200
        assert b'<script src="/__reload.js" defer></script>' in response.read()
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(url + "/no-such-page/")
    with missing.value as response:
        assert response.code == 404
        assert b"Page not found" in response.read()


def test_on_a_fresh_clone_the_readme_steps_deliver_a_submission_staff_read(fresh_clone, tmp_path):
    """The README's steps on a fresh clone: the visitor sends the form on the preview, which posts
    to `invoke receiver`; the receiver stores nothing typed (its SQLite files and its export checked
    decoded: JSON parsed, JWE parts base64url-decoded); staff add a user, download the export and
    read it in the offline inbox (`invoke inbox`, in Chromium) and with `invoke decrypt`."""
    url, clone, database, receiver_url = fresh_clone
    typed = {"name": 'Zoë "Q" <O\'Brien>', "email": "zoe+q@example.com"}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**chromium_launch_options())
        page = browser.new_page(reduced_motion="reduce")
        page.goto(url + "/is-ketamine-right-for-me/")
        page.locator("#intake-name").fill(typed["name"])
        page.locator("#intake-contact-email").check()
        page.locator("#intake-email").fill(typed["email"])
        page.locator("#intake-consent_email").check()
        page.get_by_role("button", name="Send securely").click()
        expect(page.get_by_role("status")).to_contain_text("Thank you", timeout=15_000)
        browser.close()

    def invoke(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "invoke", *args],
            cwd=clone,
            capture_output=True,
            text=True,
            timeout=60,
        )

    password = tmp_path / "password.txt"
    password.write_text("a staff password for tests only\n")
    db = f"sqlite:///{database / 'submissions.sqlite3'}"
    added = invoke("receiver-user", "frontdesk", "--db", db, "--password-file", str(password))
    assert added.returncode == 0, added.stderr
    credentials = base64.b64encode(b"frontdesk:a staff password for tests only").decode()
    request = urllib.request.Request(
        receiver_url + "/export", headers={"Authorization": f"Basic {credentials}"}
    )
    export = tmp_path / "export.json"
    with urllib.request.urlopen(request, timeout=10) as response:
        export.write_bytes(response.read())
    assert len(json.loads(export.read_text())["submissions"]) == 1
    assert leaks(stored_texts(export), typed) == []  # only ciphertext is kept
    raw = b"".join(p.read_bytes() for p in database.iterdir())
    assert leaks([raw.decode("latin-1"), raw.decode("utf-8", "replace")], typed) == []
    decrypted = invoke(
        "decrypt", "--key", str(clone / "var" / "intake-dev" / "private.pem"), str(export)
    )
    assert decrypted.returncode == 0, decrypted.stderr
    line = json.loads(decrypted.stdout.strip().splitlines()[0])
    assert line["time_source"] == "service" and line["time"].endswith("Z")
    submission = line["submission"]
    assert submission["fields"]["name"] == typed["name"]
    assert submission["consent"]["email"] is True
    assert submission["lang"] == "en"

    inbox = tmp_path / "intake-inbox.html"
    assert invoke("inbox", "--out", str(inbox)).returncode == 0
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**chromium_launch_options())
        page = browser.new_page()
        page.goto(inbox.as_uri())
        key = clone / "var" / "intake-dev" / "private.pem"
        page.get_by_label("Private key", exact=True).set_input_files(key)
        page.get_by_label("Submissions", exact=True).set_input_files(export)
        page.get_by_role("button", name="Open").click()
        expect(page.get_by_role("status")).to_contain_text("1 submission shown.")
        row = page.locator("#table tbody tr")
        expect(row.locator("[data-col=name]")).to_have_text(typed["name"])
        assert row.get_attribute("data-time-source") == "service"
        browser.close()


def test_the_stored_file_check_can_fail(tmp_path):
    """The check above decodes before searching: a name stored JSON-escaped, or inside a JWE
    header, is found (the raw text of either does not contain it)."""
    name = 'Zoë "Q" <O\'Brien>'
    escaped = tmp_path / "escaped.json"
    escaped.write_text(json.dumps({"jwe": "x", "name": name}), encoding="utf-8")
    assert name not in escaped.read_text(encoding="utf-8")
    assert leaks(stored_texts(escaped), {"name": name}) == ["name"]
    header = base64.urlsafe_b64encode(json.dumps({"n": name}).encode()).decode().rstrip("=")
    in_header = tmp_path / "header.json"
    in_header.write_text(json.dumps({"jwe": f"{header}.a.b.c.d"}), encoding="utf-8")
    assert leaks(stored_texts(in_header), {"name": name}) == ["name"]
