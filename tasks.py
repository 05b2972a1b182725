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
import unicodedata
from pathlib import Path

from invoke import Context, Exit, task

ROOT = Path(__file__).resolve().parent
# invoke puts this folder (ROOT) on sys.path before loading tasks.py, so receiver/ and staff/
# import as packages; the plugins and what the staff tools use of them import from plugins/.
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
    from intake_form.keys import ensure_dev_keypair

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


# The receiver's local database (git-ignored, outside output/), and the origins of the preview.
RECEIVER_DB = f"sqlite:///{ROOT / 'var' / 'receiver' / 'submissions.sqlite3'}"
PREVIEW_ORIGINS = (f"http://{DEV_HOST}:{DEV_PORT}", f"http://localhost:{DEV_PORT}")


def site_key_ids() -> list[str]:
    """The key ids the site's forms encrypt for: the development key, and the clinic's key once
    `invoke keygen` has written it (INTAKE_PUBLIC_KEY too, when set)."""
    from cryptography.hazmat.primitives.serialization import load_pem_public_key
    from intake_form.keys import key_id

    ensure_dev_keys()
    candidates = [ROOT / "var" / "intake-dev" / "public.pem", ROOT / CLINIC_PUBLIC_KEY]
    if os.environ.get("INTAKE_PUBLIC_KEY"):
        candidates.append(Path(os.environ["INTAKE_PUBLIC_KEY"]))
    found = []
    for path in candidates:
        if path.is_file():
            kid = key_id(load_pem_public_key(path.read_bytes()))
            if kid not in found:
                found.append(kid)
    return found


def _receiver_db(db: str) -> str:
    """--db, else RECEIVER_DATABASE_URL, else the local SQLite file in var/receiver/."""
    return db or os.environ.get("RECEIVER_DATABASE_URL", RECEIVER_DB)


def _receiver_main(args: list[str]) -> None:
    """`python -m receiver ARGS` in this process; Exit with its status when it fails."""
    from receiver.__main__ import main as receiver_main

    status = receiver_main(args)
    if status:
        raise Exit(code=status)


@task(
    help={
        "port": f"port on 127.0.0.1 (default {RECEIVER_PORT}, where the local build's form posts)",
        "db": "database URL: sqlite:///PATH or postgresql://... (default var/receiver/, SQLite)",
        "origin": "a site origin allowed to post, besides the preview's (repeatable)",
    },
    iterable=["origin"],
)
def receiver(c: Context, port: int = RECEIVER_PORT, db: str = "", origin=None) -> None:
    """Run the form receiver (receiver/, the clinic's form endpoint) on this machine.

    It stores only ciphertext, in SQLite under var/receiver/ unless --db (or RECEIVER_DATABASE_URL)
    names another database, e.g. postgresql://user@127.0.0.1/intake. The site that `invoke build`
    makes posts here. Staff download what arrived from http://127.0.0.1:8788/export with a user
    from `invoke receiver-user`, then open it in the inbox (`invoke inbox`). docs/receiver.md.
    """
    sys.path.insert(0, str(ROOT / "scripts"))
    from receiver_process import serve_command

    origins = [*PREVIEW_ORIGINS, *(origin or [])]
    command = serve_command(_receiver_db(db), port, origins, site_key_ids())
    # The receiver takes this process's place, so Ctrl+C and SIGTERM reach it directly.
    sys.stdout.flush()
    os.execv(command[0], command)


@task(
    help={
        "name": "the staff member's user name (lower-case letters, digits, '.', '_', '-')",
        "db": "database URL (default: the local receiver's, var/receiver/)",
        "password-file": "read the password from this file's first line (else it is asked twice)",
        "delete": "delete the user instead",
    }
)
def receiver_user(
    c: Context, name: str, db: str = "", password_file: str = "", delete: bool = False
) -> None:
    """Set (or --delete) a staff user's password for the receiver's export; only a hash is kept."""
    args = ["user", name, "--db", _receiver_db(db)]
    if password_file:
        args += ["--password-file", password_file]
    if delete:
        args.append("--delete")
    _receiver_main(args)


