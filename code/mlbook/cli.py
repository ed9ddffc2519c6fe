"""What every `python -m mlbook.<module>` entry point shares.

Arguments, errors and the output folder.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from mlbook.device import DEVICE_CHOICES


class ArgumentParser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line on stderr and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def positive_int(text: str) -> int:
    """Parse a whole number greater than zero (for sizes and step counts)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number, got {text!r}"
        ) from None
    if value <= 0:
        raise argparse.ArgumentTypeError(
            f"expected a whole number above 0, got {value}"
        )
    return value


def positive_float(text: str) -> float:
    """Parse a finite number greater than zero (for learning rates and tolerances)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(
            f"expected a finite number above 0, got {text}"
        )
    return value


def output_folder(text: str) -> Path:
    """Parse a folder to save files in; it may not exist yet, but must not be a file."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"must be a folder, but {text} is a file")
    return path


def make_parser(
    prog: str, description: str, progress: bool = False, device: bool = False
) -> ArgumentParser:
    """A parser with the options every example shares: --seed, --out and --dry-run.

    With `device`, also --device, for examples that put their tensors on one; with
    `progress`, also --no-progress, for examples that show a progress bar.
    """
    parser = ArgumentParser(prog=prog, description=description)
    if device:
        parser.add_argument(
            "--device",
            default="auto",
            help=f"one of {', '.join(DEVICE_CHOICES)} or cuda:N (default: auto)",
        )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument(
        "--out",
        type=output_folder,
        default=None,
        help="folder to save the figures in (default: do not save)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="run a tiny version quickly (used by the tests)",
    )
    if progress:
        parser.add_argument(
            "--no-progress", action="store_true", help="hide the progress bar"
        )
    return parser


def run(
    main: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None = None
) -> int:
    """Call `main(argv)`, turning a ValueError or a missing file into one line.

    Such an error exits with status 2.
    """
    try:
        return main(argv)
    except (ValueError, FileNotFoundError, IsADirectoryError) as err:
        prog = Path(sys.argv[0]).stem if sys.argv and sys.argv[0] else "mlbook"
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2


def save_figures(figures: dict[str, object], out: Path | None) -> list[Path]:
    """Save each matplotlib figure as `out/<name>.png`; return the paths written."""
    if out is None:
        return []
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out must be a folder, but {out} is a file")
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, fig in figures.items():
        path = out / f"{name}.png"
        fig.savefig(path, dpi=120, bbox_inches="tight")  # type: ignore[attr-defined]
        paths.append(path)
    return paths
