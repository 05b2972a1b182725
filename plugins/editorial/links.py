"""Internal links: `{filename}`, `{static}`, `{attach}`, site paths and `#anchors` must resolve."""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

_LINK = re.compile(r"""\b(href|src)\s*=\s*(["'])(.*?)\2""")
_INTRASITE = re.compile(r"^\{(filename|static|attach)\}([^#?]*)(?:\?[^#]*)?(#.*)?$")


def drop_missing_static_links(text: str, root: Path, base: str, report) -> str:
    """Report `{static}`/`{attach}` links to missing files now, and blank them.

    `root` is the content folder, `base` the page's folder in it, `report(message, href)` the
    editorial report for this page.

    Pelican copies linked files right after reading, and crashes with a traceback on a missing one,
    before the whole-site checks run; the build still stops, with this problem in the list.
    """
    if "{static}" not in text and "{attach}" not in text:
        return text

    def check(match: re.Match) -> str:
        href = match.group(3)
        intrasite = _INTRASITE.match(href)
        if not intrasite or intrasite.group(1) == "filename":
            return match.group(0)
        relative = resolve_relative(base, intrasite.group(2))
        if (root / relative).is_file():
            return match.group(0)
        report(f"{href} points to {relative}, which does not exist in content/", href)
        return f"{match.group(1)}={match.group(2)}{match.group(2)}"

    return _LINK.sub(check, text)


def resolve_relative(base: str, path: str) -> str:
    if path.startswith("/"):
        return posixpath.normpath(path.lstrip("/"))
    return posixpath.normpath(posixpath.join(base, path))


def link_problems(contents: list, context: dict, content_root: Path, by_url: dict):
    """(content, problem, where in the source) for every internal link that does not resolve."""
    generated = context.get("generated_content", {})
    static = context.get("static_content", {})
    for content in contents:
        base = posixpath.dirname(content.relative_source_path)
        for _attr, _quote, href in _LINK.findall(content._content or ""):
            problem = link_problem(href, content, base, generated, static, content_root, by_url)
            if problem:
                yield content, problem, href.split("#")[0] or href


def link_problem(href, content, base, generated, static, content_root, by_url) -> str | None:
    match = _INTRASITE.match(href)
    if match:
        kind, path, fragment = match.groups()
        if not path:
            target = content
        else:
            relative = resolve_relative(base, path)
            if kind == "filename":
                target = generated.get(relative)
                if (
                    target is None
                    and relative not in static
                    and not (content_root / relative).is_file()
                ):
                    return f"{href} points to {relative}, which does not exist in content/"
            elif not (content_root / relative).is_file():
                return f"{href} points to {relative}, which does not exist in content/"
            else:
                target = None
        return anchor_problem(href, fragment, target)
    if href.startswith("#"):
        return anchor_problem(href, href, content)
    if href.startswith("/") and not href.startswith("//"):
        path, _, fragment = href.partition("#")
        url = path.lstrip("/")
        target = by_url.get(url) or by_url.get(url.rstrip("/") + "/")
        if target is None and not (content_root / url).is_file():
            return f"{href} is not a page of this site (link to pages with {{filename}})"
        return anchor_problem(href, "#" + fragment if fragment else None, target)
    return None


def anchor_problem(href: str, fragment: str | None, target) -> str | None:
    if not fragment or fragment == "#" or target is None:
        return None
    anchor = fragment[1:]
    ids = getattr(target, "anchor_ids", None)
    if ids is None or anchor in ids or anchor in THEME_ANCHORS:
        return None
    return f"{href}: the page has no heading or element with id {anchor!r}"


# Anchors every page has from the theme.
THEME_ANCHORS = {"main", "top", "crisis"}
