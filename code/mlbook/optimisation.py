"""Gradient-descent optimisers written out by hand, and a loop to compare them.

The chapter "Optimisation and convergence" shows these classes: plain and momentum SGD,
Adagrad and Adam, each a few lines that do what the `torch.optim` class of the same name
does (the tests check them step by step against it), plus full-batch and mini-batch
training of a line.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import torch
from tqdm import tqdm

from mlbook import cli, plotting
from mlbook.device import get_device
from mlbook.linear_regression import (
    FitResult,
    check_xy,
    design_matrix,
    least_squares,
    loss_grid,
    predict,
    squared_error,
)


def _check_line_settings(m, noise, x_range) -> None:
    """Raise a ValueError unless make_line_data can draw m points with these."""
    if not isinstance(m, int) or m < 2:
        raise ValueError(f"m must be a whole number of at least 2, got {m!r}")
    if not x_range[1] > x_range[0]:
        raise ValueError(
            f"x_range must be (low, high) with low < high, got {x_range!r}"
        )
    if noise < 0:
        raise ValueError(f"noise must be at least 0, got {noise!r}")


def make_line_data(
    m: int = 200,
    a: float = 1.5,
    b: float = -2.0,
    noise: float = 0.5,
    x_range: tuple[float, float] = (1.0, 5.0),
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Synthetic data with a known true line.

    x is uniform on x_range, y = a x + b + Gaussian noise.
    """
    _check_line_settings(m, noise, x_range)
    generator = torch.Generator().manual_seed(seed)
    x = x_range[0] + (x_range[1] - x_range[0]) * torch.rand(m, generator=generator)
    return x, a * x + b + noise * torch.randn(m, generator=generator)


def hessian(X: torch.Tensor) -> torch.Tensor:
    """The constant matrix of second derivatives of the mean squared error.

    Over the weights and the intercept of a linear model it is (2/m) A^T A, with
    A = [X, 1]. X is (m, n), or (m,) for a line; the result is (n + 1, n + 1).
    """
    A = design_matrix(X)
    return 2.0 * A.T @ A / A.shape[0]


def largest_stable_lr(X: torch.Tensor) -> float:
    """2 / (largest eigenvalue of the Hessian).

    Plain gradient descent on the mean squared error diverges above this learning rate.
    """
    return 2.0 / torch.linalg.eigvalsh(hessian(X)).max().item()


def _check_params_and_lr(params: list, lr) -> None:
    """Raise a ValueError unless there are parameters to train and lr is a step size."""
    if not params:
        raise ValueError("the optimiser needs at least one parameter")
    if not all(isinstance(p, torch.Tensor) and p.requires_grad for p in params):
        raise ValueError("every parameter must be a tensor with requires_grad=True")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a finite number above 0, got {lr!r}")


def _check_fraction(name: str, value) -> None:
    """Raise a ValueError unless value is in [0, 1), as a fading factor must be."""
    if not (isinstance(value, (int, float)) and 0.0 <= value < 1.0):
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")


class HandOptimizer:
    """The shape of every `torch.optim` optimiser: per-parameter state, and `step()`."""

    def __init__(self, params: Iterable[torch.Tensor], lr: float):
        self.params = list(params)
        _check_params_and_lr(self.params, lr)
        self.lr = lr
        self.state: list[dict[str, torch.Tensor | int]] = [{} for _ in self.params]

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()  # the update is bookkeeping, not part of any model's computation
    def step(self) -> None:
        for p, state in zip(self.params, self.state, strict=True):
            if p.grad is not None:
                self.update(p, p.grad, state)

    def update(self, p: torch.Tensor, g: torch.Tensor, state: dict) -> None:
        raise NotImplementedError


class SGD(HandOptimizer):
    """p <- p - lr * v, where v = momentum * v + g, as torch.optim.SGD.

    v = g when momentum is 0.
    """

    def __init__(self, params, lr: float, momentum: float = 0.0):
        super().__init__(params, lr)
        _check_fraction("momentum", momentum)
        self.momentum = momentum

    def update(self, p, g, state):
        if self.momentum:
            v = state.get("velocity")
            state["velocity"] = v = g.clone() if v is None else self.momentum * v + g
            g = v
        p -= self.lr * g


class Adagrad(HandOptimizer):
    """p <- p - lr * g / (sqrt(sum of all past g^2) + eps), as torch.optim.Adagrad.

    The update is per entry.
    """

    def __init__(self, params, lr: float = 0.01, eps: float = 1e-10):
        super().__init__(params, lr)
        self.eps = eps

    def update(self, p, g, state):
        state["sum_sq"] = state.get("sum_sq", torch.zeros_like(p)) + g * g
        p -= self.lr * g / (state["sum_sq"].sqrt() + self.eps)


class Adam(HandOptimizer):
    """Fading averages u of g and q of g^2, both bias-corrected, as torch.optim.Adam.

    p <- p - lr * u_hat / (sqrt(q_hat) + eps). Kingma and Ba call u and q m and v.
    """

    def __init__(
        self,
        params,
        lr: float = 0.001,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ):
        super().__init__(params, lr)
        for beta in betas:
            _check_fraction("each of betas", beta)
        self.betas, self.eps = betas, eps

    def update(self, p, g, state):
        beta1, beta2 = self.betas
        t = state["t"] = state.get("t", 0) + 1
        state["u"] = beta1 * state.get("u", torch.zeros_like(p)) + (1 - beta1) * g
        state["q"] = beta2 * state.get("q", torch.zeros_like(p)) + (1 - beta2) * g * g
        # early averages are biased towards their zero start
        u_hat = state["u"] / (1 - beta1**t)
        q_hat = state["q"] / (1 - beta2**t)
        p -= self.lr * u_hat / (q_hat.sqrt() + self.eps)


