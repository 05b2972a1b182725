"""The receiver's container, checked without a Docker engine (none runs here): its Dockerfile's
promises, and what the image is made of, rebuilt the way the Dockerfile builds it: a fresh
virtual environment from receiver/requirements.lock alone (hashes checked, wheels only), running
a copy of receiver/ alone, which must take a post and store it."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
import urllib.parse
import urllib.request
import uuid

import pytest
from conftest import RECEIVER_SITE, ROOT
from receiver_client import fake_jwe, form_fields
from receiver_process import ReceiverProcess

RECEIVER = ROOT / "receiver"
DOCKERFILE = (RECEIVER / "Dockerfile").read_text(encoding="utf-8")


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) for each Dockerfile line, continuations joined."""
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def requirement_names(text: str) -> set[str]:
    names = set()
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        match = re.match(r"([A-Za-z0-9_.-]+)", line)
        if match and not line.startswith("-"):
            names.add(match.group(1).lower().replace("_", "-"))
    return names


def pins(lock: str) -> dict[str, str]:
    return dict(re.findall(r"(?m)^([a-z0-9_.-]+)==([^ \\\n]+)", lock))


def test_every_stage_starts_from_the_same_image_pinned_by_digest():
    bases = [args for word, args in instructions() if word == "FROM"]
    assert len(bases) == 2
    for base in bases:
        assert re.fullmatch(r"python:3\.11-slim-bookworm@sha256:[0-9a-f]{64}( AS \w+)?", base), base
    assert len({base.split()[0] for base in bases}) == 1


def test_the_service_runs_unprivileged_with_only_wheels_and_no_compiler():
    steps = instructions()
    users = [args for word, args in steps if word == "USER"]
    assert users and users[-1] not in ("root", "0")
    last_from = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    assert any(word == "USER" for word, _ in steps[last_from:])
    runs = " ".join(args for word, args in steps if word == "RUN")
    assert "--require-hashes" in runs and "--only-binary=:all:" in runs
    for compiler in ("gcc", "build-essential", "g++", "clang", "apt-get install"):
        assert compiler not in runs, compiler
    copies = [args for word, args in steps[last_from:] if word == "COPY"]
    assert copies == ["--from=packages /opt/venv /opt/venv", "*.py /app/receiver/"]
    assert steps[-1] == ("CMD", '["python", "-m", "receiver", "serve", "--host", "0.0.0.0"]')


def test_the_dev_environment_has_the_receivers_packages_at_the_same_versions():
    """`invoke receiver` and the tests run the packages the image ships."""
    wanted = requirement_names((RECEIVER / "requirements.in").read_text(encoding="utf-8"))
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    dev = requirement_names("\n".join(project["project"]["optional-dependencies"]["dev"]))
    assert wanted <= dev, wanted - dev
    shipped = pins((RECEIVER / "requirements.lock").read_text(encoding="utf-8"))
    tested = pins((ROOT / "requirements.lock").read_text(encoding="utf-8"))
    differ = {name: (v, tested.get(name)) for name, v in shipped.items() if tested.get(name) != v}
    assert differ == {}, differ


@pytest.fixture(scope="module")
def image_environment(tmp_path_factory):
    """What the image holds: a venv from the receiver's lock alone, and a copy of receiver/."""
    folder = tmp_path_factory.mktemp("image")
    subprocess.run([sys.executable, "-m", "venv", str(folder / "venv")], check=True)
    python = folder / "venv" / "bin" / "python"
    install = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--require-hashes",
            "--only-binary=:all:",
            "--no-deps",
            "-r",
            str(RECEIVER / "requirements.lock"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    app = folder / "app"
    shutil.copytree(RECEIVER, app / "receiver", ignore=shutil.ignore_patterns("__pycache__"))
    return python, app


def test_the_image_contents_alone_run_the_service(image_environment, tmp_path, dev_key_id):
    python, app = image_environment
    database = f"sqlite:///{tmp_path / 'data' / 'submissions.sqlite3'}"
    process = ReceiverProcess(database, origins=[RECEIVER_SITE], key_ids=[dev_key_id])
    process.command[0] = str(python)  # the image's interpreter, not ours
    process.cwd = app
    process.environment = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    with process:
        sid = str(uuid.uuid4())
        body = urllib.parse.urlencode(form_fields(sid, fake_jwe(sid, dev_key_id))).encode()
        request = urllib.request.Request(
            process.url + "/submit",
            data=body,
            headers={"Origin": RECEIVER_SITE, "Content-Type": "application/x-www-form-urlencoded"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 201
