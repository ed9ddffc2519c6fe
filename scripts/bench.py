"""Measure the book's build and test times on this machine (`make bench`).

Works on a copy of the book in a temporary folder, so your own _build is left alone, and prints:
cold build (one chapter at a time, and in parallel as `make book` runs it), no-change rebuild,
rebuild after a prose-only edit, rebuild after a code edit (and which chapters re-executed each
time), each chapter's execution time (median of several cold builds), the fixed cost every chapter
pays before its own work (kernel, imports, torch.optim's first optimiser), and the time of
`make test`, and Lighthouse's mobile scores, LCP, TBT and bytes for the home page and the
heaviest chapter (scripts/lighthouse.py: median of 3 runs; skipped, saying why, when Lighthouse or
Chromium is missing). Timings on a shared machine are noisy: each is repeated and the median reported.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from conftest import build_book, copy_book  # noqa: E402  (the tests' copy-and-build helpers; puts book/_ext on the path)

#: A chapter's own work beyond the fixed cost every chapter pays, at most (BOOK_PLAN.md's budget).
OWN_WORK_SECONDS = 3.0
#: Chapters given a larger budget, and why: the convolutional chapter imports torchvision (about a
#: second) and trains on images (issue 11: "within about 6 s").
OWN_WORK_EXCEPTIONS = {"book/cnn": 6.0}
REEXECUTED = "re-executed by a module edit"
LIGHTHOUSE = "lighthouse (mobile, median of runs)"
#: Lighthouse's CPU benchmark (environment.benchmarkIndex) below which it warns that the machine is
#: slower than its mobile throttling assumes, so that the performance scores read low.
SLOW_BENCHMARK_INDEX = 1000


def heaviest_chapter(html: Path) -> str:
    """The chapter page whose HTML, scripts, stylesheets and images weigh most gzipped (a static
    estimate of a full load, for choosing the page to measure)."""
    import gzip
    import re

    def weight(page: Path) -> int:
        total = len(gzip.compress(page.read_bytes()))
        for ref in set(re.findall(r'(?:src|href)="([^"#?]+)', page.read_text(encoding="utf-8"))):
            file = (page.parent / ref).resolve()
            if file.is_file() and file.suffix in (".js", ".css", ".png", ".svg", ".woff", ".woff2"):
                data = file.read_bytes()
                total += len(data) if file.suffix in (".png", ".woff", ".woff2") else len(gzip.compress(data))
        return total

    pages = sorted((html / "book").glob("*.html"), key=weight)
    return pages[-1].relative_to(html).as_posix()


def lighthouse_scores(html: Path, runs: int = 3) -> dict[str, object]:
    """Lighthouse (scripts/lighthouse.py) on the home page and the heaviest chapter: for each page
    the median run's scores, LCP, TBT and bytes, and the CPU benchmark; or {"skipped": why}."""
    import lighthouse

    chrome = os.environ.get("CHROME_PATH", "/usr/bin/chromium")
    if not lighthouse.LIGHTHOUSE.exists():
        return {"skipped": f"{lighthouse.LIGHTHOUSE.relative_to(ROOT)} is missing (run `npm ci`)"}
    if not Path(chrome).exists():
        return {"skipped": f"no Chromium at {chrome} (set CHROME_PATH)"}
    if not (html / "index.html").is_file():
        return {"skipped": f"no built site in {html}"}
    server, base = lighthouse.serve(html)
    pages: dict[str, object] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="mlbook-lighthouse-") as out:
            for page in ("index.html", heaviest_chapter(html)):
                found = []
                for i in range(runs):
                    report = lighthouse.run_lighthouse(base + page, Path(out) / f"{i}.json", chrome, None)
                    found.append(
                        {
                            **lighthouse.summarise(report),
                            "benchmark_index": report.get("environment", {}).get("benchmarkIndex"),
                        }
                    )
                median = sorted(found, key=lambda r: r["performance"])[len(found) // 2]
                pages[page] = {
                    key: median[key] for key in (*lighthouse.CATEGORIES, "lcp_ms", "tbt_ms", "bytes", "requests")
                } | {
                    "performance runs": [r["performance"] for r in found],
                    "benchmark_index": statistics.median(r["benchmark_index"] or 0 for r in found),
                }
    except (OSError, subprocess.SubprocessError, KeyError, ValueError) as error:
        return {"skipped": f"Lighthouse failed: {error}", **pages}
    finally:
        server.shutdown()
    return pages


def build(root: Path, env: dict[str, str] | None = None) -> tuple[float, list[str]]:
    """Build the book in `root` as `make book` does; return (seconds, chapters executed)."""
    start = time.perf_counter()
    result = build_book(root, env=env)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"build failed:\n{result.log[-4000:]}")
    return seconds, sorted(result.executed())


