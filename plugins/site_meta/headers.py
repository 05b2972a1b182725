"""Security headers: the Content-Security-Policy of each kind of page, and `_headers` for the host.

Reading pages run no script and allow only the inlined stylesheet by its hash. The form page allows
its inline loader by hash, the script it loads from the site, and connections and posts to the form
endpoint's origin. `_headers` (the file Cloudflare Pages applies) carries the site-wide policy with
the headers a `<meta>` cannot carry.
"""

from __future__ import annotations

import base64
import hashlib
import re
from urllib.parse import quote

import rcssmin

HEADERS_FILE = "_headers"


def minify_css(css: str) -> str:
    """The stylesheet without comments and needless whitespace (rcssmin, a maintained minifier)."""
    return rcssmin.cssmin(css).strip()


def inline_script(js: str) -> str:
    """A script to inline: its `//` comment lines and indentation left out."""
    lines = (line.strip() for line in js.splitlines())
    return "".join(line for line in lines if line and not line.startswith("//"))


def data_url(text: str, media_type: str) -> str:
    """A small text file as a data: URL (percent-encoded, whitespace between tags folded)."""
    folded = re.sub(r">\s+<", "><", text.strip())
    return f"data:{media_type}," + quote(folded, safe="/=:;,.'()-")


def csp_hash(text: str) -> str:
    """The CSP source expression that allows an inline element with exactly this text."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


# ---------------------------------------------------------------- security headers


def origin_of(url: str | None) -> str | None:
    match = re.match(r"^(https?://[^/?#]+)", url or "")
    return match.group(1) if match else None


def content_security_policy(
    *,
    style_hash: str,
    form_page: bool,
    form_origin: str | None,
    for_meta: bool,
    script_hash: str = "",
) -> str:
    """The policy for one kind of page.

    Reading pages allow only the inlined stylesheet and same-site images: no script, no form posts,
    no fonts, no frames. The form page also allows its inlined loader (`script_hash`) and the
    script it loads from the site, and connections and form posts to the site and the form
    endpoint's origin. `style_hash` may list several sources. `frame-ancestors` works only as a
    header.
    """
    extra = f" {form_origin}" if form_origin else ""
    directives = [
        "default-src 'none'",
        "base-uri 'none'",
        # data: for the inlined site icon (browsers that apply img-src to icons need it).
        "img-src 'self' data:",
    ]
    if form_page:
        directives += [
            f"style-src {style_hash}",
            f"script-src 'self' {script_hash}".rstrip(),
            f"connect-src 'self'{extra}",
            f"form-action 'self'{extra}",
        ]
    else:
        # No script runs here, so 'self' lets nothing connect; it lets Lighthouse, which fetches
        # robots.txt from inside the page, read it (GoogleChrome/lighthouse#4386).
        directives += [f"style-src {style_hash}", "connect-src 'self'", "form-action 'none'"]
    if not for_meta:
        directives.append("frame-ancestors 'none'")
    return "; ".join(directives)


def headers_file(
    *,
    style_hash: str,
    form_origin: str | None,
    options: dict,
    script_hash: str = "",
    preview: bool = False,
) -> str:
    """`_headers`: one site-wide block, and a long cache for the theme's files.

    Hosts join the values of every block that matches a path, and browsers enforce every policy
    they get, so a per-page block could only tighten. The site-wide policy is therefore the form
    page's, and each reading page tightens it with its own `<meta>` policy.
    """
    policy = content_security_policy(
        style_hash=style_hash,
        form_page=True,
        form_origin=form_origin,
        for_meta=False,
        script_hash=script_hash,
    )
    lines = [
        "# Written by plugins/site_meta at build time; do not edit.",
        "/*",
        f"  Content-Security-Policy: {policy}",
        # A mental-health site: no page tells another site which page a visitor read.
        "  Referrer-Policy: no-referrer",
        "  X-Content-Type-Options: nosniff",
        "  X-Frame-Options: DENY",
        f"  Permissions-Policy: {options['permissions_policy']}",
        f"  Strict-Transport-Security: max-age={options['hsts_max_age']}; includeSubDomains",
        "  Cross-Origin-Opener-Policy: same-origin",
        "  Cross-Origin-Resource-Policy: same-origin",
    ]
    if preview:
        # A preview deploy (PREVIEW = True) is for editors, never for search engines.
        lines.append("  X-Robots-Tag: noindex")
    # Every page names theme files with `?v=<content hash>` (asset_version), so a changed file
    # gets a new URL and browsers may keep each one for a year without asking again.
    lines += ["/theme/*", "  Cache-Control: public, max-age=31536000, immutable"]
    return "\n".join(lines) + "\n"
