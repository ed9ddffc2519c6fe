"""Every `python -m mlbook.<module>` entry point: smoke-run in-process on each available device,
and its error paths through a real subprocess (one line on stderr, exit status 2)."""

from __future__ import annotations

import importlib
import pkgutil
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import mlbook
from conftest import available_devices

ENTRY_POINTS = sorted(
    info.name
    for info in pkgutil.iter_modules(mlbook.__path__)
    if hasattr(importlib.import_module(f"mlbook.{info.name}"), "main")
)


def help_text(module: str, capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        importlib.import_module(f"mlbook.{module}").main(["--help"])
    assert exit_info.value.code == 0
    return capsys.readouterr().out


def test_the_book_modules_are_discovered():
    assert {"linear_regression", "tensors", "setup"} <= set(ENTRY_POINTS)


@pytest.mark.parametrize("module", ENTRY_POINTS)
@pytest.mark.parametrize("device", available_devices())
def test_main_runs_end_to_end(module, device, capsys, tmp_path):
    args = ["--dry-run"]
    if "--device" in help_text(module, capsys):
        args += ["--device", device]
    elif device != "cpu":
        pytest.skip(f"mlbook.{module} has no --device option")
    if "--out" in help_text(module, capsys):
        args += ["--out", str(tmp_path / "figures")]
    assert importlib.import_module(f"mlbook.{module}").main(args) == 0
    out = capsys.readouterr().out
    assert out.strip(), "main() should print its result"
    if "--out" in args:
        assert list((tmp_path / "figures").glob("*.png")), "--out should save figures"


@pytest.mark.parametrize("module", ENTRY_POINTS)
def test_device_is_offered_exactly_where_it_is_used(module, capsys):
    """An example offers --device only if it puts its tensors on the device it names."""
    source = (Path(mlbook.__path__[0]) / f"{module}.py").read_text(encoding="utf-8")
    assert ("--device" in help_text(module, capsys)) == ("get_device(args.device)" in source)


def run_module(module: str, *args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", f"mlbook.{module}", *args], capture_output=True, text=True, timeout=120, cwd=cwd
    )


def test_linear_regression_command_line(tmp_path):
    result = run_module("linear_regression", "--steps", "50", "--method", "hand", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "least squares (torch.linalg.lstsq): a = 0.4969 kg/cm, b = 4.1563 kg" in result.stdout
    assert "hand gradients" in result.stderr and "step" in result.stderr  # the progress bar
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["fit.png", "loss.png"]


def test_tensors_command_line():
    result = run_module("tensors", "--size", "3")
    assert result.returncode == 0, result.stderr
    assert "gradient check passed" in result.stdout


def test_setup_command_line():
    result = run_module("setup")
    assert result.returncode == 0, result.stderr
    assert "device the book will use" in result.stdout


def _bad_csv(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("flipper_length_mm,mass\n200,4000\n")
    return str(path)


def _not_a_number_csv(tmp_path):
    path = tmp_path / "words.csv"
    path.write_text("flipper_length_mm,body_mass_g\n200,heavy\n")
    return str(path)


def _a_file(tmp_path):
    path = tmp_path / "file.txt"
    path.write_text("")
    return str(path)


def run_in_process(module: str, args: list[str], capsys) -> tuple[int, str]:
    """What `python -m mlbook.<module> ARGS` does, without a new interpreter: (status, stderr)."""
    from mlbook import cli

    try:
        status = cli.run(importlib.import_module(f"mlbook.{module}").main, args)
    except SystemExit as exit_info:  # argparse exits on bad arguments
        status = exit_info.code
    return status, capsys.readouterr().err


def check_one_line_error(status: int, stderr: str, message: str) -> None:
    assert status == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "error:" in lines[0] and message in lines[0]
    assert "Traceback" not in stderr


@pytest.mark.parametrize(
    "module, args, message",
    [
        ("linear_regression", lambda t: ["--steps", "0"], "expected a whole number above 0, got 0"),
        ("linear_regression", lambda t: ["--lr", "-1"], "expected a finite number above 0"),
        ("linear_regression", lambda t: ["--lr", "fast"], "expected a number, got 'fast'"),
        ("linear_regression", lambda t: ["--method", "magic"], "invalid choice"),
        ("linear_regression", lambda t: ["--bogus"], "unrecognized arguments: --bogus"),
        ("linear_regression", lambda t: ["--device", "tpu"], "device must be one of"),
        ("linear_regression", lambda t: ["--data", str(t / "missing.csv")], "does not exist"),
        ("linear_regression", lambda t: ["--data", _bad_csv(t)], "has no column 'body_mass_g'"),
        ("linear_regression", lambda t: ["--data", _not_a_number_csv(t)], "should hold a number, found 'heavy'"),
        ("linear_regression", lambda t: ["--dry-run", "--out", _a_file(t)], "must be a folder"),
        ("tensors", lambda t: ["--eps", "0"], "expected a finite number above 0"),
        ("tensors", lambda t: ["--size", "many"], "expected a whole number"),
        ("setup", lambda t: ["--verbose"], "unrecognized arguments"),
    ],
)
def test_bad_arguments_give_one_line_and_status_2(module, args, message, tmp_path, capsys):
    check_one_line_error(*run_in_process(module, args(tmp_path), capsys), message)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--steps", "0"], "expected a whole number above 0, got 0"),
        (["--data", "missing.csv"], "does not exist"),
    ],
)
def test_errors_through_a_real_python_dash_m(args, message, tmp_path):
    result = run_module("linear_regression", *args, cwd=tmp_path)
    check_one_line_error(result.returncode, result.stderr, message)


@pytest.mark.parametrize("module", ["linear_regression", "multivariable", "optimisation"])
def test_training_examples_show_a_progress_bar_unless_told_not_to(module, capsys):
    main = importlib.import_module(f"mlbook.{module}").main
    assert "--no-progress" in help_text(module, capsys)
    assert main(["--dry-run"]) == 0
    assert "|" in capsys.readouterr().err  # tqdm's bar, on stderr
    assert main(["--dry-run", "--no-progress"]) == 0
    assert "|" not in capsys.readouterr().err


def test_examples_without_training_have_no_progress_option(capsys):
    assert "--no-progress" not in help_text("basis", capsys)


def _compile_env(tmp_path, **extra: str) -> dict[str, str]:
    """The environment for a --compile run: its own inductor cache, so nothing is reused."""
    import os

    return {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "inductor"), **extra}


