"""Single-variable linear regression, y_hat = a * x + b, fitted by gradient descent.

The chapter "Single-variable linear regression" shows and runs these functions: the
loss, its hand-derived gradients, gradient descent with those gradients, with autograd
and with `torch.optim.SGD`, and the exact least-squares answer all three must reach.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from tqdm import tqdm

from mlbook import cli, plotting
from mlbook.data import load_penguins
from mlbook.device import get_device

#: Flipper lengths are measured from this reference, so b is the mass of a
#: 200 mm-flipper penguin.
FLIPPER_REFERENCE_MM = 200.0
#: ... and in centimetres, so that x spans a few units around 0.
MM_PER_CM = 10.0


@dataclass(frozen=True)
class GDConfig:
    """Settings for full-batch gradient descent on the squared-error loss."""

    lr: float = 0.1  # learning rate: the step is lr times the gradient
    steps: int = 100  # number of gradient steps, each over the whole data set
    a0: float = 0.0  # starting slope (kg per cm)
    b0: float = 0.0  # starting intercept (kg)
    reduction: str = "mean"  # "mean" or "sum" of the squared errors

    def __post_init__(self) -> None:
        if not (
            isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0
        ):
            raise ValueError(f"lr must be a finite number above 0, got {self.lr!r}")
        if (
            not isinstance(self.steps, int)
            or isinstance(self.steps, bool)
            or self.steps < 0
        ):
            raise ValueError(
                f"steps must be a whole number of at least 0, got {self.steps!r}"
            )
        if not all(
            isinstance(v, (int, float)) and math.isfinite(v) for v in (self.a0, self.b0)
        ):
            raise ValueError(
                f"a0 and b0 must be finite numbers, got {self.a0!r} and {self.b0!r}"
            )
        if self.reduction not in ("mean", "sum"):
            raise ValueError(
                f"reduction must be 'mean' or 'sum', got {self.reduction!r}"
            )


@dataclass(frozen=True)
class FitResult:
    """Where gradient descent on a line ended, and the way it went."""

    a: float  # final slope
    b: float  # final intercept
    losses: torch.Tensor  # (steps + 1,) loss before each step and after the last
    path: torch.Tensor  # (steps + 1, 2) the (a, b) at which each loss was measured

    @classmethod
    def from_steps(
        cls, params: list[torch.Tensor], losses: list[torch.Tensor]
    ) -> FitResult:
        """The record of a run from its (a, b) and loss at each step, on the CPU."""
        path = torch.stack(params).detach().cpu()  # (steps + 1, 2)
        return cls(
            a=path[-1, 0].item(),
            b=path[-1, 1].item(),
            losses=torch.stack(losses).detach().cpu(),
            path=path,
        )


def check_xy(x: torch.Tensor, y: torch.Tensor) -> None:
    """Raise a ValueError unless x and y are finite 1-D float tensors of one length.

    The length must be at least 2.
    """
    for name, t in (("x", x), ("y", y)):
        if not isinstance(t, torch.Tensor):
            raise ValueError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if t.ndim != 1:
            raise ValueError(
                f"{name} must be 1-D with one value per example, "
                f"got shape {tuple(t.shape)}"
            )
        if not t.is_floating_point():
            raise ValueError(f"{name} must hold floating-point numbers, got {t.dtype}")
    if x.shape != y.shape:
        raise ValueError(
            f"x and y must have the same length, got {x.shape[0]} and {y.shape[0]}"
        )
    if x.shape[0] < 2:
        raise ValueError(f"need at least 2 examples to fit a line, got {x.shape[0]}")
    if not (torch.isfinite(x).all() and torch.isfinite(y).all()):
        raise ValueError("x and y must not contain NaN or infinite values")


def flipper_to_x(flipper_mm: torch.Tensor) -> torch.Tensor:
    """Flipper length in mm to the model's input: centimetres above 200 mm."""
    return (flipper_mm - FLIPPER_REFERENCE_MM) / MM_PER_CM


def x_to_flipper(x: torch.Tensor) -> torch.Tensor:
    """The model's input back to flipper length in mm."""
    return x * MM_PER_CM + FLIPPER_REFERENCE_MM


def load_flipper_mass(path=None) -> tuple[torch.Tensor, torch.Tensor]:
    """The penguins as (x, y): x in cm above a 200 mm flipper, y the body mass in kg."""
    data = load_penguins(("flipper_length_mm", "body_mass_g"), path=path)
    return flipper_to_x(data["flipper_length_mm"]), data["body_mass_g"] / 1000.0


def predict(x, a, b):
    """The model: y_hat = a * x + b."""
    return a * x + b


def squared_error(
    y: torch.Tensor, y_hat: torch.Tensor, reduction: str = "mean"
) -> torch.Tensor:
    """Mean (or sum) of the squared errors (y - y_hat)^2: the target first."""
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    errors = (y - y_hat) ** 2
    return errors.mean() if reduction == "mean" else errors.sum()


