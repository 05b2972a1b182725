"""Tasks for editors and developers: `invoke --list` shows them, `invoke --help TASK` explains one.

The README's two commands (`bash scripts/dev serve`, `bash scripts/dev test`) install everything and then
run these tasks with the project's virtual environment.
"""

from __future__ import annotations

import datetime
import os
import re
import shlex
import shutil
import sys
from pathlib import Path

from invoke import Context, Exit, task

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "plugins"))

CONTENT = ROOT / "content"
OUTPUT = ROOT / "output"
CACHE = ROOT / "cache"
DEV_HOST = "127.0.0.1"
DEV_PORT = 8000
RECEIVER_PORT = 8788
# The clinic's public key for the intake form, committed; publishconf.py uses it once it exists.
CLINIC_PUBLIC_KEY = "content/keys/intake-public.pem"
PYTHON = shlex.quote(sys.executable)


def pelican(c: Context, settings: str, *extra: str, **run_kwargs):
    """Run the real Pelican CLI on content/ with the given settings file."""
    args = " ".join(shlex.quote(a) for a in extra)
    return c.run(f"{PYTHON} -m pelican content -s {settings} -o output {args}", **run_kwargs)


def ensure_dev_keys() -> None:
    from intake_form.staff import ensure_dev_keypair

    ensure_dev_keypair(ROOT)


@task
def clean(c: Context) -> None:
    """Delete the built site (output/) and the build cache (cache/)."""
    for folder in (OUTPUT, CACHE):
        if folder.exists():
            shutil.rmtree(folder)
            print(f"removed {folder.relative_to(ROOT)}/")


@task
def build(c: Context) -> None:
    """Build the site for local preview into output/ (fails on any content error)."""
    ensure_dev_keys()
    pelican(c, "pelicanconf.py")


def _build_in_process(content: Path, output: Path) -> None:
    """One build inside this process (fast enough for live reload); errors are printed, not raised."""
    from pelican import main as pelican_main

    try:
        pelican_main([str(content), "-s", "pelicanconf.py", "-o", str(output)])
    except SystemExit as stopped:
        if stopped.code:
            report = stopped.code if isinstance(stopped.code, str) else ""
            print(
                f"{report}\nFix the problems above and save again.\n", file=sys.stderr, flush=True
            )


@task(
    help={
        "port": "preview port (default 8000)",
        "receiver_port": "local form receiver port (default 8788)",
        "content": "content folder to build (default content/)",
        "output": "where the preview is built (default output/)",
        "store": "where the form receiver keeps submissions (default var/intake-submissions/)",
    }
)
def serve(
    c: Context,
    port: int = DEV_PORT,
    receiver_port: int = RECEIVER_PORT,
    content: str = "content",
    output: str = "output",
    store: str = "var/intake-submissions",
) -> None:
    """Preview the site at http://127.0.0.1:8000 with live reload, and run the local form receiver.

    Saving a Markdown file, the clinic facts, a theme file or pelicanconf.py rebuilds the site and
    reloads the open page. The form posts to a receiver on 127.0.0.1:8788 that stores only ciphertext in
    var/intake-submissions/ (read it with `invoke decrypt`).
    """
    sys.path.insert(0, str(ROOT / "scripts"))
    from devserver import serve as preview
    from intake_form.receiver import start_receiver

    ensure_dev_keys()
    try:
        start_receiver(
            DEV_HOST,
            receiver_port,
            Path(store),
            # Only the preview's pages may post (other sites can send simple cross-origin posts).
            allowed_origins=(f"http://{DEV_HOST}:{port}", f"http://localhost:{port}"),
        )
    except OSError as error:
        raise Exit(f"The form receiver cannot listen on port {receiver_port}: {error}") from error
    # The form on the preview posts to this receiver (and the page's CSP allows it).
    os.environ.setdefault("INTAKE_ENDPOINT", f"http://{DEV_HOST}:{receiver_port}/submit")
    source, built = Path(content).resolve(), Path(output).resolve()
    watched = [source, ROOT / "theme", ROOT / "pelicanconf.py"]
    try:
        preview(built, lambda: _build_in_process(source, built), watched, host=DEV_HOST, port=port)
    except OSError as error:
        raise Exit(f"The preview cannot listen on port {port}: {error}") from error


@task
def publish(c: Context) -> None:
    """Production build into output/: absolute SITEURL, no drafts, go-live checks on.

    Fails with one checklist while anything is not ready (placeholders, pages awaiting review, the
    development form endpoint or key). Set SITEURL, INTAKE_ENDPOINT and INTAKE_PUBLIC_KEY first.
    """
    pelican(c, "publishconf.py", "--fatal", "warnings")


@task
def lint(c: Context) -> None:
    """Check Python style with ruff."""
    c.run(f"{PYTHON} -m ruff check .")
    c.run(f"{PYTHON} -m ruff format --check .")


@task
def test(c: Context, k: str = "", audit_pages: bool = True) -> None:
    """Run the whole test suite: lint, Lighthouse (invoke audit), then pytest.

    -k selects tests by name as in pytest (and skips Lighthouse); --no-audit-pages skips Lighthouse.
    pytest runs last so that its summary closes the output.
    """
    ensure_dev_keys()
    lint(c)
    if audit_pages and not k:
        audit(c)
    selection = f"-k {shlex.quote(k)}" if k else ""
    c.run(f"{PYTHON} -m pytest {selection}", pty=False)


@task
def audit(c: Context) -> None:
    """Run Lighthouse (mobile, median of 3 runs) on the home page, an article and the form page; fail under 100."""
    ensure_dev_keys()
    c.run(f"{PYTHON} scripts/audit.py")