def _compile_run(tmp_path, env) -> subprocess.CompletedProcess:
    args = ["--dry-run", "--compile", "--no-progress", "--device", "cpu", "--out", str(tmp_path / "out")]
    return subprocess.run(
        [sys.executable, "-m", "mlbook.training", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


@pytest.mark.skipif(
    not any(shutil.which(cxx) for cxx in ("g++", "clang++")), reason="torch.compile on a CPU needs a C++ compiler"
)
def test_training_compile_option_times_a_compiled_model(tmp_path):
    result = _compile_run(tmp_path, _compile_env(tmp_path))
    assert result.returncode == 0, result.stderr
    timings = re.findall(r"^(.+): first step ([\d.]+) s, then ([\d.]+) ms per step$", result.stdout, re.M)
    assert [name for name, _, _ in timings] == ["eager", "bfloat16 autocast", "torch.compile"]
    assert all(float(per_step) > 0 for _, _, per_step in timings)
    assert (tmp_path / "out" / "losses.png").is_file()


def test_training_compile_without_a_compiler_is_one_clear_line(tmp_path):
    result = _compile_run(tmp_path, _compile_env(tmp_path, CXX=str(tmp_path / "no-such-g++")))
    assert result.returncode == 2, result.stdout
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("training: error: --compile could not compile the model: on a CPU,")
    assert "needs a working C++ compiler" in last and "PyTorch said:" in last
