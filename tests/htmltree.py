"""A small DOM over Python's html.parser, for tests that read the built pages (no extra dependency)."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

VOID_TAGS = {
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr",
}  # fmt: skip
HIDDEN_TAGS = {"script", "style", "template", "head"}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    parent: Element | None = None
    children: list[Element | str] = field(default_factory=list)

    def iter(self):
        """This element and every element inside it, in document order."""
        yield self
        for child in self.children:
            if isinstance(child, Element):
                yield from child.iter()

    def find_all(self, tag: str, **attrs: str):
        """Elements by tag and attribute values; `data_endpoint=` matches `data-endpoint`."""
        wanted = {k.rstrip("_").replace("_", "-"): v for k, v in attrs.items()}
        for element in self.iter():
            if element.tag == tag and all(element.attrs.get(k) == v for k, v in wanted.items()):
                yield element

    def find(self, tag: str, **attrs: str) -> Element | None:
        return next(self.find_all(tag, **attrs), None)

    def all(self, tag: str, **attrs: str) -> list[Element]:
        return list(self.find_all(tag, **attrs))

    def one(self, tag: str, **attrs: str) -> Element | None:
        return self.find(tag, **attrs)

    def text(self, skip: set[str] = HIDDEN_TAGS) -> str:
        """The text inside, as written (white space kept), leaving out `skip` elements."""
        parts = []
        for child in self.children:
            if isinstance(child, str):
                parts.append(child)
            elif child.tag not in skip:
                parts.append(child.text(skip))
        return "".join(parts)

    def visible_text(self) -> str:
        """The text a reader sees: scripts and styles left out, white space folded."""
        return " ".join(self.text({"script", "style"}).replace("\xa0", " ").split())

    def raw(self) -> str:
        return "".join(c if isinstance(c, str) else c.raw() for c in self.children)

    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def inside(self, tag: str) -> bool:
        node = self.parent
        while node is not None:
            if node.tag == tag:
                return True
            node = node.parent
        return False


class _TreeBuilder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = self.current = Element("#document", {})

    def handle_starttag(self, tag, attrs):
        element = Element(tag, {k: v or "" for k, v in attrs}, self.current)
        self.current.children.append(element)
        if tag not in VOID_TAGS:
            self.current = element

    def handle_startendtag(self, tag, attrs):
        self.current.children.append(Element(tag, {k: v or "" for k, v in attrs}, self.current))

    def handle_endtag(self, tag):
        node = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.current = node.parent

    def handle_data(self, data):
        self.current.children.append(data)


@functools.cache
def parse(path: Path) -> Element:
    """The document tree of a built page (parsed once per test session: built pages do not change)."""
    builder = _TreeBuilder()
    builder.feed(path.read_text(encoding="utf-8"))
    builder.close()
    return builder.root
