"""`invoke serve`: an editor saves a Markdown file and the open page in the browser reloads by itself."""

from __future__ import annotations

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
    port, receiver_port = free_port(), free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "invoke",
            "serve",
            "--port",
            str(port),
            "--receiver-port",
            str(receiver_port),
            "--content",
            str(content),
            "--output",
            str(tmp_path / "output"),
            "--store",
            str(tmp_path / "store"),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(url + "/", process)
        yield url, content, tmp_path / "store"
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()


def test_saving_markdown_reloads_the_open_page(preview):
    url, content, _store = preview
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
    url, _content, _store = preview
    with urllib.request.urlopen(url + "/depression/") as response:
        assert response.status == 200
        assert b'<script src="/__reload.js" defer></script>' in response.read()
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(url + "/no-such-page/")
    with missing.value as response:
        assert response.code == 404
        assert b"Page not found" in response.read()


def test_on_a_fresh_clone_the_form_works_end_to_end_and_invoke_decrypt_reads_it(
    preview, dev_keypair: Path
):
    """The visitor sends the form on the preview; staff read it with `invoke decrypt`."""
    url, _content, store = preview
    name = 'Zoë "Q" <O\'Brien>'
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**chromium_launch_options())
        page = browser.new_page(reduced_motion="reduce")
        page.goto(url + "/is-ketamine-right-for-me/")
        page.locator("#intake-name").fill(name)
        page.locator("#intake-contact-email").check()
        page.locator("#intake-email").fill("zoe@example.com")
        page.locator("#intake-consent_email").check()
        page.get_by_role("button", name="Send securely").click()
        expect(page.get_by_role("status")).to_contain_text("Thank you", timeout=15_000)
        browser.close()
    stored = sorted(store.iterdir())
    assert len(stored) == 1
    assert name not in stored[0].read_text(encoding="utf-8")  # only ciphertext is kept
    decrypted = subprocess.run(
        [
            sys.executable,
            "-m",
            "invoke",
            "decrypt",
            "--key",
            str(dev_keypair / "private.pem"),
            str(store),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert decrypted.returncode == 0, decrypted.stderr
    submission = json.loads(decrypted.stdout.strip().splitlines()[0])
    assert submission["fields"]["name"] == name
    assert submission["consent"]["email"] is True
