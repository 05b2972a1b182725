"""Make the screenshots in docs/staff-inbox.md from the real inbox page, in headless Chromium.

Run from the repository root: `python staff/inbox/screenshots.py`. It writes the inbox to a
temporary folder, opens it from disk, reads the shared test vectors (fictional people, a public
test key) and saves PNGs to docs/images/. Not part of the inbox itself.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "plugins"), str(ROOT / "tests"), str(ROOT / "scripts")]

from conftest import chromium_launch_options  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from staff.inbox import write_inbox  # noqa: E402

VECTORS = ROOT / "tests" / "data" / "inbox-vectors"
IMAGES = ROOT / "docs" / "images"


def main() -> None:
    IMAGES.mkdir(parents=True, exist_ok=True)
    passphrase = (VECTORS / "passphrase.txt").read_text().splitlines()[0]
    readable = [p for p in sorted((VECTORS / "submissions").iterdir()) if p.name[:2] <= "12"]
    with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
        inbox = write_inbox(Path(folder) / "inbox.html")
        browser = playwright.chromium.launch(**chromium_launch_options())
        page = browser.new_page(viewport={"width": 1000, "height": 640})
        page.goto(inbox.as_uri())
        page.get_by_label("Private key", exact=True).set_input_files(VECTORS / "key.jwe")
        page.get_by_label("Passphrase").fill(passphrase)
        page.get_by_label("Submissions", exact=True).set_input_files(readable)
        page.screenshot(path=IMAGES / "staff-inbox-open.png")
        page.get_by_role("button", name="Open").click()
        page.get_by_role("status").filter(has_text="shown").wait_for()
        page.set_viewport_size({"width": 1200, "height": 640})
        page.locator("#results-heading").scroll_into_view_if_needed()
        box = page.locator("#results").bounding_box()
        page.screenshot(
            path=IMAGES / "staff-inbox-table.png",
            clip={"x": box["x"], "y": box["y"], "width": box["width"], "height": 600},
            full_page=True,
        )
        page.get_by_role("button", name="Show the submission from Cy Lee").click()
        page.emulate_media(media="print")
        page.locator("#detail").screenshot(path=IMAGES / "staff-inbox-detail.png")
        browser.close()
    for image in sorted(IMAGES.glob("staff-inbox-*.png")):
        print(f"{image.relative_to(ROOT)}: {image.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
