"""Build one chapter quickly and preview it: `make chapter CHAPTER=book/<name>.md`.

Runs the book's build into _build/chapter with only that chapter executed (see
book/_ext/chapter_mode.py; outputs go into the book's execution cache, so the next `make book`
reuses them), reports the warnings about that chapter (warnings about the other, unexecuted
chapters are expected and left out), prints where the page is, and with --serve serves it.
Exit status: 0 when the chapter built without warnings, 1 when it has warnings, 2 on bad input.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "_build" / "chapter"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapter", help="the chapter's Markdown file, e.g. book/tensors.md")
    parser.add_argument("--serve", action="store_true", help="serve the result on http://127.0.0.1:PORT")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args(argv)
    chapter = Path(args.chapter)
    source = (ROOT / chapter).resolve() if not chapter.is_absolute() else chapter
    if source.suffix != ".md" or not source.is_file() or ROOT / "book" not in source.parents:
        print(
            f"error: expected a chapter file under book/, such as book/tensors.md; got {args.chapter!r}",
            file=sys.stderr,
        )
        return 2
    name = source.relative_to(ROOT).as_posix()
    command = [
        str(Path(sys.executable).parent / "jupyter-book"),
        "build",
        str(ROOT),
        "--path-output",
        str(OUTPUT),
        "--keep-going",
    ]
    started = time.perf_counter()
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "MLBOOK_CHAPTER": name}
    )
    seconds = time.perf_counter() - started
    log = result.stdout + result.stderr
    (OUTPUT / "build.log").parent.mkdir(parents=True, exist_ok=True)
    (OUTPUT / "build.log").write_text(log)
    ours = [line for line in log.splitlines() if re.search(r"WARNING|ERROR", line) and name in line]
    for line in ours:
        print(line)
    if result.returncode != 0:  # e.g. a cell in the chapter raised
        print(log[-4000:], file=sys.stderr)
        print(f"error: building {name} failed; the whole log is in {OUTPUT / 'build.log'}", file=sys.stderr)
        return 1
    page = OUTPUT / "_build" / "html" / source.relative_to(ROOT).with_suffix(".html")
    print(f"Built {name} in {seconds:.1f} s with {len(ours)} warning(s); log: {OUTPUT / 'build.log'}")
    print(f"Open {page}")
    if args.serve:
        site = OUTPUT / "_build" / "html"
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
        with http.server.ThreadingHTTPServer(("127.0.0.1", args.port), handler) as server:
            print(f"Serving on http://127.0.0.1:{args.port}/{page.relative_to(site).as_posix()} (Ctrl+C stops)")
            try:
                server.serve_forever()
            except KeyboardInterrupt:
                pass
    return 1 if ours else 0


if __name__ == "__main__":
    sys.exit(main())
