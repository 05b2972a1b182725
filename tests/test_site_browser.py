"""Every page of the production build in real Chromium, served by the host's own runtime.

The site is served by `wrangler pages dev` (Cloudflare Pages' workerd: `_headers`, compression,
404.html, clean URLs; the `wrangler_url` fixture in conftest.py), so what the browser gets is what
visitors get.

For each page, at 390 px and 1280 px, in the light and the dark colour scheme: axe-core finds
nothing; the page requests nothing but its own host; every request succeeds; the console stays clean
(so the Content-Security-Policy blocks nothing the page needs); nothing scrolls sideways; and what
it loads stays within the byte budget. One browser and one tab serve the whole module.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from axe_playwright_python.sync_playwright import Axe
from conftest import chromium_launch_options, front_matter
from playwright.sync_api import sync_playwright

VIEWS = [(390, "light"), (390, "dark"), (1280, "light"), (1280, "dark")]
AXE_OPTIONS = {"resultTypes": ["violations"], "rules": {"target-size": {"enabled": True}}}
PAGE_WEIGHT = 30_000  # bytes on the wire (gzip) for everything one page loads
SITE_ROOT = Path(__file__).resolve().parent.parent


def built_paths() -> list[str]:
    """URL paths of the pages the build writes, read from the front matter of content/pages and its
    language folders (so the tests can be listed before the site is built); a test below checks
    the build agrees."""
    paths = []
    for source in sorted((SITE_ROOT / "content" / "pages").rglob("*.md")):
        meta = front_matter(source)
        if meta.get("status") == "draft":
            continue
        folder = f"{meta['lang']}/" if meta.get("lang", "en") != "en" else ""
        save_as = meta.get("save_as") or f"{folder}{meta.get('slug') or source.stem}/index.html"
        paths.append("/" + save_as.removesuffix("index.html"))
    return paths


class Tab:
    """One browser tab that records what each page load requests and logs."""

    def __init__(self, browser, base_url: str):
        self.base = base_url
        self.host = urlsplit(base_url).netloc
        self.context = browser.new_context()
        self.page = self.context.new_page()
        self.axe = Axe()
        self.context.route("**/*", self._route)
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        self.page.on("requestfinished", self._finished)
        self.page.on("requestfailed", lambda r: self.errors.append(f"failed: {r.url}"))
        self.reset()

    def reset(self) -> None:
        self.outside: list[str] = []
        self.errors: list[str] = []
        self.bad_status: list[str] = []
        self.wire_bytes = 0

    def _route(self, route) -> None:
        if urlsplit(route.request.url).netloc != self.host:
            self.outside.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    def _console(self, message) -> None:
        if message.type in ("error", "warning"):
            self.errors.append(f"console {message.type}: {message.text}")

    def _finished(self, request) -> None:
        response = request.response()
        if response is None:
            return
        expected_404 = request.url.endswith("/404.html") or "does-not-exist" in request.url
        if response.status >= 400 and not expected_404:
            self.bad_status.append(f"{response.status} {request.url}")
        self.wire_bytes += request.sizes()["responseBodySize"]

    def open(self, path: str, width: int, scheme: str) -> None:
        self.reset()
        self.page.set_viewport_size({"width": width, "height": 900})
        self.page.emulate_media(color_scheme=scheme, reduced_motion="no-preference", media="screen")
        self.page.goto(self.base + path, wait_until="load")

    def close(self) -> None:
        self.context.close()


@pytest.fixture(scope="module")
def tab(wrangler_url: str):
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**chromium_launch_options())
        tab = Tab(browser, wrangler_url)
        yield tab
        tab.close()
        browser.close()


@pytest.mark.parametrize("path", built_paths())
def test_page_in_the_browser(tab: Tab, path: str):
    problems = []
    for width, scheme in VIEWS:
        view = f"{path} at {width}px, {scheme}"
        tab.open(path, width, scheme)
        violations = tab.axe.run(tab.page, options=AXE_OPTIONS).response["violations"]
        for violation in violations:
            targets = [node["target"] for node in violation["nodes"]][:3]
            problems.append(f"{view}: axe {violation['id']}: {violation['help']} {targets}")
        scroll = tab.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        if scroll > 0:
            problems.append(f"{view}: scrolls sideways by {scroll}px")
        problems += [f"{view}: requested another host: {url}" for url in tab.outside]
        problems += [f"{view}: {error}" for error in tab.errors + tab.bad_status]
        if tab.wire_bytes > PAGE_WEIGHT:
            problems.append(f"{view}: loaded {tab.wire_bytes} bytes (> {PAGE_WEIGHT})")
    assert problems == []


def test_every_built_page_is_visited(wrangler_output: Path):
    built = {
        "/" + p.relative_to(wrangler_output).as_posix().removesuffix("index.html")
        for p in wrangler_output.rglob("*.html")
    }
    assert built == set(built_paths())


def test_the_skip_link_is_the_first_stop_and_focus_is_visible(tab: Tab):
    tab.open("/depression/", 390, "light")
    tab.page.keyboard.press("Tab")
    focused = tab.page.evaluate(
        """() => {
            const el = document.activeElement, style = getComputedStyle(el);
            const box = el.getBoundingClientRect();
            return {href: el.getAttribute('href'), outline: style.outlineStyle,
                    width: parseFloat(style.outlineWidth), top: box.top, height: box.height};
        }"""
    )
    assert focused["href"] == "#main"
    assert focused["outline"] == "solid" and focused["width"] >= 2
    assert focused["top"] >= 0 and focused["height"] >= 24  # shown on screen when focused
    tab.page.keyboard.press("Enter")
    assert tab.page.evaluate("location.hash") == "#main"


def test_reduced_motion_turns_off_smooth_scrolling(tab: Tab):
    tab.open("/faq/", 390, "light")
    scroll = "getComputedStyle(document.documentElement).scrollBehavior"
    assert tab.page.evaluate(scroll) == "smooth"
    tab.page.emulate_media(reduced_motion="reduce")
    assert tab.page.evaluate(scroll) == "auto"


def test_print_shows_the_text_and_the_crisis_notice_without_navigation(tab: Tab):
    tab.open("/depression/", 1280, "dark")
    tab.page.emulate_media(media="print")
    shown = tab.page.evaluate(
        """() => Object.fromEntries(['.site-nav', '.cta', '#crisis', '.prose', '#references']
            .map(s => [s, getComputedStyle(document.querySelector(s)).display !== 'none']))"""
    )
    assert shown == {
        ".site-nav": False,
        ".cta": False,
        "#crisis": True,
        ".prose": True,
        "#references": True,
    }
    background = tab.page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(255, 255, 255)"  # dark scheme or not, print on white


def test_a_missing_page_gets_the_404_page(tab: Tab):
    response = tab.page.goto(tab.base + "/does-not-exist/")
    assert response.status == 404
    assert "Page not found" in tab.page.title()


def test_the_browser_gets_the_sites_referrer_policy_from_the_host(tab: Tab):
    """The host has a default of its own (strict-origin-when-cross-origin, which sends the page's
    address along on same-site requests); the browser gets only the site's `no-referrer`, and it
    rules even a document with no `<meta name="referrer">` of its own."""
    response = tab.page.goto(tab.base + "/robots.txt")
    assert response.header_values("referrer-policy") == ["no-referrer"]
    with tab.page.expect_request("**/sitemap.xml") as sent:
        tab.page.evaluate("fetch('/sitemap.xml').then(r => r.text())")
    assert "referer" not in sent.value.all_headers()
    response = tab.page.goto(tab.base + "/depression/")
    assert response.header_values("referrer-policy") == ["no-referrer"]
    assert response.header_values("content-security-policy") != []