def _check_training(x, y, steps, batch_size) -> None:
    """Raise a ValueError unless the data, the step count and the batch size fit."""
    check_xy(x, y)
    if not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be a whole number of at least 0, got {steps!r}")
    m = x.shape[0]
    if batch_size is not None and not (
        isinstance(batch_size, int) and 1 <= batch_size <= m
    ):
        raise ValueError(
            f"batch_size must be a whole number from 1 to {m} "
            f"(the number of examples), got {batch_size!r}"
        )


def train(
    x: torch.Tensor,
    y: torch.Tensor,
    make_optimizer: Callable[[list[torch.Tensor]], object],
    steps: int,
    batch_size: int | None = None,
    start: tuple[float, float] = (0.0, 0.0),
    seed: int = 0,
    progress: bool = False,
) -> FitResult:
    """Fit y_hat = a x + b with any optimiser; each step uses a mini-batch.

    The mini-batch is all the data if batch_size is None. Mini-batches walk through a
    fresh random order of the examples each epoch, in whole batches only: when
    batch_size does not divide m, the last m % batch_size of an order sit that epoch
    out. The recorded loss is always on all the data, so runs compare fairly.
    """
    _check_training(x, y, steps, batch_size)
    m = x.shape[0]
    a = torch.tensor(start[0], dtype=x.dtype, device=x.device, requires_grad=True)
    b = torch.tensor(start[1], dtype=x.dtype, device=x.device, requires_grad=True)
    optimizer = make_optimizer([a, b])
    generator = torch.Generator().manual_seed(seed)
    order, position = torch.arange(m), m
    losses, params = [], []
    for _ in tqdm(range(steps), disable=not progress, unit="step", leave=False):
        with torch.no_grad():
            losses.append(squared_error(y, predict(x, a, b)))
            params.append(torch.stack([a, b]))
        if batch_size is None:
            batch = slice(None)
        else:
            if position + batch_size > m:  # start a new epoch in a new random order
                order, position = torch.randperm(m, generator=generator), 0
            batch = order[position : position + batch_size].to(x.device)
            position += batch_size
        optimizer.zero_grad()
        squared_error(y[batch], predict(x[batch], a, b)).backward()
        optimizer.step()
    with torch.no_grad():
        losses.append(squared_error(y, predict(x, a, b)))
        params.append(torch.stack([a, b]))
    return FitResult.from_steps(params, losses)


def steps_to_reach(losses: torch.Tensor, target: float) -> int | None:
    """The first step at which the loss is at most `target`.

    None if it never gets there.
    """
    hits = torch.nonzero(losses <= target)
    return int(hits[0, 0]) if hits.numel() else None


#: The chapter's comparison: each optimiser with a learning rate that suits it on
#: this problem.
OPTIMIZERS: dict[str, Callable[[list[torch.Tensor]], HandOptimizer]] = {
    "SGD": lambda p: SGD(p, lr=0.08),
    "SGD + momentum": lambda p: SGD(p, lr=0.02, momentum=0.9),
    "Adagrad": lambda p: Adagrad(p, lr=1.0),
    "Adam": lambda p: Adam(p, lr=0.2),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Compare SGD, momentum, Adagrad and Adam on one line-fitting problem."""
    parser = cli.make_parser(
        "python -m mlbook.optimisation", main.__doc__, progress=True, device=True
    )
    parser.add_argument(
        "--steps",
        type=cli.positive_int,
        default=300,
        help="steps per optimiser (default: %(default)s)",
    )
    parser.add_argument(
        "--batch-size",
        type=cli.positive_int,
        default=None,
        help="mini-batch size (default: all data)",
    )
    args = parser.parse_args(argv)
    device = get_device(args.device)
    x, y = make_line_data(seed=args.seed)
    x, y = x.to(device), y.to(device)
    steps = 5 if args.dry_run else args.steps
    best = squared_error(y, predict(x, *least_squares(x, y))).item()
    target = 1.01 * best
    print(
        f"{x.shape[0]} examples on {device}; least-squares loss {best:.4f}; "
        f"target {target:.4f} (within 1%)"
    )
    print(
        "largest stable learning rate for plain gradient descent: "
        f"{largest_stable_lr(x.cpu()):.4f}"
    )
    runs = {}
    for name, make in OPTIMIZERS.items():
        runs[name] = train(
            x,
            y,
            make,
            steps,
            batch_size=args.batch_size,
            seed=args.seed,
            progress=not args.no_progress,
        )
        reached = steps_to_reach(runs[name].losses, target)
        print(
            f"{name:15} final loss {runs[name].losses[-1].item():.4f}   "
            "steps to target: "
            f"{reached if reached is not None else f'not within {steps}'}"
        )
    a_values, b_values = torch.linspace(-0.5, 3.0, 71), torch.linspace(-4.0, 1.0, 71)
    figures = {
        "losses": plotting.loss_curves(
            {n: r.losses for n, r in runs.items()}, ylabel="mean squared error"
        ),
        "paths": plotting.contour_with_paths(
            a_values,
            b_values,
            loss_grid(x.cpu(), y.cpu(), a_values, b_values),
            {n: r.path for n, r in runs.items()},
            xlabel="a",
            ylabel="b",
        ),
    }
    for path in cli.save_figures(figures, args.out):
        print(f"saved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run(main))