@task(
    help={
        "older_than": "delete exported rows received more than this many days ago",
        "db": "database URL (default: the local receiver's, var/receiver/)",
    }
)
def receiver_purge(c: Context, older_than: int, db: str = "") -> None:
    """Delete the receiver's rows older than --older-than DAYS that an export included.

    A row no export has included is kept, however old, and the output says how many and why.
    """
    _receiver_main(["purge", "--older-than", str(older_than), "--db", _receiver_db(db)])


@task(
    help={
        "port": "preview port (default 8000)",
        "receiver_port": "local form receiver port (default 8788)",
        "content": "content folder to build (default content/)",
        "output": "where the preview is built (default output/)",
        "db": "the form receiver's database (default var/receiver/, SQLite)",
        "receiver": "run the form receiver too (--no-receiver: one runs already, `invoke receiver`)",
    }
)
def serve(
    c: Context,
    port: int = DEV_PORT,
    receiver_port: int = RECEIVER_PORT,
    content: str = "content",
    output: str = "output",
    db: str = RECEIVER_DB,
    receiver: bool = True,
) -> None:
    """Preview the site at http://127.0.0.1:8000 with live reload, and run the form receiver.

    Saving a Markdown file, the clinic facts, a theme file or pelicanconf.py rebuilds the site and
    reloads the open page. The form posts to the receiver (`invoke receiver`) on 127.0.0.1:8788,
    which stores only ciphertext in var/receiver/.
    """
    import signal

    sys.path.insert(0, str(ROOT / "scripts"))
    from devserver import serve as preview
    from receiver_process import ReceiverError, ReceiverProcess

    origins = (f"http://{DEV_HOST}:{port}", f"http://localhost:{port}")
    receiving = ReceiverProcess(db, origins=origins, key_ids=site_key_ids(), port=receiver_port)
    if receiver:
        try:
            receiving.start()
        except ReceiverError as error:
            raise Exit(
                f"The form receiver did not start on port {receiver_port}: {error}"
            ) from error
        # A terminated preview stops its receiver too (finally below).
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        print(f"form receiver: http://{DEV_HOST}:{receiver_port}/submit (log: {receiving.log})")
    # The form on the preview posts to this receiver (and the page's CSP allows it).
    os.environ.setdefault("INTAKE_ENDPOINT", f"http://{DEV_HOST}:{receiver_port}/submit")
    source, built = Path(content).resolve(), Path(output).resolve()
    watched = [source, ROOT / "theme", ROOT / "pelicanconf.py"]
    try:
        preview(built, lambda: _build_in_process(source, built), watched, host=DEV_HOST, port=port)
    except OSError as error:
        raise Exit(f"The preview cannot listen on port {port}: {error}") from error
    finally:
        receiving.stop()


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
    """Run Lighthouse (mobile, median of 5) on key pages in both languages; fail under 100 or LCP over 0.8 s."""
    ensure_dev_keys()
    c.run(f"{PYTHON} scripts/audit.py")


def slug_of(title: str) -> str:
    """A URL slug from a title: accents dropped (depresión -> depresion), words joined by '-'."""
    plain = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", plain.lower()).strip("-")


@task(
    help={
        "title": "the page title, in quotes",
        "medical": "a medical page (needs clinical review)",
        "lang": "the language of a translation, e.g. es",
        "translation_of": "with --lang: the slug (or file) of the English page it translates",
    }
)
def new(
    c: Context, title: str, medical: bool = False, lang: str = "", translation_of: str = ""
) -> None:
    """Start a new page (or, with --lang and --translation-of, a translation) with every required field.

    A translation goes to content/pages/LANG/, records the English text it is made from, and keeps
    the English page's Medical, Related and References; its sample text is to be replaced.
    """
    from editorial.review import read_source, scaffold_page
    from editorial.translations import scaffold

    slug = slug_of(title)
    if not slug:
        raise Exit("The title needs at least one letter or digit.")
    if bool(lang) != bool(translation_of):
        raise Exit(
            "A translation needs both --lang (e.g. es) and --translation-of (the English slug)."
        )
    folder = CONTENT / "pages" / lang if lang else CONTENT / "pages"
    path = folder / f"{slug}.md"
    shown = os.path.relpath(path, ROOT)
    if path.exists():
        raise Exit(f"{shown} already exists: choose another title or edit that file.")
    if lang:
        original = _find_page(CONTENT, translation_of)
        if original.parent != (CONTENT / "pages").resolve():
            raise Exit(f"{translation_of} is not an English page (content/pages/*.md).")
        translated = {}
        for source in folder.glob("*.md"):
            meta, _body = read_source(source)
            if meta.get("translation-of") and meta.get("slug"):
                translated[meta["translation-of"]] = meta["slug"]
        if read_source(original)[0].get("slug", original.stem) in translated:
            raise Exit(f"{translation_of} already has a translation in {lang!r} in {folder}.")
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(scaffold(title, slug, lang, original, translated), encoding="utf-8")
    else:
        path.write_text(scaffold_page(title, slug, medical=medical), encoding="utf-8")
    print(f"created {shown}: now replace its sample text (see docs/editing.md)")


