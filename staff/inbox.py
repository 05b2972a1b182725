"""The offline staff inbox: one self-contained HTML file that `invoke inbox --out PATH` writes.

Staff keep the file on their computer and open it from disk; it is never part of the deployed site
(a page served from the site could be changed to steal the key). Its Content-Security-Policy allows
no network at all: `default-src 'none'`, with the inline script and style allowed by their hashes.
The page's own files are in staff/inbox/: inbox.html, inbox.css, and the script in two parts,
reader.js and page.js.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

SOURCE = Path(__file__).resolve().parent / "inbox"
SCRIPTS = ("reader.js", "page.js")


def _hash(text: str) -> str:
    return (
        "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"
    )


def inbox_html() -> str:
    """The inbox page: the HTML with its script and style inlined, and a CSP allowing only them."""
    page = (SOURCE / "inbox.html").read_text(encoding="utf-8")
    css = (SOURCE / "inbox.css").read_text(encoding="utf-8")
    parts = [(SOURCE / name).read_text(encoding="utf-8") for name in SCRIPTS]
    # One function around both: the reader's names stay out of the page's global scope.
    js = "(() => {\n'use strict';\n\n" + "\n".join(parts) + "})();\n"
    if "</script" in js.lower() or "</style" in css.lower():
        raise ValueError(f"{SOURCE}: the script or style would end its own element early")
    csp = (
        f"default-src 'none'; script-src {_hash(js)}; style-src {_hash(css)}; "
        "base-uri 'none'; form-action 'none'"
    )
    for marker, value in (("{csp}", csp), ("{css}", css), ("{js}", js)):
        if page.count(marker) != 1:
            raise ValueError(f"{SOURCE / 'inbox.html'}: expected {marker} once")
        page = page.replace(marker, value)
    return page


def write_inbox(out: Path) -> Path:
    """Write the inbox to OUT (a file, or a folder: then OUT/intake-inbox.html); return the path."""
    out = Path(out)
    target = out / "intake-inbox.html" if out.is_dir() else out
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(inbox_html(), encoding="utf-8")
    return target
