"""Nonlinear regression with basis functions: curves from a model linear in its weights.

The chapter "Nonlinear regression with basis functions" shows and runs these functions:
data from a known curve, polynomial and Gaussian basis features, an exact fit by least
squares, and a sweep over the polynomial degree that shows training error falling while
validation error turns up.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from mlbook import cli, plotting
from mlbook.linear_regression import mse
from mlbook.multivariable import least_squares


def true_curve(x: torch.Tensor) -> torch.Tensor:
    """The curve the chapter's data come from.

    A damped wave, f(x) = sin(2 pi x) exp(-x) + x / 2.
    """
    return torch.sin(2 * math.pi * x) * torch.exp(-x) + x / 2


def make_curve_data(
    m: int = 16,
    noise: float = 0.15,
    seed: int = 0,
    x_range: tuple[float, float] = (0.0, 2.0),
    even: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """m points with y = true_curve(x) + Gaussian noise, in float64; x evenly spaced on
    x_range (even=True, like a designed experiment) or uniformly random on it."""
    if not isinstance(m, int) or m < 2:
        raise ValueError(f"m must be a whole number of at least 2, got {m!r}")
    if noise < 0:
        raise ValueError(f"noise must be at least 0, got {noise!r}")
    generator = torch.Generator().manual_seed(seed)
    low, high = x_range
    if even:
        x = torch.linspace(low, high, m, dtype=torch.float64)
    else:
        x = low + (high - low) * torch.rand(m, generator=generator, dtype=torch.float64)
    return x, true_curve(x) + noise * torch.randn(
        m, generator=generator, dtype=torch.float64
    )


def _check_x(x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim != 1 or not x.is_floating_point():
        got = getattr(x, "shape", type(x).__name__)
        raise ValueError(f"x must be a 1-D floating-point tensor of inputs, got {got}")
    if not torch.isfinite(x).all():
        raise ValueError("x must not contain NaN or infinite values")


def polynomial_features(
    x: torch.Tensor, degree: int, x_range: tuple[float, float] = (0.0, 2.0)
) -> torch.Tensor:
    """Columns u, u^2, ..., u^degree of u = x rescaled from x_range to [-1, 1].

    Shape (m, degree). Rescaling first keeps every column between -1 and 1; raw powers
    of x would differ in size by orders of magnitude, and the fit would lose digits to
    rounding.
    """
    _check_x(x)
    if not isinstance(degree, int) or degree < 1:
        raise ValueError(f"degree must be a whole number of at least 1, got {degree!r}")
    low, high = x_range
    if not high > low:
        raise ValueError(
            f"x_range must be (low, high) with low < high, got {x_range!r}"
        )
    u = (2 * x - (low + high)) / (high - low)  # (m,)
    return torch.stack([u**k for k in range(1, degree + 1)], dim=1)  # (m, degree)


def gaussian_features(
    x: torch.Tensor, centres: torch.Tensor, width: float
) -> torch.Tensor:
    """Columns exp(-(x - c_j)^2 / (2 width^2)), one bump per centre c_j.

    Shape (m, len(centres)).
    """
    _check_x(x)
    if not (isinstance(width, (int, float)) and width > 0):
        raise ValueError(f"width must be a number above 0, got {width!r}")
    if (
        not isinstance(centres, torch.Tensor)
        or centres.ndim != 1
        or centres.numel() == 0
    ):
        raise ValueError("centres must be a non-empty 1-D tensor")
    return torch.exp(
        -((x[:, None] - centres[None, :].to(x.dtype)) ** 2) / (2 * width**2)
    )  # (m, k)


@dataclass(frozen=True)
class BasisFit:
    """A linear model on basis features: y_hat = features(x) @ w + b."""

    w: torch.Tensor  # (k,)
    b: float

    def predict(self, features: torch.Tensor) -> torch.Tensor:
        if features.ndim != 2 or features.shape[1] != self.w.shape[0]:
            raise ValueError(
                f"expected features of shape (m, {self.w.shape[0]}), "
                f"got {tuple(features.shape)}"
            )
        return features.double() @ self.w + self.b


def fit_basis(features: torch.Tensor, y: torch.Tensor) -> BasisFit:
    """The least-squares weights for basis features.

    An ordinary multi-variable linear fit.
    """
    w, b = least_squares(features, y)
    return BasisFit(w, b)


def degree_sweep(
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_val: torch.Tensor,
    y_val: torch.Tensor,
    degrees: Sequence[int],
    x_range: tuple[float, float] = (0.0, 2.0),
) -> dict[str, list[float]]:
    """Training and validation mean squared error of the least-squares polynomials.

    One polynomial of each degree in `degrees`.
    """
    if len(x_train) <= max(degrees):
        raise ValueError(
            f"degree {max(degrees)} needs more than {max(degrees)} training points, "
            f"got {len(x_train)}"
        )
    train_mse, val_mse = [], []
    for degree in degrees:
        fit = fit_basis(polynomial_features(x_train, degree, x_range), y_train)
        train_mse.append(
            mse(y_train, fit.predict(polynomial_features(x_train, degree, x_range)))
        )
        val_mse.append(
            mse(y_val, fit.predict(polynomial_features(x_val, degree, x_range)))
        )
    return {"degree": list(degrees), "train": train_mse, "validation": val_mse}


def main(argv: Sequence[str] | None = None) -> int:
    """Fit polynomials to a noisy curve and pick the degree on validation data."""
    parser = cli.make_parser("python -m mlbook.basis", main.__doc__)
    parser.add_argument(
        "--max-degree",
        type=cli.positive_int,
        default=14,
        help="largest degree tried (default: %(default)s)",
    )
    parser.add_argument(
        "--points",
        type=cli.positive_int,
        default=16,
        help="training points (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    max_degree = 3 if args.dry_run else args.max_degree
    if max_degree >= args.points:
        raise ValueError(
            f"--max-degree must be below --points ({args.points}): "
            "a degree-d polynomial has d + 1 weights"
        )
    x, y = make_curve_data(m=args.points, seed=args.seed + 1, even=True)
    x_val, y_val = make_curve_data(m=200, seed=args.seed + 101)
    sweep = degree_sweep(x, y, x_val, y_val, range(1, max_degree + 1))
    best = sweep["degree"][
        min(range(len(sweep["validation"])), key=sweep["validation"].__getitem__)
    ]
    print(f"{len(x)} training and {len(x_val)} validation points from a known curve")
    print(f"{'degree':>6} {'train MSE':>10} {'validation MSE':>15}")
    for degree, tr, va in zip(
        sweep["degree"], sweep["train"], sweep["validation"], strict=True
    ):
        print(
            f"{degree:>6} {tr:10.4f} {va:15.4f}"
            f"{'   <- best on validation' if degree == best else ''}"
        )
    fit = fit_basis(polynomial_features(x, best), y)
    figures = {
        "fit": plotting.scatter_with_lines(
            x,
            y,
            {
                f"degree {best}": lambda t: fit.predict(
                    polynomial_features(t.double(), best)
                ),
                "true curve": true_curve,
            },
            xlabel="x",
            ylabel="y",
            x_range=(0.0, 2.0),
        ),
        "sweep": plotting.loss_curves(
            {
                "train": torch.tensor(sweep["train"]),
                "validation": torch.tensor(sweep["validation"]),
            },
            ylabel="MSE",
            xlabel="degree",
            x=sweep["degree"],
        ),
    }
    for path in cli.save_figures(figures, args.out):
        print(f"saved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run(main))
