"""Why squared errors? Losses as negative log-likelihoods of an assumed noise model.

The chapter "Why squared errors? Maximum likelihood" shows and runs these functions:
Gaussian and Laplace negative log-likelihoods (checked against torch.distributions), a
least-absolute-deviations fit by iteratively reweighted least squares with an exact
finishing step, and data with outliers on which the two assumptions give very different
lines.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from mlbook import cli, plotting
from mlbook.linear_regression import check_xy, least_squares


def _check_scale(scale: float, name: str) -> None:
    if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0):
        raise ValueError(f"{name} must be a finite number above 0, got {scale!r}")


def gaussian_nll(y: torch.Tensor, y_hat: torch.Tensor, sigma: float) -> torch.Tensor:
    """Mean negative log-likelihood of y under y ~ Normal(y_hat, sigma^2).

    Each point contributes log(sqrt(2 pi) sigma) + r^2 / (2 sigma^2).
    """
    _check_scale(sigma, "sigma")
    return (
        0.5 * math.log(2 * math.pi * sigma**2) + (y - y_hat) ** 2 / (2 * sigma**2)
    ).mean()


def laplace_nll(y: torch.Tensor, y_hat: torch.Tensor, scale: float) -> torch.Tensor:
    """Mean negative log-likelihood of y under y ~ Laplace(y_hat, scale).

    Each point contributes log(2 scale) + |r| / scale.
    """
    _check_scale(scale, "scale")
    return (math.log(2 * scale) + (y - y_hat).abs() / scale).mean()


def least_absolute_deviations(
    x: torch.Tensor, y: torch.Tensor, iterations: int = 30, eps: float = 1e-8
) -> tuple[float, float]:
    """The line of least mean absolute error: reweighted least squares, then exact.

    |r| = r^2 / |r|: each round solves a weighted least-squares problem with weights
    1 / |r| from the previous round's residuals, so points far from the line count less
    and less. That gets close quickly but converges slowly, so a finishing step moves to
    the exact optimum, which for a line passes through two of the data points.
    """
    check_xy(x, y)
    X = torch.stack([x, torch.ones_like(x)], dim=1).double()  # (m, 2)
    target = y.double()
    a, b = least_squares(x, y)
    theta = torch.tensor([a, b], dtype=torch.float64)
    for _ in range(iterations):
        weights = 1.0 / torch.clamp((X @ theta - target).abs(), min=eps)  # (m,)
        root = weights.sqrt()[:, None]
        theta = torch.linalg.lstsq(X * root, target[:, None] * root).solution[:, 0]
    return best_line_through_points(x, y, theta[0].item(), theta[1].item())


def best_line_through_points(
    x: torch.Tensor, y: torch.Tensor, a: float, b: float
) -> tuple[float, float]:
    """The exact least-absolute-deviations line, found by walking from y = a x + b.

    The mean absolute error is convex and linear between the lines through two data
    points, so its minimum is at such a line. Start at the best line through the one
    data point nearest y = a x + b; while the best line through one of the current
    line's points does better, move to that line (keep that point, swap the other).
    When none does, no direction lowers the error, and a convex function's local
    minimum is its global minimum.
    """
    check_xy(x, y)
    x, y = x.double(), y.double()
    if torch.all(x == x[0]):
        raise ValueError("x must take at least two different values to fit a line")

    def lines_through(p: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        # every line through point p and another point with a different x
        others = torch.nonzero(x != x[p]).flatten()
        slopes = (y[others] - y[p]) / (x[others] - x[p])
        intercepts = y[p] - slopes * x[p]
        errors = (y - slopes[:, None] * x - intercepts[:, None]).abs().mean(dim=1)
        return slopes, intercepts, errors

    nearest = int((y - a * x - b).abs().argmin())
    slopes, intercepts, errors = lines_through(nearest)
    k = int(errors.argmin())
    a, b, best = slopes[k].item(), intercepts[k].item(), errors[k].item()
    while True:
        residuals = (y - a * x - b).abs()
        on_line = torch.nonzero(residuals <= 1e-9 * (1 + y.abs().max())).flatten()
        moved = False
        for p in on_line.tolist():
            slopes, intercepts, errors = lines_through(p)
            k = int(errors.argmin())
            if errors[k].item() < best - 1e-12 * (1 + best):
                a, b, best = slopes[k].item(), intercepts[k].item(), errors[k].item()
                moved = True
                break
        if not moved:
            return a, b


def make_outlier_data(
    m: int = 80,
    a: float = 2.0,
    b: float = 1.0,
    noise: float = 0.5,
    outliers: int = 8,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A line with Gaussian noise and `outliers` gross errors near its right end.

    The outliers replace points near the right end. Returns x, y and a boolean mask of
    the outliers.
    """
    if not isinstance(m, int) or m < 2:
        raise ValueError(f"m must be a whole number of at least 2, got {m!r}")
    if not isinstance(outliers, int) or not 0 <= outliers < m // 2:
        raise ValueError(
            f"outliers must be a whole number from 0 to {m // 2 - 1}, got {outliers!r}"
        )
    generator = torch.Generator().manual_seed(seed)
    x = torch.sort(10 * torch.rand(m, generator=generator, dtype=torch.float64)).values
    y = a * x + b + noise * torch.randn(m, generator=generator, dtype=torch.float64)
    mask = torch.zeros(m, dtype=torch.bool)
    if outliers:
        # among the largest x
        chosen = m - 1 - torch.randperm(m // 3, generator=generator)[:outliers]
        mask[chosen] = True
        # e.g. a sensor that read low
        y[chosen] -= 15 + 5 * torch.rand(
            outliers, generator=generator, dtype=torch.float64
        )
    return x, y, mask


def main(argv: Sequence[str] | None = None) -> int:
    """Fit a line to data with outliers by squared and by absolute error.

    Compare both lines with the truth.
    """
    parser = cli.make_parser("python -m mlbook.likelihood", main.__doc__)
    parser.add_argument(
        "--outliers",
        type=int,
        default=8,
        help="number of gross errors (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    x, y, mask = make_outlier_data(outliers=args.outliers, seed=args.seed)
    fits = {
        "squared error (Gaussian)": least_squares(x, y),
        "absolute error (Laplace)": least_absolute_deviations(
            x, y, iterations=5 if args.dry_run else 30
        ),
    }
    print(
        f"{len(x)} points on y = 2x + 1 with Gaussian noise, "
        f"{int(mask.sum())} of them gross outliers"
    )
    for name, (a, b) in fits.items():
        print(f"{name:26} a = {a:6.3f}  b = {b:6.3f}")
    figure = plotting.scatter_with_lines(
        x,
        y,
        {name: (lambda t, a=a, b=b: a * t + b) for name, (a, b) in fits.items()}
        | {"truth": lambda t: 2 * t + 1},
        xlabel="x",
        ylabel="y",
    )
    for path in cli.save_figures({"fits": figure}, args.out):
        print(f"saved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run(main))