@task(help={"page": "the translation: its file, or its slug"})
def translated(c: Context, page: str) -> None:
    """Record that a translation now matches its English page as it stands (after updating it).

    Writes the fingerprint of the English text into the translation's Translated-from field, so the
    build stops listing it as out of date. Commit the translation afterwards.
    """
    from editorial.review import read_source
    from editorial.translations import record

    path = _find_page(CONTENT, page)
    meta, _body = read_source(path)
    english = meta.get("translation-of")
    if not meta.get("lang") or not english:
        raise Exit(
            f"{os.path.relpath(path, ROOT)} is not a translation (no Lang and Translation-of)."
        )
    original = _find_page(CONTENT, english)
    record(path, original)
    print(
        f"{os.path.relpath(path, ROOT)} now translates {os.path.relpath(original, ROOT)} as it "
        "stands: commit it"
    )


def _find_page(content: Path, page: str) -> Path:
    """A page by its file (content/pages/x.md, pages/x.md) or its slug; Exit says why not."""
    from editorial.review import read_source

    for candidate in (Path(page), content / page, content.parent / page):
        if candidate.suffix == ".md" and candidate.is_file():
            if not candidate.resolve().is_relative_to(content):
                raise Exit(f"{page} is not in the content folder {content}.")
            return candidate.resolve()
    if page.endswith(".md"):
        raise Exit(f"There is no page file {page} in {content}.")
    found = []
    for source in sorted(content.rglob("*.md")):
        meta, _body = read_source(source)
        if page in (meta.get("slug"), source.stem):
            found.append(source)
    if not found:
        raise Exit(f"No page in {content} has the slug {page!r}: give its Slug or its file.")
    if len(found) > 1:
        files = ", ".join(os.path.relpath(f, ROOT) for f in found)
        raise Exit(f"The slug {page!r} belongs to several files ({files}): give the file instead.")
    return found[0].resolve()


