"""Measure the built site with Lighthouse (mobile preset), offline, as GitHub Pages would serve it.

Serves _build/html on 127.0.0.1 with gzip Content-Encoding for text types and a 10-minute
Cache-Control (what GitHub Pages sends), runs the `lighthouse` npm package (package.json) with
Debian's Chromium N times per page, and prints the median of each page's scores, LCP, TBT, bytes
transferred, the render-blocking resources and the biggest transfers. Needs `npm ci` first and a
Chromium (CHROME_PATH, default /usr/bin/chromium). Nothing is downloaded.

    .venv/bin/python scripts/lighthouse.py                    # home page and the heaviest chapter, 3 runs
    .venv/bin/python scripts/lighthouse.py -n 1 book/tensors.html --json-dir /tmp/lh
"""

from __future__ import annotations

import argparse
import functools
import gzip
import http.server
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
LIGHTHOUSE = ROOT / "node_modules" / ".bin" / "lighthouse"
CATEGORIES = ("performance", "accessibility", "best-practices", "seo")
#: Types GitHub Pages compresses (text and the like); images and fonts (woff/woff2) go as they are.
COMPRESSED = ("text/", "application/javascript", "application/json", "image/svg+xml", "application/xml")


class PagesHandler(http.server.SimpleHTTPRequestHandler):
    """SimpleHTTPRequestHandler that gzips text responses and sends GitHub Pages' cache header."""

    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".js": "application/javascript",
        ".mjs": "application/javascript",
        ".svg": "image/svg+xml",
        ".woff2": "font/woff2",
        ".woff": "font/woff",
        ".webp": "image/webp",
        ".json": "application/json",
    }

    def log_message(self, *args):
        pass

    def send_head(self):
        path = Path(self.translate_path(self.path))
        if path.is_dir():
            path = path / "index.html"
        if not path.is_file():
            return super().send_head()
        ctype = self.guess_type(str(path))
        body = path.read_bytes()
        gz = ctype.startswith(COMPRESSED) and "gzip" in self.headers.get("Accept-Encoding", "")
        if gz:
            body = gzip.compress(body, compresslevel=6, mtime=0)
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "max-age=600")
        if gz:
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Vary", "Accept-Encoding")
        self.end_headers()
        self._body = body
        return None

    def do_GET(self):
        self._body = None
        f = self.send_head()
        if self._body is not None:
            self.wfile.write(self._body)
        elif f:
            try:
                self.copyfile(f, self.wfile)
            finally:
                f.close()


