"""The foundation: the real site builds, the editors' contract is enforced, production is safe to ship."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import PRODUCTION_URL, ROOT, invoke_new_in, repository_files, run_pelican

GOOD_PAGE = """\
Title: A good page
Slug: good
Summary: A page with every field the editors' contract asks for, used as a fixture.

Some text with "quotes" -- and a dash.
"""

MEDICAL_PAGE = """\
Title: A medical page
Slug: medical
Summary: A medical page with the date its sources were checked, used as a fixture.
Medical: yes
Sources-checked: {checked}

## Section one

See the [good page]({{filename}}/pages/good.md).
"""


def write_site(root: Path, pages: dict[str, str]) -> Path:
    """A small content folder: pages/<name> for each entry."""
    content = root / "content"
    (content / "pages").mkdir(parents=True)
    for name, text in pages.items():
        (content / "pages" / name).write_text(text, encoding="utf-8")
    return content


def build(tmp_path: Path, pages: dict[str, str], **kwargs) -> subprocess.CompletedProcess:
    content = write_site(tmp_path, pages)
    return run_pelican(tmp_path / "output", content=content, **kwargs)


def log_of(result: subprocess.CompletedProcess) -> str:
    return result.stdout + result.stderr


# ---------------------------------------------------------------- the real site


def test_real_site_has_clean_urls_home_and_404(site_output: Path):
    assert (site_output / "index.html").is_file()
    assert (site_output / "404.html").is_file()
    pages = sorted(p.parent.name for p in site_output.glob("*/index.html"))
    assert "depression" in pages and "faq" in pages
    # No stray .html pages outside the clean-URL scheme (404.html is the one exception).
    loose = [p.name for p in site_output.glob("*.html") if p.name not in {"index.html", "404.html"}]
    assert loose == []


def test_production_output_uses_absolute_siteurl(production_output: Path):
    html = (production_output / "depression" / "index.html").read_text(encoding="utf-8")
    hrefs = re.findall(r'(?:href|src)="([^"#]+)"', html)
    # Inline data: URLs (the site icon) name no address at all.
    internal = [
        h for h in hrefs if not h.startswith(("http://", "https://", "mailto:", "tel:", "data:"))
    ]
    assert internal == [], f"relative URLs in production output: {internal[:5]}"
    assert f'href="{PRODUCTION_URL}/' in html


def test_production_writes_no_drafts(tmp_path: Path):
    draft = GOOD_PAGE.replace("Slug: good", "Slug: secret\nStatus: draft")
    result = build(
        tmp_path,
        {"good.md": GOOD_PAGE, "secret.md": draft},
        settings="publishconf.py",
        overrides={"GO_LIVE_CHECKS": False},
        env={"SITEURL": PRODUCTION_URL},
    )
    assert result.returncode == 0, log_of(result)
    written = [
        p.relative_to(tmp_path / "output").as_posix() for p in (tmp_path / "output").rglob("*")
    ]
    assert "good/index.html" in written
    assert not [p for p in written if "secret" in p or p.startswith("drafts")]


def test_typogrify_runs_on_bodies_but_titles_stay_plain(tmp_path: Path):
    page = GOOD_PAGE.replace("Title: A good page", "Title: IV therapy FAQ")
    result = build(tmp_path, {"good.md": page})
    assert result.returncode == 0, log_of(result)
    html = (tmp_path / "output" / "good" / "index.html").read_text(encoding="utf-8")
    assert "&#8220;quotes&#8221;" in html or "\u201cquotes\u201d" in html
    title = re.search(r"<title>(.*?)</title>", html, re.S).group(1)
    assert "<span" not in title and "IV therapy FAQ" in title


def test_warm_rebuild_reuses_the_typogrify_cache(tmp_path: Path):
    content = write_site(tmp_path, {"good.md": GOOD_PAGE})
    cache = tmp_path / "cache"
    for _ in range(2):
        result = run_pelican(tmp_path / "output", content=content, cache=cache)
        assert result.returncode == 0, log_of(result)
    assert (cache / "editorial-typogrify.pickle").stat().st_size > 0


# ---------------------------------------------------------------- the editors' contract


@pytest.mark.parametrize(
    ("page", "field", "message"),
    [
        (
            GOOD_PAGE.replace(
                "Summary: A page with every field the editors' contract asks for, used as a fixture.\n",
                "",
            ),
            "Summary",
            "missing",
        ),
        (GOOD_PAGE.replace("Title: A good page\n", ""), "Title", "missing"),
        (MEDICAL_PAGE.replace("{checked}", "29/11/2026"), "Sources-checked", "not a date"),
        (MEDICAL_PAGE.replace("{checked}", "2026-02-30"), "Sources-checked", "not a real date"),
        (
            MEDICAL_PAGE.replace("Sources-checked", "Reviewed"),
            "Reviewed",
            "no longer used: a clinical review is recorded with `invoke review`",
        ),
        (
            MEDICAL_PAGE.replace("Medical: yes", "Medical: yes\nReviewer: clinical-reviewer"),
            "Reviewer",
            "no longer used",
        ),
        (MEDICAL_PAGE.replace("Medical: yes", "Medical: perhaps"), "Medical", "not yes or no"),
    ],
    ids=[
        "no-summary",
        "no-title",
        "checked-format",
        "checked-impossible",
        "retired-reviewed",
        "retired-reviewer",
        "medical-flag",
    ],
)
def test_bad_front_matter_fails_naming_file_line_and_field(tmp_path, page, field, message):
    page = page.replace("{checked}", "2026-11-01")
    result = build(tmp_path, {"good.md": GOOD_PAGE, "bad.md": page})
    log = log_of(result)
    assert result.returncode == 1, log
    assert re.search(rf"content/pages/bad\.md:\d+: {field}: [^\n]*{message}", log), log
    assert "Traceback" not in log


def test_the_line_number_points_at_the_field(tmp_path):
    page = MEDICAL_PAGE.replace("{checked}", "next tuesday")
    result = build(tmp_path, {"good.md": GOOD_PAGE, "bad.md": page})
    assert "bad.md:5: Sources-checked" in log_of(result)


@pytest.mark.parametrize(
    ("link", "needle"),
    [
        ("[gone]({filename}/pages/gone.md)", "pages/gone.md, which does not exist"),
        ("[gone]({filename}missing.md)", "pages/missing.md, which does not exist"),
        ("![x]({static}/images/none.png)", "images/none.png, which does not exist"),
        (
            "[anchor]({filename}/pages/good.md#no-such-heading)",
            "no heading or element with id 'no-such-heading'",
        ),
        ("[here](#nowhere)", "no heading or element with id 'nowhere'"),
        ("[site path](/no-such-page/)", "is not a page of this site"),
    ],
    ids=[
        "filename",
        "relative-filename",
        "static",
        "anchor-other-page",
        "anchor-same-page",
        "site-path",
    ],
)
def test_broken_internal_link_fails_the_build(tmp_path, link, needle):
    page = GOOD_PAGE.replace("Slug: good", "Slug: linker") + f"\nA link: {link}\n"
    result = build(tmp_path, {"good.md": GOOD_PAGE, "linker.md": page})
    log = log_of(result)
    assert result.returncode == 1, log
    assert "content/pages/linker.md:" in log and needle in log, log
    assert "Traceback" not in log


def test_working_internal_links_and_anchors_pass(tmp_path):
    target = GOOD_PAGE + "\n## Where to park\n\nText.\n"
    page = GOOD_PAGE.replace("Slug: good", "Slug: linker") + (
        "\n[a]({filename}/pages/good.md) [b]({filename}good.md#where-to-park) [c](#main) [d](/good/)\n"
    )
    result = build(tmp_path, {"good.md": target, "linker.md": page})
    assert result.returncode == 0, log_of(result)


def test_unknown_clinic_fact_token_fails(tmp_path):
    page = GOOD_PAGE + "\nCall {clinic:fax}.\n"
    result = build(tmp_path, {"good.md": page})
    assert result.returncode == 1
    assert "{clinic:fax}: no such fact" in log_of(result)


def test_clinic_fact_placeholder_is_visible(tmp_path):
    page = GOOD_PAGE + "\nCall {clinic:phone}.\n"
    result = build(tmp_path, {"good.md": page})
    assert result.returncode == 0, log_of(result)
    html = (tmp_path / "output" / "good" / "index.html").read_text(encoding="utf-8")
    assert '<span class="placeholder">[TO CONFIRM: main phone number]</span>' in html


def test_a_link_to_a_placeholder_fact_shows_the_placeholder_and_links_nowhere(tmp_path):
    page = (
        GOOD_PAGE + "\n[Open the map]({clinic:map_url}) and [write to us](mailto:{clinic:email}).\n"
    )
    result = build(tmp_path, {"good.md": page})
    assert result.returncode == 0, log_of(result)
    html = (tmp_path / "output" / "good" / "index.html").read_text(encoding="utf-8")
    assert re.search(
        r'Open the(?: |&nbsp;)map <span class="placeholder">\[TO CONFIRM: link to the clinic on a map',
        html,
    )
    assert re.search(
        r'write to(?: |&nbsp;)us <span class="placeholder">\[TO CONFIRM: contact email', html
    )
    assert (
        "{clinic:" not in html
        and "href=" not in html.split('<div class="prose">')[1].split("</div>")[0]
    )


def test_clinic_facts_fill_attributes_and_links(tmp_path):
    page = (
        GOOD_PAGE + '\n[Our clinic]({clinic:map_url})\n\n<abbr title="{clinic:name}">KCLA</abbr>\n'
    )
    result = build(
        tmp_path,
        {"good.md": page},
        overrides={"CLINIC": {"name": 'A "B" & C', "map_url": "https://maps.example/x?a=1&b=2"}},
    )
    assert result.returncode == 0, log_of(result)
    html = (tmp_path / "output" / "good" / "index.html").read_text(encoding="utf-8")
    assert 'href="https://maps.example/x?a=1&amp;b=2"' in html
    assert 'title="A &quot;B&quot; &amp; C"' in html


# ---------------------------------------------------------------- going live


def test_go_live_checklist_lists_every_kind_of_gap(tmp_path):
    pages = {"good.md": GOOD_PAGE, "medical.md": MEDICAL_PAGE.replace("{checked}", "2026-11-01")}
    result = build(tmp_path, pages, settings="publishconf.py", env={"SITEURL": ""})
    log = log_of(result)
    assert result.returncode == 1, log
    assert "Not ready to go live" in log
    assert "content/clinic.toml: phone is a placeholder" in log
    assert "content/clinic.toml: reviewers.clinical-reviewer.name is a placeholder" in log
    assert "SITEURL is" in log
    assert "medical.md: awaiting clinical review: never reviewed" in log
    assert re.search(r"INTAKE.*development", log), log
    assert "Traceback" not in log


def test_publish_with_fatal_warnings_stops_with_the_checklist_not_a_traceback(tmp_path):
    """`invoke publish` adds --fatal warnings, under which logging an error would raise."""
    result = run_pelican(
        tmp_path / "output",
        settings="publishconf.py",
        env={"SITEURL": PRODUCTION_URL},
        args=["--fatal", "warnings"],
    )
    log = log_of(result)
    assert result.returncode == 1, log
    assert "Not ready to go live" in log and "awaiting clinical review" in log
    assert "Traceback" not in log


def test_the_real_site_builds_for_production_with_fatal_warnings(tmp_path):
    """Nothing in the real site warns (broken links, empty alt texts, ...) once it is ready."""
    result = run_pelican(
        tmp_path / "output",
        settings="publishconf.py",
        overrides={"GO_LIVE_CHECKS": False},
        env={"SITEURL": PRODUCTION_URL},
        args=["--fatal", "warnings"],
    )
    assert result.returncode == 0, log_of(result)


def test_go_live_checks_can_be_switched_off_on_the_command_line(tmp_path):
    pages = {"good.md": GOOD_PAGE}
    result = build(
        tmp_path,
        pages,
        settings="publishconf.py",
        overrides={"GO_LIVE_CHECKS": "false"},
        env={"SITEURL": PRODUCTION_URL},
    )
    assert result.returncode == 0, log_of(result)


def test_invoke_new_scaffolds_a_page_that_builds(tmp_path):
    # The scaffold suggests related pages of the real site, so it is added to a copy of it.
    content = tmp_path / "content"
    shutil.copytree(ROOT / "content", content)
    made = invoke_new_in(content, "Driving after an infusion", medical=True)
    assert made.returncode == 0, made.stderr
    page = (content / "pages" / "driving-after-an-infusion.md").read_text(encoding="utf-8")
    for field in ("Title:", "Slug:", "Summary:", "Medical: yes"):
        assert field in page
    # A review is recorded by `invoke review` once a clinician has read the page, never stamped.
    assert "Reviewed:" not in page and "Reviewer:" not in page
    result = run_pelican(tmp_path / "output", content=content)
    assert result.returncode == 0, log_of(result)


# ---------------------------------------------------------------- CI workflows


def load_workflow(name: str) -> dict:
    import yaml

    data = yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text(encoding="utf-8"))
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def readme_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return [
        block.strip() for block in re.findall(r"```(?:sh|bash|console)?\n(.*?)```", section, re.S)
    ]


def test_readme_quick_start_has_three_commands_and_ci_runs_the_second():
    """Preview, test (what CI runs), and the form receiver on its own (issue 16; the fresh-clone
    test in test_serve.py follows its steps)."""
    commands = readme_commands()
    assert commands == [
        "bash scripts/dev serve",
        "bash scripts/dev test",
        "bash scripts/dev receiver",
    ], commands
    ci_script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert commands[1] in ci_script.splitlines()


WORKFLOWS = ["ci.yml", "deploy.yml", "preview.yml"]
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def workflow_text(name: str) -> str:
    return (ROOT / ".github" / "workflows" / name).read_text(encoding="utf-8")


def steps_using(job: dict, action: str) -> list[dict]:
    return [s for s in job.get("steps", []) if s.get("uses", "").split("@")[0] == action]


def runs_of(job: dict) -> str:
    return "\n".join(step.get("run", "") for step in job.get("steps", []))


def test_pull_requests_run_the_readme_test_command():
    workflow = load_workflow("ci.yml")
    assert "pull_request" in workflow["on"]
    steps = workflow["jobs"]["test"]["steps"]
    assert readme_commands()[1] in [step.get("run") for step in steps]
    # The test job keeps a download cache of its own (its key says so); no release job has one.
    [cache] = steps_using(workflow["jobs"]["test"], "actions/cache")
    assert cache["with"]["key"].startswith("test-deps-")


@pytest.mark.parametrize("name", WORKFLOWS)
def test_workflows_read_only_by_default_with_pinned_actions(name: str):
    workflow, text = load_workflow(name), workflow_text(name)
    assert workflow["permissions"] == {"contents": "read"}
    for job_name, job in workflow["jobs"].items():
        assert job.get("permissions") == {"contents": "read"}, f"{name}: {job_name}"
        for step in job.get("steps", []):
            uses = step.get("uses")
            if uses is None:
                continue
            assert PINNED.match(uses), f"{name}: {uses} is not pinned by commit SHA"
            # The version the SHA stands for, in a comment on the same line.
            assert re.search(re.escape(uses) + r" # v\d+\.\d+\.\d+\n", text), uses
            if uses.startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False, f"{name}: {job_name}"
        # Container images are pinned by digest: tests/test_pins.py.


def secret_users(workflow: dict) -> set[str]:
    import yaml

    return {
        name
        for name, job in workflow["jobs"].items()
        if "secrets." in yaml.safe_dump(job) or job.get("secrets") == "inherit"
    }


def test_push_to_main_tests_builds_deploys_to_cloudflare_pages_and_smoke_checks():
    workflow = load_workflow("deploy.yml")
    assert workflow["on"]["push"]["branches"] == ["main"]
    jobs = workflow["jobs"]
    assert jobs["test"]["uses"] == "./.github/workflows/ci.yml"
    assert jobs["build"]["needs"] == "test" and jobs["deploy"]["needs"] == "build"
    assert jobs["smoke"]["needs"] == "deploy"
    # The build: only the build's packages, hashes checked, no cache; then `invoke publish`.
    build = runs_of(jobs["build"])
    assert "--require-hashes -r requirements-build.lock" in build and "--no-cache-dir" in build
    assert ".venv/bin/invoke publish" in build
    assert "scripts/dev" not in build and "npm" not in build  # no test tools
    assert not steps_using(jobs["build"], "actions/cache")
    publish = (ROOT / "tasks.py").read_text(encoding="utf-8")
    assert 'pelican(c, "publishconf.py", "--fatal", "warnings")' in publish
    # The deploy: the credentials are here and nowhere else; wrangler from package-lock.json.
    assert secret_users(workflow) == {"deploy"}
    assert "npm ci --omit=dev --ignore-scripts" in runs_of(jobs["deploy"])
    [deploy] = steps_using(jobs["deploy"], "cloudflare/wrangler-action")
    assert deploy["with"]["command"].startswith("pages deploy output --project-name=")
    assert deploy["with"]["wranglerVersion"] == package_lock_wrangler()
    assert set(deploy["with"]) >= {"apiToken", "accountId"}
    # The smoke check of the live site, with the script the tests run against wrangler.
    assert 'python3 scripts/smoke.py "$SITEURL" --site output' in runs_of(jobs["smoke"])


def test_pull_requests_from_this_repository_get_a_noindex_preview():
    workflow = load_workflow("preview.yml")
    assert "pull_request" in workflow["on"]
    jobs = workflow["jobs"]
    same_repo = "github.event.pull_request.head.repo.full_name == github.repository"
    assert all(job["if"] == same_repo for job in jobs.values())  # forks: no preview, no secrets
    build = runs_of(jobs["build"])
    assert "-e GO_LIVE_CHECKS=false PREVIEW=true" in " ".join(build.split())
    assert "--require-hashes -r requirements-build.lock" in build
    assert secret_users(workflow) == {"deploy"}
    checkout = steps_using(jobs["deploy"], "actions/checkout")[0]
    assert checkout["with"]["ref"] == "${{ github.event.pull_request.base.sha }}"
    [deploy] = steps_using(jobs["deploy"], "cloudflare/wrangler-action")
    assert " ".join(deploy["with"]["command"].split()).startswith("pages deploy output")
    assert "--branch=pr-${{ github.event.pull_request.number }}" in deploy["with"]["command"]
    assert '>> "$GITHUB_STEP_SUMMARY"' in runs_of(jobs["deploy"])


def package_lock_wrangler() -> str:
    import json

    lock = json.loads((ROOT / "package-lock.json").read_text(encoding="utf-8"))
    package = json.loads((ROOT / "package.json").read_text(encoding="utf-8"))
    assert (
        package["dependencies"]["wrangler"] == lock["packages"]["node_modules/wrangler"]["version"]
    )
    return lock["packages"]["node_modules/wrangler"]["version"]


def locked(name: str) -> dict[str, tuple[str, frozenset[str]]]:
    """requirements file -> {package: (version, hashes)}; every pin must carry hashes."""
    text = (ROOT / name).read_text(encoding="utf-8")
    pins = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2]):
        match = re.match(r"([A-Za-z0-9._-]+)==(\S+)", block)
        assert match, f"{name}: not a pinned requirement: {block[:60]!r}"
        hashes = frozenset(re.findall(r"--hash=sha256:([0-9a-f]{64})", block))
        assert hashes, f"{name}: {match.group(1)} has no hash"
        pins[match.group(1).lower()] = (match.group(2), hashes)
    return pins


def test_locks_carry_hashes_and_setup_requires_them():
    everything, build = locked("requirements.lock"), locked("requirements-build.lock")
    assert {"pytest", "playwright", "pelican", "invoke"} <= set(everything)
    # The release build installs the same files the tests ran with, and no test tool.
    assert all(everything[name] == pin for name, pin in build.items())
    assert not {"pytest", "playwright", "axe-playwright-python", "ruff"} & set(build)
    setup = (ROOT / "scripts" / "dev").read_text(encoding="utf-8")
    installs = [line for line in setup.splitlines() if "pip install" in line]
    assert installs and all("--require-hashes" in line for line in installs)
    assert "--upgrade pip" not in setup
    assert package_lock_wrangler() == "4.86.0"


def test_nothing_says_the_site_deploys_to_github_pages():
    old_host = "GitHub" + " Pages"  # spelled apart so this file does not match itself
    found = []
    for path in repository_files():
        name = path.relative_to(ROOT).as_posix()
        if path.suffix in {".lock", ".json"}:
            continue
        text = path.read_text(encoding="utf-8", errors="replace").lower()
        if any(
            word in text for word in (old_host.lower(), "deploy" + "-pages", "configure" + "-pages")
        ):
            found.append(name)
    assert found == []