@task(
    help={
        "page": "the page's slug (depression) or its file (content/pages/es/depresion.md)",
        "reviewer": "who reviewed it: a key of [reviewers] in content/clinic.toml",
        "content": "the content folder (default content/)",
    }
)
def review(c: Context, page: str, reviewer: str, content: str = "content") -> None:
    """Record that a clinician reviewed a medical page as it stands now (then commit the record).

    Builds the site first and refuses a page whose build fails, a page that is not medical, and a
    reviewer who is unknown or still a [TO CONFIRM …] placeholder in content/clinic.toml. The sign-off
    (page, reviewer, date, fingerprint of the text) goes into content/clinical-reviews.toml; any later
    edit of substance puts the page back to "awaiting review". docs/editing.md explains the steps.
    """
    import json
    import tempfile

    from clinic_facts import FactsError, is_placeholder, load_facts
    from editorial.review import (
        REVIEWS_FILE,
        YES,
        SignOff,
        append_signoff,
        fingerprint_of_file,
        load_signoffs,
        read_source,
        scaffold_left,
    )

    folder = Path(content).resolve()
    try:
        clinic = load_facts(folder / "clinic.toml")
    except FactsError as error:
        raise Exit(str(error)) from error
    reviewers = clinic.get("reviewers", {})
    if reviewer not in reviewers:
        known = ", ".join(sorted(reviewers)) or "none yet"
        raise Exit(
            f"{reviewer!r} is not a reviewer in content/clinic.toml (known: {known}). "
            "Add the clinician under [reviewers] first (docs/editing.md)."
        )
    person = reviewers[reviewer]
    unconfirmed = [k for k in ("name", "credentials") if is_placeholder(person.get(k))]
    if unconfirmed or not str(person.get("name", "")).strip():
        raise Exit(
            f"The reviewer {reviewer!r} is still a placeholder in content/clinic.toml "
            f"({', '.join(unconfirmed) or 'name'}): a placeholder cannot sign off. Fill in the "
            "clinician's real name and credentials first."
        )
    source = _find_page(folder, page)
    relative = source.relative_to(folder).as_posix()
    meta, body = read_source(source)
    if str(meta.get("medical", "no")).strip().lower() not in YES:
        raise Exit(
            f"{relative} is not a medical page (no `Medical: yes`): it needs no clinical review."
        )
    leftover = scaffold_left(meta.get("summary", ""), body)
    if leftover:
        raise Exit(
            f"{relative} still holds the sample text of `invoke new`: {', '.join(leftover)}."
        )
    ensure_dev_keys()
    with tempfile.TemporaryDirectory() as scratch:
        print("Building the site to check the page first…")
        built = c.run(
            f"{PYTHON} -m pelican {shlex.quote(str(folder))} -s pelicanconf.py "
            f"-o {shlex.quote(scratch + '/output')} -e "
            + shlex.quote("CACHE_PATH=" + json.dumps(scratch + "/cache"))
            + " "
            + shlex.quote("CLINIC=" + json.dumps(clinic, default=str)),
            warn=True,
            hide=True,
        )
    if built.failed:
        print(built.stdout + built.stderr, file=sys.stderr)
        raise Exit(
            f"The build has errors (above): fix them, then run `invoke review` again. "
            f"Nothing was recorded for {relative}."
        )
    today = datetime.date.today()
    signoff = SignOff(relative, reviewer, today, fingerprint_of_file(source))
    record = folder / REVIEWS_FILE
    shown = os.path.relpath(record, ROOT)
    earlier, _problems = load_signoffs(record, reviewers, today)  # the build has checked the file
    if any(
        s == signoff for s in (SignOff(e.page, e.reviewer, e.date, e.fingerprint) for e in earlier)
    ):
        print(f"Already recorded today: {relative} reviewed by {person['name']}. Commit {shown}.")
        return
    append_signoff(record, signoff)
    print(
        f"Recorded: {relative} reviewed by {person['name']} on {today} "
        f"({signoff.fingerprint[:19]}…).\n"
        f"Now commit {shown} (and the page, if it has changes): that commit is the record of the "
        "review. Any later edit of substance puts the page back to awaiting review."
    )


@task(
    help={
        "articles": "how many synthetic articles at the largest size (default 1000)",
        "posts": "form receiver: posts sent to each database (default 1000)",
        "clients": "form receiver: concurrent clients (default 50)",
        "only": "run one part: build or receiver",
    }
)
def bench(
    c: Context, articles: int = 1000, posts: int = 1000, clients: int = 50, only: str = ""
) -> None:
    """Benchmark the build (against plain Pelican+Typogrify) and the form receiver under load.

    Build: cold build, warm rebuild and plain Pelican at a quarter, half and all of --articles,
    with budgets (cold <= 1.3x plain; warm <= 0.5x cold; linear) and live reload under 1 s.
    Receiver: posts/s and p50/p99 latency on SQLite and PostgreSQL; every post must be stored.
    """
    ensure_dev_keys()
    part = f" --only {shlex.quote(only)}" if only else ""
    c.run(
        f"{PYTHON} scripts/bench.py --articles {int(articles)} --posts {int(posts)} "
        f"--clients {int(clients)}{part}"
    )


def _passphrase(passphrase_file: str, *, twice: bool) -> str:
    """The passphrase from the first line of PASSPHRASE_FILE, or asked on the terminal."""
    import getpass

    from staff.keys import read_passphrase_file

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
    from staff.keys import StaffError
    from staff.keys import keygen as make_keys

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
    from staff.decrypt import decrypt_paths
    from staff.keys import StaffError, read_passphrase_file

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
    from staff.inbox import write_inbox

    target = write_inbox(Path(out).expanduser())
    print(f"staff inbox: {target}  (open it from disk in Chrome, Edge or Firefox; no network)")


os.chdir(ROOT)
