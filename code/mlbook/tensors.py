"""Check autograd's gradients against finite differences, as every later chapter can.

The chapter "Tensors and automatic differentiation" shows these functions: a
central-difference estimate of the gradient of any scalar function of a tensor, and a
check that compares it with the gradient `backward()` computes.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from mlbook import cli, plotting
from mlbook.device import get_device


@dataclass(frozen=True)
class GradientCheck:
    """Autograd's gradient beside the finite-difference estimate, and their gap."""

    autograd: torch.Tensor  # the gradient from backward(), same shape as x
    numerical: torch.Tensor  # the central-difference estimate, same shape as x
    max_abs_error: float  # largest absolute difference between the two
    passed: bool  # True when they agree within the tolerances


def _check_inputs(f, x: torch.Tensor, h: float) -> None:
    if not callable(f):
        raise ValueError(f"f must be a function of a tensor, got {type(f).__name__}")
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise ValueError(
            f"x must hold floating-point numbers to be differentiated, got {x.dtype}"
        )
    if x.numel() == 0:
        raise ValueError("x is empty: there is nothing to differentiate")
    if not torch.isfinite(x).all():
        raise ValueError("x must not contain NaN or infinite values")
    if not (isinstance(h, (int, float)) and math.isfinite(h) and h > 0):
        raise ValueError(
            f"h (the finite-difference step) must be a small number above 0, got {h!r}"
        )


def _scalar(f, x: torch.Tensor) -> torch.Tensor:
    value = f(x)
    if not isinstance(value, torch.Tensor) or value.numel() != 1:
        shape = (
            tuple(value.shape)
            if isinstance(value, torch.Tensor)
            else type(value).__name__
        )
        raise ValueError(
            f"f must return a single number (a tensor with one element), got {shape}"
        )
    return value.reshape(())


def numerical_gradient(
    f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, h: float = 1e-6
) -> torch.Tensor:
    """Central differences (f(x + h e_i) - f(x - h e_i)) / (2 h) for each entry i.

    Computed in float64.
    """
    _check_inputs(f, x, h)
    # float64: in float32 the rounding error of f, divided by a tiny h, would swamp
    # the estimate.
    # A contiguous copy: x itself is never written to, and reshape(-1) below is a view
    # (of a transposed or sliced x it would be a copy, and the writes would be lost).
    x64 = x.detach().to(torch.float64).clone(memory_format=torch.contiguous_format)
    grad = torch.zeros_like(x64)
    # views: writing to them writes x64, grad
    flat, grad_flat = x64.reshape(-1), grad.reshape(-1)
    with torch.no_grad():
        for i in range(flat.numel()):
            original = flat[i].item()
            flat[i] = original + h
            up = _scalar(f, x64).item()
            flat[i] = original - h
            down = _scalar(f, x64).item()
            flat[i] = original
            grad_flat[i] = (up - down) / (2 * h)
    return grad


def autograd_gradient(
    f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor
) -> torch.Tensor:
    """The gradient of f at x from autograd, in float64 (x itself is left untouched)."""
    _check_inputs(f, x, 1.0)
    x64 = x.detach().to(torch.float64).requires_grad_(True)
    _scalar(f, x64).backward()
    return x64.grad


def check_gradient(
    f: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    h: float = 1e-6,
    rtol: float = 1e-5,
    atol: float = 1e-7,
) -> GradientCheck:
    """Compare autograd's gradient of f at x with central differences."""
    auto = autograd_gradient(f, x)
    numerical = numerical_gradient(f, x, h)
    error = (auto - numerical).abs().max().item()
    return GradientCheck(
        auto,
        numerical,
        error,
        bool(torch.allclose(auto, numerical, rtol=rtol, atol=atol)),
    )


def example_function(x: torch.Tensor) -> torch.Tensor:
    """The chapter's example: f(x) = sum(x^2 sin x).

    Its gradient is 2x sin x + x^2 cos x.
    """
    return (x**2 * torch.sin(x)).sum()


def example_gradient(x: torch.Tensor) -> torch.Tensor:
    """The hand-derived gradient of `example_function`."""
    return 2 * x * torch.sin(x) + x**2 * torch.cos(x)


def plot_derivative(
    f: Callable[[torch.Tensor], torch.Tensor],
    f_prime: Callable[[torch.Tensor], torch.Tensor],
    lo: float = -4.0,
    hi: float = 4.0,
    points: int = 161,
):
    """Two panels: f on [lo, hi], and its derivative from autograd beside `f_prime`.

    Autograd's derivative is drawn as a line, `f_prime` as dots.
    """
    grid = torch.linspace(lo, hi, points, requires_grad=True)
    values = f(grid)  # (points,): f applied element by element
    # each output depends only on its own input, so grad holds every f'(x_i)
    values.sum().backward()
    fig = plotting.new_figure((8.0, 3.2))
    left, right = fig.subplots(1, 2)
    x = grid.detach()
    left.plot(x, values.detach())
    left.set(xlabel="x", ylabel="f(x)", title="f")
    right.plot(x, grid.grad, label="autograd")
    right.plot(x[::8], f_prime(x)[::8], "o", label="by hand")
    right.set(xlabel="x", ylabel="f′(x)", title="derivative")
    right.legend()
    return fig


def main(argv: Sequence[str] | None = None) -> int:
    """Check autograd against a hand derivative and finite differences on random x."""
    parser = cli.make_parser("python -m mlbook.tensors", main.__doc__, device=True)
    parser.add_argument(
        "--size",
        type=cli.positive_int,
        default=5,
        help="number of inputs (default: %(default)s)",
    )
    parser.add_argument(
        "--step",
        dest="h",
        metavar="H",
        type=cli.positive_float,
        default=1e-6,
        help="finite-difference step h (default: %(default)s)",
    )
    # the option's old name, before the step was called h (epsilon is Adam's constant)
    parser.add_argument(
        "--eps", dest="h", type=cli.positive_float, help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    device = get_device(args.device)
    if args.dry_run:
        args.size = 2
    generator = torch.Generator().manual_seed(args.seed)
    x = (torch.rand(args.size, generator=generator, dtype=torch.float64) * 4 - 2).to(
        device
    )
    result = check_gradient(example_function, x, h=args.h)
    by_hand = example_gradient(x.double())
    print(f"f(x) = sum(x^2 sin x) at {args.size} random points on {device}")
    print(f"{'x':>10} {'by hand':>14} {'autograd':>14} {'finite diff.':>14}")
    columns = (
        x.tolist(),
        by_hand.tolist(),
        result.autograd.tolist(),
        result.numerical.tolist(),
    )
    for xi, h, a, n in zip(*columns, strict=True):
        print(f"{xi:10.4f} {h:14.8f} {a:14.8f} {n:14.8f}")
    print(
        "largest gap between autograd and finite differences: "
        f"{result.max_abs_error:.2e}"
    )
    print("gradient check passed" if result.passed else "gradient check FAILED")
    figure = plot_derivative(lambda t: t**2 * torch.sin(t), example_gradient)
    for path in cli.save_figures({"derivative": figure}, args.out):
        print(f"saved {path}")
    return 0 if result.passed else 1


if __name__ == "__main__":
    raise SystemExit(cli.run(main))
