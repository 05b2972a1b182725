"""Smoke check of a deployed site: do the host's answers carry the headers the build wrote?

Fetches the home page, a medical article, the form page and a path that does not exist, and fails
when any header that the built `_headers` sets for that path is missing, sent more than once, or
has another value; when a page does not answer 200 with the built file's bytes; or when the
missing path does not answer 404 with the site's 404 page. It reads only the standard library, so
the deploy workflow runs it with no installs.

    python scripts/smoke.py https://www.example.org --site output            # after a deploy
    python scripts/smoke.py http://127.0.0.1:8799 --site output --wait 0      # one attempt

The deploy workflow runs it against the live address; tests/test_host.py runs it against
`wrangler pages dev` serving the production build, and shows that it fails on a wrong header.
"""

from __future__ import annotations

import argparse
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

PAGES = {
    "home page": "/",
    "article": "/depression/",
    "form page": "/is-ketamine-right-for-me/",
}
USER_AGENT = "kcla-smoke-check/1"


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def parse_headers_file(text: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """`_headers` (Cloudflare Pages / Netlify format) as (path pattern, [(name, value)])."""
    rules: list[tuple[str, list[tuple[str, str]]]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        if not raw[0].isspace():
            rules.append((raw.strip(), []))
        elif rules and ":" in raw:
            name, _, value = raw.strip().partition(":")
            rules[-1][1].append((name.strip(), value.strip()))
        else:
            raise ValueError(f"_headers line {number}: not a path or a `Name: value` line: {raw!r}")
    return rules


def expected_for(rules: list[tuple[str, list[tuple[str, str]]]], path: str) -> dict[str, str]:
    """The headers the host should send for `path` (lower-case name -> value).

    Patterns are exact paths or end in `*`; when several blocks set one header, the host joins
    their values with ", " (as Cloudflare Pages does).
    """
    expected: dict[str, list[str]] = {}
    for pattern, headers in rules:
        if pattern == path or (pattern.endswith("*") and path.startswith(pattern[:-1])):
            for name, value in headers:
                expected.setdefault(name.lower(), []).append(value)
    return {name: ", ".join(values) for name, values in expected.items()}


def header_problems(where: str, expected: dict[str, str], sent: list[tuple[str, str]]) -> list[str]:
    """Each expected header must be sent exactly once, with exactly the expected value."""
    problems = []
    for name, value in expected.items():
        values = [v.strip() for n, v in sent if n.lower() == name]
        if not values:
            problems.append(f"{where}: no {name} header (expected {value!r})")
        elif len(values) > 1:
            problems.append(f"{where}: {name} sent {len(values)} times: {values}")
        elif values[0] != value:
            problems.append(f"{where}: {name} is {values[0]!r}, expected {value!r}")
    return problems


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # report the redirect itself


def fetch(url: str, timeout: float = 20) -> Answer:
    """GET `url` without following redirects; an HTTP error status is an answer, not an error."""
    opener = urllib.request.build_opener(_NoRedirect)
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        with opener.open(request, timeout=timeout) as response:
            return Answer(response.status, list(response.headers.items()), response.read())
    except urllib.error.HTTPError as error:
        return Answer(error.code, list(error.headers.items()), error.read())


def built_file(site: Path, path: str) -> Path:
    """The file in the build that the host serves at the URL path `path`."""
    relative = path.lstrip("/")
    return site / relative / "index.html" if path.endswith("/") else site / relative


def check(base_url: str, site: Path, pages: dict[str, str] | None = None) -> list[str]:
    """Everything wrong with the deployed site at `base_url`, compared with the build in `site`."""
    base_url = base_url.rstrip("/")
    rules = parse_headers_file((site / "_headers").read_text(encoding="utf-8"))
    if not rules:
        return [f"{site / '_headers'} sets no headers"]
    problems = []
    for label, path in (pages or PAGES).items():
        where = f"{label} {path}"
        answer = fetch(base_url + path)
        if answer.status != 200:
            problems.append(f"{where}: status {answer.status}, expected 200")
        elif answer.body != built_file(site, path).read_bytes():
            problems.append(f"{where}: the body is not the built {built_file(site, path)}")
        problems += header_problems(where, expected_for(rules, path), answer.headers)
    missing = f"/smoke-check-{uuid.uuid4().hex[:12]}/"
    where = f"missing path {missing}"
    answer = fetch(base_url + missing)
    if answer.status != 404:
        problems.append(f"{where}: status {answer.status}, expected 404")
    elif answer.body != (site / "404.html").read_bytes():
        problems.append(f"{where}: the body is not the site's 404.html")
    problems += header_problems(where, expected_for(rules, missing), answer.headers)
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "base_url", help="the deployed site's address, e.g. https://www.example.org"
    )
    parser.add_argument("--site", type=Path, default=Path("output"), help="the build deployed")
    parser.add_argument(
        "--wait",
        type=float,
        default=180,
        help="seconds to keep trying while the new deploy propagates (0: one attempt)",
    )
    options = parser.parse_args(argv)
    missing = [
        str(built_file(options.site, p))
        for p in PAGES.values()
        if not built_file(options.site, p).is_file()
    ]
    for name in ("_headers", "404.html"):
        if not (options.site / name).is_file():
            missing.append(str(options.site / name))
    if missing:
        print(f"smoke: not in the build: {', '.join(missing)}", file=sys.stderr)
        return 2
    deadline = time.monotonic() + options.wait
    while True:
        try:
            problems = check(options.base_url, options.site)
        except (OSError, ValueError) as error:
            problems = [f"cannot check {options.base_url}: {error}"]
        if not problems or time.monotonic() >= deadline:
            break
        time.sleep(10)
    if problems:
        print(f"smoke: {options.base_url} does not serve what the build wrote:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    print(
        f"smoke: {options.base_url}: {len(PAGES)} pages and a missing path, every header as built"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