def chapter_times(root: Path) -> dict[str, float]:
    """Execution time of each chapter, from the records jupyter-cache keeps."""
    from jupyter_cache import get_cache

    cache = get_cache(root / "_build" / ".jupyter_cache")
    times = {}
    for record in cache.list_cache_records():
        seconds = (record.data or {}).get("execution_seconds")
        uri = Path(record.uri)
        name = uri.relative_to(root).with_suffix("").as_posix() if uri.is_relative_to(root) else uri.stem
        if seconds is not None:
            times[name] = float(seconds)  # the newest record of a chapter wins
    return dict(sorted(times.items()))


#: The fixed cost every chapter pays before its own work, measured as notebooks that grow by one
#: cell at a time: the kernel, the import cell the chapters start with, and torch.optim's first
#: optimiser (which imports torch._dynamo, over a second here, whatever the optimiser does).
FLOOR_NOTEBOOKS = {
    "kernel start and stop (empty notebook)": [],
    "+ import torch, mlbook.plotting, myst_nb.glue": [
        "import torch\nfrom myst_nb import glue\nfrom mlbook import plotting"
    ],
    "+ the first torch.optim optimiser": [
        "import torch\nfrom myst_nb import glue\nfrom mlbook import plotting",
        "torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)",
    ],
}


def floor_times(runs: int) -> dict[str, dict[str, float]]:
    """Seconds for each of FLOOR_NOTEBOOKS, run as the build runs chapters (median of `runs`)."""
    import nbclient
    from nbformat.v4 import new_code_cell, new_notebook

    from parallel_execute import SHUTDOWN

    seconds: dict[str, list[float]] = {name: [] for name in FLOOR_NOTEBOOKS}
    for _ in range(runs):
        for name, cells in FLOOR_NOTEBOOKS.items():
            notebook = new_notebook(cells=[new_code_cell(source) for source in cells])
            client = nbclient.NotebookClient(
                notebook,
                kernel_name="python3",
                shutdown_kernel=SHUTDOWN,
                resources={"metadata": {"path": str(ROOT / "book")}},
            )
            start = time.perf_counter()
            client.execute()
            seconds[name].append(time.perf_counter() - start)
    return {name: {"median": statistics.median(t), "min": min(t), "max": max(t)} for name, t in seconds.items()}


def reexecution_counts() -> dict[str, list[str]]:
    """For each module of the package, the chapters an edit to it re-executes (book/_ext/mlbook_deps.py)."""
    import mlbook_deps
    from conftest import toc_files

    package = ROOT / "code" / "mlbook"
    chapters = [ROOT / f"{doc}.md" for doc in toc_files()]
    return {
        path.name: [c.stem for c in mlbook_deps.chapters_using(path, chapters, package)]
        for path in sorted(package.glob("*.py"))
    }


def import_times() -> dict[str, float]:
    """Seconds of each import every chapter pays (`python -X importtime`, cumulative): its first cell
    imports torch, myst_nb's glue and mlbook.plotting (which brings matplotlib), and the first
    torch.optim optimiser imports torch._dynamo."""
    code = "import torch; from myst_nb import glue; from mlbook import plotting; import torch._dynamo"
    command = [sys.executable, "-X", "importtime", "-c", code]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    times = {}
    for line in result.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) == 3 and parts[1].strip().isdigit() and not parts[2].startswith("  "):
            times[parts[2].strip()] = int(parts[1]) / 1e6  # cumulative microseconds
    return dict(sorted(times.items(), key=lambda item: -item[1])[:6])