def serve(directory: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(PagesHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def run_lighthouse(url: str, out: Path, chrome: str, preset: str | None) -> dict:
    command = [
        str(LIGHTHOUSE),
        url,
        "--quiet",
        "--output=json",
        f"--output-path={out}",
        f"--only-categories={','.join(CATEGORIES)}",
        "--chrome-flags=--headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage",
    ]
    if preset:
        command.append(f"--preset={preset}")
    env = {**os.environ, "CHROME_PATH": chrome}
    subprocess.run(command, check=True, env=env, timeout=300)
    return json.loads(out.read_text())


def summarise(report: dict) -> dict:
    audits = report["audits"]
    requests = audits["network-requests"]["details"]["items"]
    blocking = audits["render-blocking-resources"].get("details", {}).get("items", [])
    lcp_element = audits["largest-contentful-paint-element"].get("details", {}).get("items", [])
    return {
        **{c: round(100 * (report["categories"][c]["score"] or 0)) for c in CATEGORIES},
        "fcp_ms": audits["first-contentful-paint"]["numericValue"],
        "lcp_ms": audits["largest-contentful-paint"]["numericValue"],
        "tbt_ms": audits["total-blocking-time"]["numericValue"],
        "cls": audits["cumulative-layout-shift"]["numericValue"],
        "bytes": audits["total-byte-weight"]["numericValue"],
        "requests": len(requests),
        "blocking": [(i["url"], i.get("totalBytes", 0), i.get("wastedMs", 0)) for i in blocking],
        "biggest": sorted(
            ((r["url"], r.get("transferSize", 0), r.get("resourceType", "")) for r in requests), key=lambda r: -r[1]
        )[:12],
        "lcp_element": json.dumps(lcp_element)[:300],
        "bootup": [
            (i["url"], i.get("total", 0), i.get("scripting", 0))
            for i in audits["bootup-time"].get("details", {}).get("items", [])
        ][:6],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "pages",
        nargs="*",
        default=["index.html", "book/optimisation.html"],
        help="pages under _build/html (default: the home page and the heaviest chapter)",
    )
    parser.add_argument("-n", "--runs", type=int, default=3, help="runs per page; the median is reported")
    parser.add_argument(
        "--preset",
        choices=["desktop", "perf", "experimental"],
        default=None,
        help="Lighthouse preset (default: mobile)",
    )
    parser.add_argument("--json-dir", type=Path, help="keep every run's JSON report here")
    parser.add_argument("--html", type=Path, default=HTML, help="the built site (default: _build/html)")
    args = parser.parse_args()
    chrome = os.environ.get("CHROME_PATH", "/usr/bin/chromium")
    if not LIGHTHOUSE.exists():
        sys.exit("lighthouse is not installed: run `npm ci --no-audit --no-fund` first")
    server, base = serve(args.html)
    outdir = args.json_dir or Path(tempfile.mkdtemp(prefix="lighthouse-"))
    outdir.mkdir(parents=True, exist_ok=True)
    rows = []
    try:
        for page in args.pages:
            runs = []
            for i in range(args.runs):
                out = outdir / f"{page.replace('/', '_')}.{i}.json"
                runs.append(summarise(run_lighthouse(base + page, out, chrome, args.preset)))
                r = runs[-1]
                print(
                    f"  {page} run {i + 1}: perf {r['performance']} LCP {r['lcp_ms']:.0f} ms "
                    f"TBT {r['tbt_ms']:.0f} ms {r['bytes'] / 1024:.0f} KB",
                    file=sys.stderr,
                )
            ranked = sorted(runs, key=lambda r: r["performance"])
            median = ranked[len(ranked) // 2]
            rows.append((page, runs, median))
    finally:
        server.shutdown()
    print()
    print(
        f"{'page':28} {'perf':>9} {'a11y':>4} {'bp':>4} {'seo':>4} {'FCP s':>6} {'LCP s':>6} "
        f"{'TBT ms':>7} {'CLS':>5} {'KB':>6} {'req':>4}"
    )
    for page, runs, m in rows:
        perfs = "/".join(str(r["performance"]) for r in runs)

        def med(key, runs=runs):
            return statistics.median(r[key] for r in runs)

        print(
            f"{page:28} {perfs:>9} {m['accessibility']:>4} {m['best-practices']:>4} {m['seo']:>4} "
            f"{med('fcp_ms') / 1000:>6.1f} {med('lcp_ms') / 1000:>6.1f} {med('tbt_ms'):>7.0f} "
            f"{med('cls'):>5.2f} {med('bytes') / 1024:>6.0f} {m['requests']:>4}"
        )
    for page, _, m in rows:
        print(f"\n{page} (median run)\n  LCP element: {m['lcp_element']}")
        print("  render-blocking:")
        for url, size, wasted in m["blocking"]:
            print(f"    {size / 1024:7.1f} KB  {wasted:6.0f} ms  {url.replace(base, '')}")
        print("  biggest transfers:")
        for url, size, kind in m["biggest"]:
            print(f"    {size / 1024:7.1f} KB  {kind:10} {url.replace(base, '')}")
        print("  main-thread time per script (total / scripting ms):")
        for url, total, scripting in m["bootup"]:
            print(f"    {total:7.0f} {scripting:7.0f}  {url.replace(base, '')}")
    print(f"\nJSON reports: {outdir}")


if __name__ == "__main__":
    main()
