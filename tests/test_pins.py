"""Every container image the repository runs is pinned by digest, with its tag named in a comment.

The rule (docs/pins.md): an image is written `name:tag@sha256:<64 hex>`, and the comment lines
directly above it (a run of `#` lines with nothing else between them and the image's line) name
`name:tag`. It covers the workflows' `container:`, service `image:` and `docker://` steps, and
every `FROM` of every Dockerfile in the repository.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import ROOT, repository_files

PINNED = re.compile(
    r"^(?P<tagged>(?P<name>[a-z0-9][a-z0-9._/-]*(?::[0-9]+/[a-z0-9._/-]+)?)"
    r":(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))@sha256:[0-9a-f]{64}$"
)
FROM = re.compile(
    r"^\s*FROM\s+(?:--platform=\S+\s+)?(?P<image>\S+)(?:\s+AS\s+(?P<stage>\S+))?\s*$", re.I
)


def workflow_images(text: str) -> list[str]:
    """The images a workflow runs: job containers, service containers and `docker://` steps."""
    import yaml

    images = []
    for job in (yaml.safe_load(text).get("jobs") or {}).values():
        containers = [job.get("container"), *(job.get("services") or {}).values()]
        for container in containers:
            image = container.get("image") if isinstance(container, dict) else container
            if image is not None:
                images.append(str(image))
        for step in job.get("steps") or []:
            uses = str(step.get("uses", ""))
            if uses.startswith("docker://"):
                images.append(uses.removeprefix("docker://"))
    return images


def dockerfile_images(text: str) -> list[str]:
    """The images a Dockerfile's FROM lines pull (not `scratch`, not an earlier stage's name)."""
    images, stages = [], {"scratch"}
    for line in text.splitlines():
        match = FROM.match(line)
        if match is None:
            continue
        if match["image"].lower() not in stages:
            images.append(match["image"])
        if match["stage"]:
            stages.add(match["stage"].lower())
    return images


def comments_above(lines: list[str], index: int) -> list[str]:
    """The run of comment lines directly above lines[index]."""
    found = []
    for line in reversed(lines[:index]):
        if not line.lstrip().startswith("#"):
            break
        found.append(line)
    return found


def pin_problems(text: str, images: list[str]) -> list[str]:
    """What is wrong with each image of a file: not pinned, or its tag not named just above it."""
    problems = []
    lines = text.splitlines()
    for image in images:
        match = PINNED.match(image)
        if match is None:
            problems.append(f"{image}: not pinned as name:tag@sha256:<64 hex>")
            continue
        named = re.compile(r"(?<![\w.:/-])" + re.escape(match["tagged"]) + r"(?![\w.-])")
        at = [i for i, line in enumerate(lines) if image in line]
        if not at:
            problems.append(f"{image}: line not found")
        for index in at:
            if not any(named.search(comment) for comment in comments_above(lines, index)):
                problems.append(f"{image} (line {index + 1}): no comment naming {match['tagged']}")
    return problems


def is_dockerfile(path: Path) -> bool:
    name = path.name.lower()
    return name == "dockerfile" or name.startswith("dockerfile.") or name.endswith(".dockerfile")


def workflow_files() -> list[Path]:
    folder = ROOT / ".github" / "workflows"
    return sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")])


def test_workflow_images_are_pinned_by_digest_with_their_tag_named():
    files = workflow_files()
    assert files
    problems, images = [], []
    for path in files:
        text = path.read_text(encoding="utf-8")
        found = workflow_images(text)
        images += found
        problems += [f"{path.name}: {problem}" for problem in pin_problems(text, found)]
    assert images, "no container image found in the workflows: does this test still read them?"
    assert problems == []


def test_dockerfile_images_are_pinned_by_digest_with_their_tag_named():
    problems = []
    for path in filter(is_dockerfile, repository_files()):
        text = path.read_text(encoding="utf-8")
        problems += [
            f"{path.relative_to(ROOT)}: {p}" for p in pin_problems(text, dockerfile_images(text))
        ]
    assert problems == []


# ---------------------------------------------------------------- the rule itself, on sample text

DIGEST = "sha256:" + "0123456789abcdef" * 4
GOOD_JOB = f"""\
jobs:
  test:
    # python:3.11-bookworm, from the record of some date
    container: python:3.11-bookworm@{DIGEST}
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD_JOB, []),
        ("jobs:\n  test:\n    container: python:3.11-bookworm\n", ["not pinned"]),
        (f"jobs:\n  t:\n    container: python@{DIGEST}\n", ["not pinned"]),
        (f"jobs:\n  t:\n    container: python:3.11-bookworm@{DIGEST[:-1]}\n", ["not pinned"]),
        (f"jobs:\n  t:\n    container: python:3.11-bookworm@{DIGEST}\n", ["no comment naming"]),
        (  # a comment with another line between it and the image does not count
            f"jobs:\n  t:\n    # python:3.11-bookworm\n    runs-on: x\n"
            f"    container: python:3.11-bookworm@{DIGEST}\n",
            ["no comment naming"],
        ),
        (  # the comment names another tag
            f"jobs:\n  t:\n    # python:3.11-bookworm-slim\n"
            f"    container: python:3.11-bookworm@{DIGEST}\n",
            ["no comment naming"],
        ),
        (
            "jobs:\n  t:\n    container:\n      image: node:20\n    services:\n"
            f"      db:\n        # postgres:16\n        image: postgres:16@{DIGEST}\n",
            ["not pinned"],
        ),
        ("jobs:\n  t:\n    steps:\n      - uses: docker://alpine:3.20\n", ["not pinned"]),
    ],
)
def test_the_rule_on_workflow_samples(text: str, expected: list[str]):
    problems = pin_problems(text, workflow_images(text))
    assert len(problems) == len(expected), problems
    assert all(word in problem for word, problem in zip(expected, problems, strict=True))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            f"# python:3.11-slim-bookworm (record of some date)\n"
            f"FROM python:3.11-slim-bookworm@{DIGEST} AS build\n"
            "RUN true\nFROM build\nFROM scratch\n",
            [],
        ),
        ("FROM python:3.11-slim-bookworm\n", ["not pinned"]),
        ("FROM --platform=linux/amd64 python:3.11-slim-bookworm AS app\n", ["not pinned"]),
        (f"FROM python:3.11-slim-bookworm@{DIGEST}\n", ["no comment naming"]),
        ("FROM $BASE\n", ["not pinned"]),
    ],
)
def test_the_rule_on_dockerfile_samples(text: str, expected: list[str]):
    problems = pin_problems(text, dockerfile_images(text))
    assert len(problems) == len(expected), problems
    assert all(word in problem for word, problem in zip(expected, problems, strict=True))
