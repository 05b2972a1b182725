"""The built pages as a document tree, parsed by selectolax (the Lexbor HTML5 parser).

A thin layer over selectolax's nodes with the few questions the tests ask: elements by tag and
attributes, their text as a reader sees it, the raw text of a script or style, and where an element
sits. Parsing is the maintained library's; this module only names things for the tests.
"""

from __future__ import annotations

import functools
from pathlib import Path

from selectolax.lexbor import LexborHTMLParser, LexborNode

HIDDEN_TAGS = {"script", "style", "template", "head"}
TEXT = "-text"
# Lexbor's names for nodes that are not elements.
NOT_ELEMENTS = {TEXT, "-comment", "-doctype", "_comment", "_doctype", "!doctype", "-document"}


class Element:
    """One element of a parsed page; each node has one Element (`wrap`), so `is` and `id` work."""

    def __init__(self, node: LexborNode, known: dict[int, Element]):
        self.node = node
        self._known = known

    def wrap(self, node: LexborNode) -> Element:
        element = self._known.get(node.mem_id)
        if element is None:
            element = self._known[node.mem_id] = Element(node, self._known)
        return element

    def __repr__(self) -> str:
        return f"<Element {self.tag} {self.attrs}>"

    @property
    def tag(self) -> str:
        return self.node.tag

    @property
    def attrs(self) -> dict[str, str]:
        return {name: value or "" for name, value in self.node.attributes.items()}

    @property
    def parent(self) -> Element | None:
        parent = self.node.parent
        return self.wrap(parent) if parent is not None and parent.tag not in NOT_ELEMENTS else None

    @property
    def children(self) -> list[Element | str]:
        """Child elements and text, in document order (comments left out)."""
        found: list[Element | str] = []
        for child in self.node.iter(include_text=True):
            if child.tag == TEXT:
                found.append(child.text_content or "")
            elif child.tag not in NOT_ELEMENTS:
                found.append(self.wrap(child))
        return found

    def iter(self):
        """This element and every element inside it, in document order."""
        yield self
        for child in self.node.traverse(include_text=False):
            if child.mem_id != self.node.mem_id and child.tag not in NOT_ELEMENTS:
                yield self.wrap(child)

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
        """All the text inside, scripts and styles included, exactly as written."""
        return self.node.text(deep=True, separator="", strip=False)

    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def inside(self, tag: str) -> bool:
        node = self.parent
        while node is not None:
            if node.tag == tag:
                return True
            node = node.parent
        return False


@functools.cache
def parse(path: Path) -> Element:
    """The `<html>` element of a built page (parsed once per test session: built pages do not change)."""
    tree = LexborHTMLParser(path.read_text(encoding="utf-8"))
    known: dict[int, Element] = {}
    root = known[tree.root.mem_id] = Element(tree.root, known)
    root.tree = tree  # the nodes live as long as their parser
    return root