def check_predictions(
    y_true: torch.Tensor, y_pred: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Both as float64, after checking they are finite 1-D tensors of one length."""
    for name, t in (("y_true", y_true), ("y_pred", y_pred)):
        if not isinstance(t, torch.Tensor) or t.ndim != 1:
            raise ValueError(
                f"{name} must be a 1-D tensor of values, "
                f"got {getattr(t, 'shape', type(t).__name__)}"
            )
    if y_true.shape != y_pred.shape:
        raise ValueError(
            "y_true and y_pred must have the same length, "
            f"got {y_true.shape[0]} and {y_pred.shape[0]}"
        )
    if y_true.numel() == 0:
        raise ValueError("cannot score zero predictions")
    if not (torch.isfinite(y_true).all() and torch.isfinite(y_pred).all()):
        raise ValueError("y_true and y_pred must not contain NaN or infinite values")
    return y_true.double(), y_pred.double()


def mse(y_true: torch.Tensor, y_pred: torch.Tensor) -> float:
    """The mean squared error of predictions as a number, in squared units of y."""
    y_true, y_pred = check_predictions(y_true, y_pred)
    return squared_error(y_true, y_pred).item()


def gradients(
    x: torch.Tensor, y: torch.Tensor, a, b, reduction: str = "mean"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Hand-derived gradient of the squared-error loss: (dL/da, dL/db)."""
    residual = predict(x, a, b) - y  # (m,)
    scale = 2.0 / x.shape[0] if reduction == "mean" else 2.0
    return scale * (residual * x).sum(), scale * residual.sum()


def loss_grid(
    x: torch.Tensor,
    y: torch.Tensor,
    a_values: torch.Tensor,
    b_values: torch.Tensor,
    reduction: str = "mean",
) -> torch.Tensor:
    """The loss at every (a, b) of a grid, by broadcasting.

    Shape (len(b_values), len(a_values)).
    """
    check_xy(x, y)
    # shape (nb, na, m)
    y_hat = a_values[None, :, None] * x[None, None, :] + b_values[:, None, None]
    errors = (y_hat - y) ** 2
    return errors.mean(dim=-1) if reduction == "mean" else errors.sum(dim=-1)


def _steps(config: GDConfig, progress: bool, desc: str):
    return tqdm(
        range(config.steps), desc=desc, disable=not progress, unit="step", leave=False
    )


def fit_by_hand(
    x, y, config: GDConfig = GDConfig(), progress: bool = False
) -> FitResult:
    """Gradient descent with the hand-derived gradients."""
    check_xy(x, y)
    a = torch.tensor(config.a0, dtype=x.dtype, device=x.device)
    b = torch.tensor(config.b0, dtype=x.dtype, device=x.device)
    params, losses = [], []
    for _ in _steps(config, progress, "hand gradients"):
        params.append(torch.stack([a, b]))
        losses.append(squared_error(y, predict(x, a, b), config.reduction))
        da, db = gradients(x, y, a, b, config.reduction)
        a, b = a - config.lr * da, b - config.lr * db
    params.append(torch.stack([a, b]))
    losses.append(squared_error(y, predict(x, a, b), config.reduction))
    return FitResult.from_steps(params, losses)


def fit_with_autograd(
    x, y, config: GDConfig = GDConfig(), progress: bool = False
) -> FitResult:
    """Gradient descent with gradients from autograd's `backward()`."""
    check_xy(x, y)
    a = torch.tensor(config.a0, dtype=x.dtype, device=x.device, requires_grad=True)
    b = torch.tensor(config.b0, dtype=x.dtype, device=x.device, requires_grad=True)
    params, losses = [], []
    for _ in _steps(config, progress, "autograd"):
        loss = squared_error(y, predict(x, a, b), config.reduction)
        params.append(torch.stack([a, b]).detach())
        losses.append(loss.detach())
        loss.backward()
        # the update itself must not become part of the next graph
        with torch.no_grad():
            a -= config.lr * a.grad
            b -= config.lr * b.grad
        a.grad = None
        b.grad = None
    params.append(torch.stack([a, b]).detach())
    losses.append(squared_error(y, predict(x, a, b), config.reduction).detach())
    return FitResult.from_steps(params, losses)


def fit_with_optim(
    x, y, config: GDConfig = GDConfig(), progress: bool = False
) -> FitResult:
    """Gradient descent with autograd and `torch.optim.SGD` doing the update."""
    check_xy(x, y)
    a = torch.tensor(config.a0, dtype=x.dtype, device=x.device, requires_grad=True)
    b = torch.tensor(config.b0, dtype=x.dtype, device=x.device, requires_grad=True)
    optimizer = torch.optim.SGD([a, b], lr=config.lr)
    params, losses = [], []
    for _ in _steps(config, progress, "torch.optim.SGD"):
        optimizer.zero_grad()
        loss = squared_error(y, predict(x, a, b), config.reduction)
        params.append(torch.stack([a, b]).detach())
        losses.append(loss.detach())
        loss.backward()
        optimizer.step()
    params.append(torch.stack([a, b]).detach())
    losses.append(squared_error(y, predict(x, a, b), config.reduction).detach())
    return FitResult.from_steps(params, losses)


FIT_METHODS: dict[str, Callable[..., FitResult]] = {
    "hand": fit_by_hand,
    "autograd": fit_with_autograd,
    "optim": fit_with_optim,
}


def design_matrix(X: torch.Tensor) -> torch.Tensor:
    """A = [X, 1]: the inputs with a column of ones appended for the intercept.

    X is (m, n), or (m,) for one input; A is (m, n + 1), in float64 on the CPU.
    """
    X64 = X.detach().cpu().double()
    if X64.ndim == 1:
        X64 = X64[:, None]  # one input: (m,) -> (m, 1)
    return torch.cat([X64, torch.ones(X64.shape[0], 1, dtype=torch.float64)], dim=1)


def least_squares(x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """The exact minimiser (a, b) of the squared error, from `torch.linalg.lstsq`.

    Computed in float64.
    """
    check_xy(x, y)
    A = design_matrix(x)  # (m, 2)
    if torch.allclose(A[:, 0], A[0, 0]):
        raise ValueError(
            "x is the same for every example, so the slope is not determined"
        )
    # shape (2, 1)
    solution = torch.linalg.lstsq(A, y.detach().cpu().double().unsqueeze(1)).solution
    return solution[0, 0].item(), solution[1, 0].item()


def main(argv: Sequence[str] | None = None) -> int:
    """Fit the penguins' body mass to flipper length and compare with least squares."""
    parser = cli.make_parser(
        "python -m mlbook.linear_regression", main.__doc__, progress=True, device=True
    )
    parser.add_argument(
        "--data",
        default=None,
        help="CSV file with flipper_length_mm and body_mass_g columns "
        "(default: the Palmer penguins shipped with the palmerpenguins package)",
    )
    parser.add_argument(
        "--method",
        choices=sorted(FIT_METHODS),
        default="optim",
        help="how gradients are found",
    )
    parser.add_argument(
        "--lr",
        type=cli.positive_float,
        default=GDConfig.lr,
        help="learning rate (default: %(default)s)",
    )
    parser.add_argument(
        "--steps",
        type=cli.positive_int,
        default=GDConfig.steps,
        help="gradient steps (default: %(default)s)",
    )
    # the option's name in earlier editions of the book, still accepted
    parser.add_argument(
        "--epochs",
        type=cli.positive_int,
        dest="steps",
        default=argparse.SUPPRESS,
        help=argparse.SUPPRESS,
    )
    args = parser.parse_args(argv)

    torch.manual_seed(args.seed)
    device = get_device(args.device)
    x, y = load_flipper_mass(args.data)
    x, y = x.to(device), y.to(device)
    config = GDConfig(lr=args.lr, steps=2 if args.dry_run else args.steps)
    fit = FIT_METHODS[args.method](x, y, config, progress=not args.no_progress)
    a_star, b_star = least_squares(x, y)
    print(f"data: {x.shape[0]} penguins, fitted on {device}")
    print(
        f"gradient descent ({args.method}, lr={config.lr}, {config.steps} steps): "
        f"a = {fit.a:.4f} kg/cm, b = {fit.b:.4f} kg, "
        f"MSE = {fit.losses[-1].item():.4f} kg^2"
    )
    print(
        "least squares (torch.linalg.lstsq): "
        f"a = {a_star:.4f} kg/cm, b = {b_star:.4f} kg"
    )
    print(
        "largest gap to least squares: "
        f"{max(abs(fit.a - a_star), abs(fit.b - b_star)):.2e}"
    )
    if not math.isfinite(fit.losses[-1].item()):
        print("the loss is not finite: gradient descent diverged; try a smaller --lr")
    print(
        "predicted mass of a penguin with a 200 mm flipper: "
        f"{predict(0.0, fit.a, fit.b):.2f} kg"
    )

    figures = {
        "fit": plotting.scatter_with_lines(
            x_to_flipper(x).cpu(),
            y.cpu(),
            {
                "gradient descent": lambda flipper: predict(
                    flipper_to_x(flipper), fit.a, fit.b
                )
            },
            xlabel="flipper length (mm)",
            ylabel="body mass (kg)",
        ),
        "loss": plotting.loss_curves(
            {args.method: fit.losses}, ylabel="mean squared error (kg$^2$)"
        ),
    }
    for path in cli.save_figures(figures, args.out):
        print(f"saved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run(main))
