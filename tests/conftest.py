"""Shared fixtures: builds of the real site, made once per test session with the real Pelican CLI.

Builds run in a subprocess so that each has its own plugin registrations (Pelican's signal receivers are
process-global) and so that what we test is exactly what `invoke build` and `invoke publish` run.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "plugins"))
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))  # receiver/ (the form endpoint) and staff/ (the staff's tools)

PRODUCTION_URL = "https://www.example.test"

# The seven medical pages of the site map (issue 4): sources, review line, reading level.
MEDICAL_PAGES = [
    "how-ketamine-works",
    "depression",
    "anxiety",
    "crps-chronic-pain",
    "ketamine-and-opioid-receptors",
    "safety-and-side-effects",
    "what-to-expect",
]


def front_matter(source: Path) -> dict[str, str]:
    """A Markdown page's front matter (lower-case keys), read without building."""
    meta = {}
    for line in source.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            break
        key, _, value = line.partition(":")
        meta[key.strip().lower()] = value.strip()
    return meta


def spanish_slugs() -> dict[str, str]:
    """English slug -> slug of its Spanish translation, read from content/pages/es/."""
    found = {}
    for source in sorted((ROOT / "content" / "pages" / "es").glob("*.md")):
        meta = front_matter(source)
        found[meta["translation-of"]] = meta["slug"]
    return found


def as_json(value: object) -> str:
    if isinstance(value, str):
        try:
            json.loads(value)
            return value
        except ValueError:
            return json.dumps(value)
    return json.dumps(value)