def _executed_names(log: str) -> list[str]:
    import re

    return re.findall(r"(\S+?)\.md: Executing notebook", log)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    if old not in text:
        sys.exit(f"bench: cannot find {old!r} in {path}")
    path.write_text(text.replace(old, new, 1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each rebuild (median reported)")
    parser.add_argument("--skip-tests", action="store_true", help="do not time `make test`")
    parser.add_argument(
        "--chapter-runs",
        type=int,
        default=3,
        help="cold one-at-a-time builds whose chapter times are combined (median, min, max)",
    )
    parser.add_argument("--chapters-only", action="store_true", help="measure only the chapters' execution times")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    parser.add_argument("--skip-lighthouse", action="store_true", help="do not run Lighthouse on the built site")
    args = parser.parse_args()
    if args.repeat < 1 or args.chapter_runs < 1:
        parser.error("--repeat and --chapter-runs must be at least 1")
    if args.chapters_only:
        args.skip_tests = True

    results: dict[str, object] = {}
    results["chapter floor"] = floor_times(runs=5)
    results["imports"] = import_times()
    results[REEXECUTED] = reexecution_counts()
    with tempfile.TemporaryDirectory(prefix="mlbook-bench-") as tmp:
        # Chapter by chapter first (one kernel at a time), so each chapter's time is its own;
        # several cold builds, because one run on a shared 2-core machine can be off by a second.
        per_run: list[dict[str, float]] = []
        serial_seconds = []
        for run in range(args.chapter_runs):
            serial_root = copy_book(Path(tmp) / f"serial-{run}")
            seconds, executed = build(serial_root, env={"MLBOOK_EXECUTION_JOBS": "1"})
            serial_seconds.append(seconds)
            per_run.append(chapter_times(serial_root))
            shutil.rmtree(serial_root)
        results["cold build, one chapter at a time"] = {
            "seconds": statistics.median(serial_seconds),
            "executed": executed,
        }
        results["chapter execution"] = {
            name: {
                "median": statistics.median(run[name] for run in per_run),
                "min": min(run[name] for run in per_run),
                "max": max(run[name] for run in per_run),
                "runs": [run[name] for run in per_run],
            }
            for name in per_run[0]
        }

        root = copy_book(Path(tmp) / "book")
        if args.chapters_only:
            return report(results, args)
        seconds, executed = build(root)
        results["cold build (make book: chapters in parallel)"] = {"seconds": seconds, "executed": executed}
        if not args.skip_lighthouse:
            results[LIGHTHOUSE] = lighthouse_scores(root / "_build" / "html")

        runs = [build(root) for _ in range(args.repeat)]
        results["no-change rebuild"] = {
            "seconds": statistics.median(r[0] for r in runs),
            "executed": sorted({c for r in runs for c in r[1]}),
        }

        chapter = root / "book" / "linear_regression.md"
        runs = []
        for i in range(args.repeat):
            edit(chapter, "## The model\n", f"## The model\n\nA prose edit, number {i}.\n")
            runs.append(build(root))
        results["prose edit rebuild"] = {
            "seconds": statistics.median(r[0] for r in runs),
            "executed": sorted({c for r in runs for c in r[1]}),
        }

        # An edit to a module re-executes the chapters that use it: the first chapter's, and the
        # last chapter's (which only its own chapter may use).
        for name, docstring in (("setup", '"""Check an installation'), ("likelihood", '"""Why squared errors?')):
            edit(root / "code" / "mlbook" / f"{name}.py", docstring, docstring.replace('"""', '"""(bench edit) '))
            seconds, executed = build(root)
            results[f"code edit rebuild (code/mlbook/{name}.py)"] = {"seconds": seconds, "executed": executed}

        # `make chapter` on a fresh copy: only that chapter runs; then again, from the cache.
        quick = copy_book(Path(tmp) / "chapter")
        shutil.copytree(ROOT / "scripts", quick / "scripts")
        for label in ("cold", "cached"):
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "scripts/build_chapter.py", "book/tensors.md"],
                cwd=quick,
                check=True,
                capture_output=True,
            )
            log = (quick / "_build" / "chapter" / "build.log").read_text()
            executed = sorted({m.split("/")[-1] for m in _executed_names(log)})
            results[f"one chapter, {label} (make chapter CHAPTER=book/tensors.md)"] = {
                "seconds": time.perf_counter() - start,
                "executed": executed,
            }

    if not args.skip_tests:
        start = time.perf_counter()
        status = subprocess.run(
            ["make", "test"], cwd=ROOT, capture_output=True, text=True, env={**os.environ}
        ).returncode
        results["make test"] = {"seconds": time.perf_counter() - start, "exit status": status}

    return report(results, args)


