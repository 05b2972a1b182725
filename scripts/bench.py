"""`invoke bench`: how our build scales, against plain Pelican with Typogrify, on synthetic articles.

Writes N articles with full front matter and realistic Markdown into a temporary folder, then times in
one run, at N/4, N/2 and N articles:
- plain: Pelican's default theme, no plugins, TYPOGRIFY on (the baseline to beat);
- cold: our settings, theme and plugins, with an empty cache;
- warm: the same again with the cache the cold build left (nothing changed).
Then it times live reload: `invoke serve` on the real content, a page saved, until open pages are told
to reload (the site rebuilt).
Budgets: cold <= 1.3 x plain, warm <= 0.5 x cold, time per article roughly constant (linear), and
live reload under a second.
Then the form receiver under load (scripts/bench_receiver.py): posts a second and p50/p99 latency
for --posts posts from --clients concurrent clients, on SQLite and on PostgreSQL; every post must
be stored (rows == posts), and with PostgreSQL the goal is 500 posts/s with p99 under 100 ms.
Exit status 1 when a budget is missed. --only build or --only receiver runs one part.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COLD_BUDGET = 1.3
WARM_BUDGET = 0.5
LIVE_RELOAD_BUDGET = 1.0  # seconds from saving a page to the browser's reload signal
GROWTH_BUDGET = 1.25  # marginal seconds per article, N/2..N over N/4..N/2

WORDS = [
    "ketamine",
    "infusion",
    "depression",
    "relief",
    "clinic",
    "nurse",
    "doctor",
    "screening",
    "blood",
    "pressure",
    "monitoring",
    "evidence",
    "study",
    "trial",
    "dose",
    "minutes",
    "weeks",
    "patient",
    "symptoms",
    "sleep",
    "mood",
    "pain",
    "nerve",
    "brain",
    "receptor",
    "glutamate",
    "synapse",
    "research",
    "safety",
    "effect",
    "option",
    "treatment",
    "plan",
    "follow-up",
    "visit",
    "question",
    "answer",
]


def sentence(rng: random.Random) -> str:
    words = rng.choices(WORDS, k=rng.randint(8, 16))
    text = " ".join(words)
    if rng.random() < 0.3:
        text += ' "quoted words" -- and a dash'
    return text[0].upper() + text[1:] + "."


def paragraph(rng: random.Random) -> str:
    return " ".join(sentence(rng) for _ in range(rng.randint(5, 9)))


def article(index: int, count: int, rng: random.Random) -> str:
    other = (index + 1) % count
    third = (index + 7) % count
    body = [
        f"Title: Synthetic article {index}: what to know",
        f"Slug: article-{index}",
        f"Date: 2026-01-{index % 28 + 1:02d}",
        f"Summary: A synthetic article number {index} for timing the build, with every field filled in.",
        "Medical: yes",
        "Sources-checked: 2026-11-01",
        f"Related: article-{other}, article-{third}",
        "",
        paragraph(rng),
        "",
        "## What the research says",
        "",
        paragraph(rng),
        "",
        f"See [the related article]({{filename}}/articles/article-{other}.md) and "
        f"[its second section]({{filename}}/articles/article-{third}.md#what-the-research-says).",
        "",
        "- " + sentence(rng),
        "- " + sentence(rng),
        "- " + sentence(rng),
        "",
        "> " + paragraph(rng),
        "",
        "## How treatment works",
        "",
        paragraph(rng),
        "",
        "1. " + sentence(rng),
        "2. " + sentence(rng),
        "",
        "### Questions to ask",
        "",
        paragraph(rng),
        "",
        "## References",
        "",
        "1. Murrough JW, et al. A randomized trial. *Am J Psychiatry*. 2013. "
        "[PubMed 23982301](https://pubmed.ncbi.nlm.nih.gov/23982301/)",
        "",
    ]
    return "\n".join(body)


def write_articles(folder: Path, count: int) -> Path:
    rng = random.Random(count)
    articles = folder / "content" / "articles"
    articles.mkdir(parents=True)
    for index in range(count):
        (articles / f"article-{index}.md").write_text(article(index, count, rng), encoding="utf-8")
    return folder / "content"


def plain_settings(folder: Path) -> Path:
    path = folder / "plainconf.py"
    path.write_text(
        textwrap.dedent(
            """
            SITENAME = "Plain"
            TIMEZONE = "UTC"
            TYPOGRIFY = True
            PLUGINS = []
            ARTICLE_PATHS = ["articles"]
            CACHE_CONTENT = False
            LOAD_CONTENT_CACHE = False
            """
        ),
        encoding="utf-8",
    )
    return path


def timed_build(content: Path, settings: Path, output: Path, cache: Path) -> float:
    command = [
        sys.executable,
        "-m",
        "pelican",
        str(content),
        "-s",
        str(settings),
        "-o",
        str(output),
    ]
    command += ["-q", "-e", f"CACHE_PATH={json.dumps(str(cache))}"]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"build failed ({settings.name}, {content}):\n{result.stdout}\n{result.stderr}")
    return elapsed


def measure(count: int, scratch: Path) -> dict[str, float]:
    folder = scratch / str(count)
    content = write_articles(folder, count)
    ours = ROOT / "pelicanconf.py"
    times = {"plain": timed_build(content, plain_settings(folder), folder / "plain", folder / "c0")}
    times["cold"] = timed_build(content, ours, folder / "ours", folder / "cache")
    times["warm"] = timed_build(content, ours, folder / "ours", folder / "cache")
    shutil.rmtree(folder)
    return times


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def live_reload_seconds(scratch: Path) -> float:
    """Seconds from saving a page under `invoke serve` to the reload event, with the page rebuilt."""
    content = scratch / "live" / "content"
    shutil.copytree(ROOT / "content", content)
    port, receiver_port = free_port(), free_port()
    command = [sys.executable, "-m", "invoke", "serve", "--port", str(port)]
    command += ["--receiver-port", str(receiver_port), "--content", str(content)]
    command += ["--output", str(scratch / "live" / "output")]
    server = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                connection.request("GET", "/__reload")
                events = connection.getresponse()
                break
            except OSError:
                if time.monotonic() > deadline:
                    sys.exit("invoke serve did not start")
                time.sleep(0.2)
        time.sleep(0.3)
        page = content / "pages" / "faq.md"
        marker = f"Benchmark-edit-{time.time_ns()}"  # one word: Typogrify adds no nbsp
        start = time.perf_counter()
        page.write_text(page.read_text(encoding="utf-8") + f"\n{marker}\n", encoding="utf-8")
        while not events.fp.readline().startswith(b"event: reload"):
            pass
        elapsed = time.perf_counter() - start
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/faq/") as response:
            if marker.encode() not in response.read():
                sys.exit("the reload event came before the page was rebuilt")
        return elapsed
    finally:
        server.terminate()
        server.wait(timeout=10)


def marginal_growth(sizes: list[int], seconds: list[float]) -> float:
    """Cost of each added article in the upper size step over the lower one: 1.0 is linear.

    Marginal costs leave out Pelican's fixed start-up time, which would make small builds look slow.
    """
    if len(sizes) < 3:
        return 1.0
    lower = (seconds[1] - seconds[0]) / (sizes[1] - sizes[0])
    upper = (seconds[2] - seconds[1]) / (sizes[2] - sizes[1])
    return upper / lower if lower > 0 else float("inf")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--posts", type=int, default=1000, help="receiver: posts a database")
    parser.add_argument("--clients", type=int, default=50, help="receiver: concurrent clients")
    parser.add_argument("--only", choices=["build", "receiver"], help="run one part")
    args = parser.parse_args()
    failed = False
    if args.only != "receiver":
        failed |= bench_build(args.articles)
    if args.only != "build":
        from bench_receiver import checks, measure

        for label, passed, value in checks(measure(args.posts, args.clients)):
            failed |= not passed
            print(f"{'PASS' if passed else 'FAIL'}  {label}: {value}")
    return 1 if failed else 0


def bench_build(articles: int) -> bool:
    """The build's part; True when a budget is missed."""
    sizes = sorted({max(1, articles // 4), max(1, articles // 2), articles})
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
        for count in sizes:
            results[count] = measure(count, Path(scratch))
            t = results[count]
            print(
                f"{count:>6} articles: plain {t['plain']:6.2f} s   cold {t['cold']:6.2f} s   "
                f"warm {t['warm']:6.2f} s   cold/plain {t['cold'] / t['plain']:.2f}   "
                f"warm/cold {t['warm'] / t['cold']:.2f}",
                flush=True,
            )
        reload_seconds = live_reload_seconds(Path(scratch))
    print(f"live reload: page saved to reload event, site rebuilt: {reload_seconds:.2f} s")
    largest = results[sizes[-1]]
    growth = marginal_growth(sizes, [results[size]["cold"] for size in sizes])
    checks = [
        ("cold <= 1.3 x plain", largest["cold"] / largest["plain"], COLD_BUDGET),
        ("warm <= 0.5 x cold", largest["warm"] / largest["cold"], WARM_BUDGET),
        ("live reload under 1 s", reload_seconds, LIVE_RELOAD_BUDGET),
        (
            f"linear: cold cost per added article, upper over lower half <= {GROWTH_BUDGET}",
            growth,
            GROWTH_BUDGET,
        ),
    ]
    failed = False
    for label, value, budget in checks:
        ok = value <= budget
        failed |= not ok
        print(f"{'PASS' if ok else 'FAIL'}  {label}: {value:.2f}")
    return failed


if __name__ == "__main__":
    sys.exit(main())