def run_pelican(
    output: Path,
    *,
    settings: str = "pelicanconf.py",
    content: Path | None = None,
    overrides: dict[str, object] | None = None,
    env: dict[str, str] | None = None,
    cache: Path | None = None,
    args: list[str] | None = None,
) -> subprocess.CompletedProcess:
    """Run `pelican` from the repository root; returns the finished process (never raises).

    `overrides` become `-e KEY=VALUE` settings (values are JSON-encoded; a string that already is
    JSON, such as "false", is passed as it is).
    """
    command = [sys.executable, "-m", "pelican", str(content or ROOT / "content"), "-s", settings]
    command += ["-o", str(output), "--log-handler", "plain"]
    extra = {"CACHE_PATH": str(cache or output.parent / (output.name + "-cache"))}
    extra.update(overrides or {})
    command += ["-e", *[f"{key}={as_json(value)}" for key, value in extra.items()]]
    command += args or []
    return subprocess.run(
        command,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


def repository_files() -> list[Path]:
    """The repository's files, tracked or not yet added (ignored ones left out)."""
    names = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [ROOT / name for name in names if (ROOT / name).is_file()]


def invoke_new_in(content: Path, title: str, **options) -> subprocess.CompletedProcess:
    """Run the `invoke new` task (tasks.new) on another content folder, as an editor would."""
    script = (
        "import json, pathlib, sys, tasks; from invoke import Context; "
        "tasks.CONTENT = pathlib.Path(sys.argv[1]); "
        "tasks.new(Context(), sys.argv[2], **json.loads(sys.argv[3]))"
    )
    return subprocess.run(
        [sys.executable, "-c", script, str(content), title, json.dumps(options)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def build_or_fail(output: Path, **kwargs) -> Path:
    result = run_pelican(output, **kwargs)
    if result.returncode != 0:
        pytest.fail(f"the build failed:\n{result.stdout}\n{result.stderr}", pytrace=False)
    return output


@pytest.fixture(scope="session")
def dev_keypair() -> Path:
    """The development key pair the local build uses (made on first use, git-ignored)."""
    from intake_form.keys import ensure_dev_keypair

    return ensure_dev_keypair(ROOT)


@pytest.fixture(scope="session")
def site_output(tmp_path_factory, dev_keypair) -> Path:
    """The real site, built with the local settings (pelicanconf.py)."""
    return build_or_fail(tmp_path_factory.mktemp("site") / "output")


@pytest.fixture(scope="session")
def production_output(tmp_path_factory, dev_keypair) -> Path:
    """The real site, built with the production settings, go-live checks off (placeholders remain)."""
    return build_or_fail(
        tmp_path_factory.mktemp("production") / "output",
        settings="publishconf.py",
        overrides={"GO_LIVE_CHECKS": "false"},
        env={"SITEURL": PRODUCTION_URL},
    )


# The intake form's shipped field file, and what the form tests change in copies of it.
FIELDS_FILE = ROOT / "content" / "forms" / "intake.toml"


@pytest.fixture(scope="module")
def shipped_fields() -> dict:
    with FIELDS_FILE.open("rb") as handle:
        return tomllib.load(handle)


def field_named(data: dict, name: str) -> dict:
    return next(f for f in data["fields"] if f["name"] == name)


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, driven by Playwright, for one test module (each module starts its own, as
    Playwright's sync API allows one at a time)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(**chromium_launch_options())
        yield chromium
        chromium.close()


def chromium_launch_options(**extra) -> dict:
    """How every browser test starts Debian's Chromium (Playwright's own browser downloads fail here)."""
    from audit import CHROME_FLAGS  # the flags Lighthouse starts it with (scripts/audit.py)

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    # Playwright chooses the headless mode itself.
    args = [flag for flag in CHROME_FLAGS if not flag.startswith("--headless")]
    return {"executable_path": chromium, "args": args, **extra}


@pytest.fixture(scope="session")
def wrangler_site(tmp_path_factory, dev_keypair) -> Iterator[tuple[str, Path]]:
    """The production build served by Cloudflare Pages' own runtime: (base URL, output folder).

    Built with publishconf.py for the address wrangler serves it at (SITEURL), go-live checks off
    (placeholders remain), then `wrangler pages dev` (scripts/host.py) serves it on a free port
    until the session ends. Tests usually take `wrangler_url` and, to compare with the files,
    `wrangler_output`.
    """
    from host import free_port, wrangler_pages_dev

    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    output = build_or_fail(
        tmp_path_factory.mktemp("hosted") / "output",
        settings="publishconf.py",
        overrides={"GO_LIVE_CHECKS": "false"},
        env={"SITEURL": base_url},
    )
    with wrangler_pages_dev(output, port) as url:
        yield url, output


@pytest.fixture(scope="session")
def wrangler_url(wrangler_site) -> str:
    """Base URL ("http://127.0.0.1:PORT") of the production build served by `wrangler pages dev`."""
    return wrangler_site[0]


@pytest.fixture(scope="session")
def wrangler_output(wrangler_site) -> Path:
    """The folder `wrangler_url` serves: the production build for that address."""
    return wrangler_site[1]


# ---------------------------------------------------------------- the form receiver

# The site origin the receiver's tests post from, and the databases they run on.
RECEIVER_SITE = "http://127.0.0.1:8000"
RECEIVER_BACKENDS = ["sqlite", "postgresql"]
_databases = itertools.count(1)


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL server (Debian's), started once for the session on a free loopback port
    and removed afterwards (scripts/pgserver.py)."""
    from pgserver import PostgresServer

    with PostgresServer() as server:
        yield server


def fresh_database(kind: str, request: pytest.FixtureRequest, folder: Path) -> str:
    """The URL of a new, empty database: a SQLite file in `folder`, or a new database on the
    session's PostgreSQL server."""
    if kind == "sqlite":
        return f"sqlite:///{folder / f'receiver-{next(_databases)}.sqlite3'}"
    server = request.getfixturevalue("postgres")
    return server.create_database(f"receiver_{next(_databases)}")


def operator_engine(url: str):
    """An engine for the tests' own reads and writes of a receiver's database, as an operator's
    tool would have: it checks each connection before use, because the tests stop the server."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return create_engine(parsed, pool_pre_ping=True)


@pytest.fixture(scope="session")
def certificate_authority():
    """A test CA (trustme) and a certificate for 127.0.0.1 signed by it: (CA, certificate file)."""
    import trustme

    authority = trustme.CA()
    folder = Path(tempfile.mkdtemp(prefix="receiver-cert-"))
    certificate = folder / "cert.pem"
    authority.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(certificate))
    yield authority, certificate
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def dev_key_id(dev_keypair) -> str:
    """The key id (kid) the local build's form encrypts for."""
    from cryptography.hazmat.primitives.serialization import load_pem_public_key
    from intake_form.keys import key_id

    return key_id(load_pem_public_key((dev_keypair / "public.pem").read_bytes()))