def report(results: dict[str, object], args: argparse.Namespace) -> int:
    """Print the results (and write them as JSON if asked)."""
    width = 50
    print(f"{'measurement':<{width}} {'seconds':>8}  chapters executed")
    for name, value in results.items():
        if name in (
            "chapter execution",
            "chapter floor",
            "page weight (bytes)",
            "imports",
            "re-executed by a module edit",
            LIGHTHOUSE,
        ):
            continue
        executed = ", ".join(value.get("executed", [])) if "executed" in value else f"exit {value['exit status']}"
        print(f"{name:<{width}} {value['seconds']:8.2f}  {executed or '(none)'}")
    cold = results.get("cold build (make book: chapters in parallel)")
    if cold and "make test" in results:
        ratio = results["make test"]["seconds"] / cold["seconds"]
        print(f"{'make test / cold make book':<{width}} {ratio:8.1f}  (target: at most 4)")
    # A chapter's budget is its own work: its execution time beyond what every chapter pays first
    # (the kernel, the import cell and torch.optim's first optimiser, the last row of the floor).
    fixed = list(results["chapter floor"].values())[-1]["median"]
    print(f"\n{'what every chapter pays first (median of 5)':<{width}} {'seconds':>8}  {'min':>6} {'max':>6}")
    for name, t in results["chapter floor"].items():
        print(f"{name:<{width}} {t['median']:8.2f}  {t['min']:6.2f} {t['max']:6.2f}")
    heading = f"chapter (median of {args.chapter_runs} cold runs)"
    budget = f"budget {OWN_WORK_SECONDS:.0f} s unless noted"
    print(f"\n{heading:<{width}} {'seconds':>8}  {'min':>6} {'max':>6}  {'own work':>8}  {budget}")
    for name, t in results["chapter execution"].items():
        own = t["median"] - fixed
        limit = OWN_WORK_EXCEPTIONS.get(name, OWN_WORK_SECONDS)
        verdict = "ok" if own <= limit else "OVER"
        if limit != OWN_WORK_SECONDS:
            verdict += f" (budget {limit:.0f} s)"
        print(f"{name:<{width}} {t['median']:8.2f}  {t['min']:6.2f} {t['max']:6.2f}  {own:8.2f}  {verdict}")
    print(f"\n{'imports every chapter pays (python -X importtime)':<{width}} {'seconds':>8}")
    for name, seconds in results["imports"].items():
        print(f"{name:<{width}} {seconds:8.2f}")
    print(f"\n{'an edit to code/mlbook/...':<{width}} {'chapters':>8}  which")
    for name, chapters in results[REEXECUTED].items():
        print(f"{name:<{width}} {len(chapters):8d}  {', '.join(chapters)}")
    if LIGHTHOUSE in results:
        report_lighthouse(results[LIGHTHOUSE])
    weights = ROOT / "_build" / "browser-report" / "page-weight.json"
    if weights.is_file() and not args.skip_tests:
        pages = json.loads(weights.read_text())
        results["page weight (bytes)"] = {page: data["bytes"] for page, data in pages.items()}
        print(f"\n{'page (bytes of response bodies, as the browser tests load it)':<{width + 10}} {'KB':>8}")
        for page, data in sorted(pages.items()):
            print(f"{page:<{width + 10}} {data['bytes'] / 1024:8.0f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


def report_lighthouse(pages: dict[str, object]) -> None:
    print(f"\n{LIGHTHOUSE}")
    if "skipped" in pages:
        print(f"  not measured: {pages['skipped']}")
    rows = {page: row for page, row in pages.items() if page != "skipped"}
    if not rows:
        return
    print(
        f"{'page':<32} {'perf':>9} {'a11y':>4} {'bp':>4} {'seo':>4} {'LCP s':>6} {'TBT ms':>7} {'KB':>6} "
        f"{'CPU index':>9}"
    )
    for page, row in rows.items():
        runs = "/".join(str(p) for p in row["performance runs"])
        print(
            f"{page:<32} {runs:>9} {row['accessibility']:>4} {row['best-practices']:>4} {row['seo']:>4} "
            f"{row['lcp_ms'] / 1000:6.1f} {row['tbt_ms']:7.0f} {row['bytes'] / 1024:6.0f} {row['benchmark_index']:9.0f}"
        )
    slowest = min(row["benchmark_index"] for row in rows.values())
    if slowest < SLOW_BENCHMARK_INDEX:
        print(
            f"  WARNING: Lighthouse's CPU benchmark is {slowest:.0f} (below {SLOW_BENCHMARK_INDEX}): this machine "
            "is slower than the phone Lighthouse simulates, so the performance scores read low"
        )


if __name__ == "__main__":
    raise SystemExit(main())