@task(
    help={"title": "the page title, in quotes", "medical": "a medical page (needs clinical review)"}
)
def new(c: Context, title: str, medical: bool = False) -> None:
    """Start a new page in content/pages/ with every required front-matter field filled in."""
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    if not slug:
        raise Exit("The title needs at least one letter or digit.")
    path = CONTENT / "pages" / f"{slug}.md"
    shown = os.path.relpath(path, ROOT)
    if path.exists():
        raise Exit(f"{shown} already exists: choose another title or edit that file.")
    lines = [
        f"Title: {title}",
        f"Slug: {slug}",
        "Summary: One plain sentence of 70 to 160 characters that says what this page is about.",
    ]
    if medical:
        lines += [
            "Medical: yes",
            f"Reviewed: {datetime.date.today().isoformat()}",
            "Reviewer: clinical-reviewer",
            "Related: what-to-expect, safety-and-side-effects",
        ]
    body = [
        "",
        "Write the first paragraph here: short sentences and everyday words.",
        "",
        "## A first heading",
        "",
        "More text.",
    ]
    if medical:
        body += [
            "",
            "## References",
            "",
            "1. Author A, et al. What the study found. *Journal*. Year. [doi:10.xxxx/xxxx](https://doi.org/10.xxxx/xxxx)",
        ]
    path.write_text("\n".join(lines + body) + "\n", encoding="utf-8")
    print(f"created {shown}: now edit it (see docs/editing.md)")


@task(help={"articles": "how many synthetic articles at the largest size (default 1000)"})
def bench(c: Context, articles: int = 1000) -> None:
    """Time our cold build, warm rebuild and plain Pelican+Typogrify on synthetic articles.

    Prints times at a quarter, half and all of --articles, and the ratios against the budget
    (cold <= 1.3x plain Pelican with Typogrify; warm <= 0.5x our cold; growth linear).
    """
    ensure_dev_keys()
    c.run(f"{PYTHON} scripts/bench.py --articles {int(articles)}")


def _passphrase(passphrase_file: str, *, twice: bool) -> str:
    """The passphrase from the first line of PASSPHRASE_FILE, or asked on the terminal."""
    import getpass

    from intake_form.staff import read_passphrase_file

    if passphrase_file:
        return read_passphrase_file(Path(passphrase_file))
    if not sys.stdin.isatty():
        raise Exit("no terminal to ask for the passphrase: give --passphrase-file PATH")
    first = getpass.getpass("Passphrase for the new private key: ")
    if twice and getpass.getpass("The same passphrase again: ") != first:
        raise Exit("the two passphrases differ: nothing was written")
    return first


@task(
    help={
        "out": "folder for the new key pair (default: ~/intake-keys, outside the repository)",
        "public": f"where the production build reads the public key (default {CLINIC_PUBLIC_KEY})",
        "passphrase-file": "read the passphrase from this file's first line (else it is asked twice)",
        "no-passphrase": "FOR TESTS ONLY: write the private key without a passphrase",
    }
)
def keygen(
    c: Context,
    out: str = "~/intake-keys",
    public: str = CLINIC_PUBLIC_KEY,
    passphrase_file: str = "",
    no_passphrase: bool = False,
) -> None:
    """Make a new RSA-3072 key pair for the intake form and print its key id.

    The private key is protected by a passphrase (a PBES2 JWE, 600,000 PBKDF2 iterations); the
    public key also goes where the production build reads it (commit that file). Keep the private
    key (mode 0600) off the repository, with the clinic's staff.
    """
    from intake_form.staff import StaffError
    from intake_form.staff import keygen as make_keys

    try:
        if no_passphrase:
            print(
                "warning: --no-passphrase is for tests only: anyone who copies the file reads all"
            )
            passphrase = None
        else:
            passphrase = _passphrase(passphrase_file, twice=True)
        make_keys(
            Path(out).expanduser(),
            public_path=Path(public) if public else None,
            passphrase=passphrase,
            protect=not no_passphrase,
        )
    except StaffError as error:
        raise Exit(str(error)) from error
    if public:
        print(f"Commit {public}: the production build encrypts with it from then on.")


@task(
    help={
        "key": "the private key (a protected ...-private.jwe file, or an older PEM key)",
        "path": "a file or a folder of submissions",
        "csv": "print a CSV table",
        "passphrase-file": "read the key's passphrase from this file's first line (else it is asked)",
    }
)
def decrypt(c: Context, key: str, path: str, csv: bool = False, passphrase_file: str = "") -> None:
    """Decrypt stored intake submissions and print them as JSON lines (or CSV with --csv)."""
    from intake_form.staff import StaffError, decrypt_paths, read_passphrase_file

    try:
        passphrase = read_passphrase_file(Path(passphrase_file)) if passphrase_file else None
    except StaffError as error:
        raise Exit(f"error: {error}") from error
    status = decrypt_paths(Path(key), [Path(path)], csv=csv, passphrase=passphrase)
    if status:
        raise Exit(code=status)


@task(help={"out": "where to write the staff inbox (one HTML file; keep it on the staff computer)"})
def inbox(c: Context, out: str) -> None:
    """Write the offline staff inbox: one HTML file that reads submissions in the browser."""
    from intake_form.inbox import write_inbox

    target = write_inbox(Path(out).expanduser())
    print(f"staff inbox: {target}  (open it from disk in Chrome, Edge or Firefox; no network)")


os.chdir(ROOT)
