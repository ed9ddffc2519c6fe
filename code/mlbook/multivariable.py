"""Linear regression with many inputs: y_hat = X w + b, with examples as the rows of X.

The chapter "Multi-variable linear regression" shows and runs these functions: the model
by a Python loop and by one matrix product, the gradient in matrix form, the normal
equations, `torch.linalg.lstsq`, and training an `nn.Linear` that must reach the same
answer.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence

import torch
from tqdm import tqdm

from mlbook import cli, plotting
from mlbook.data import load_penguins
from mlbook.device import get_device
from mlbook.linear_regression import design_matrix

#: The columns of the penguins file the chapter uses to predict body mass (in mm)...
COLUMNS = ("bill_length_mm", "bill_depth_mm", "flipper_length_mm")
#: ...and the names of the columns of X, which holds them in centimetres.
FEATURES = tuple(name.removesuffix("_mm") + "_cm" for name in COLUMNS)


def check_Xy(X: torch.Tensor, y: torch.Tensor) -> None:
    """Raise a ValueError unless X is (m, n) and y is (m,), finite floats, m >= 2."""
    for name, t, ndim in (("X", X, 2), ("y", y, 1)):
        if not isinstance(t, torch.Tensor):
            raise ValueError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if t.ndim != ndim:
            shape = (
                "(m, n): one row per example"
                if ndim == 2
                else "(m,): one target per example"
            )
            raise ValueError(f"{name} must have shape {shape}, got {tuple(t.shape)}")
        if not t.is_floating_point():
            raise ValueError(f"{name} must hold floating-point numbers, got {t.dtype}")
    if X.shape[0] != y.shape[0]:
        raise ValueError(
            f"X has {X.shape[0]} rows but y has {y.shape[0]} values; they must match"
        )
    if X.shape[0] < 2:
        raise ValueError(f"need at least 2 examples, got {X.shape[0]}")
    if not (torch.isfinite(X).all() and torch.isfinite(y).all()):
        raise ValueError("X and y must not contain NaN or infinite values")


def load_penguin_features(
    columns: Sequence[str] = COLUMNS,
) -> tuple[torch.Tensor, torch.Tensor]:
    """X: the penguins' `columns` (lengths in mm in the file) in cm, each centred on its
    mean; y: body mass in kg.

    X is (m, n), y is (m,).
    """
    _check_lengths(columns)
    data = load_penguins((*columns, "body_mass_g"))
    X = torch.stack([data[name] for name in columns], dim=1) / 10.0  # (m, n), mm -> cm
    return X - X.mean(dim=0), data["body_mass_g"] / 1000.0


def _check_lengths(columns: Sequence[str]) -> None:
    lengths = [name for name in columns if name.endswith("_mm")]
    if not columns or isinstance(columns, str) or len(lengths) != len(columns):
        raise ValueError(
            "columns must name lengths in millimetres (ending in _mm), such as "
            f"{', '.join(COLUMNS)}; got {columns!r}"
        )


def predict_loop(X: torch.Tensor, w: torch.Tensor, b: float) -> torch.Tensor:
    """y_hat_i = sum_j X_ij w_j + b, one multiplication at a time in Python."""
    m, n = X.shape
    y_hat = torch.empty(m, dtype=X.dtype)
    for i in range(m):
        total = b
        for j in range(n):
            total += X[i, j].item() * w[j].item()
        y_hat[i] = total
    return y_hat


def predict(X: torch.Tensor, w: torch.Tensor, b) -> torch.Tensor:
    """y_hat = X w + b for all examples at once: (m, n) @ (n,) -> (m,)."""
    return X @ w + b


def gradients(
    X: torch.Tensor, y: torch.Tensor, w: torch.Tensor, b
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradient of the mean squared error.

    dL/dw = (2/m) X^T r and dL/db = (2/m) sum(r), with r = X w + b - y.
    """
    residual = predict(X, w, b) - y  # (m,)
    m = X.shape[0]
    return 2.0 / m * X.T @ residual, 2.0 / m * residual.sum()


def normal_equations(X: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Solve (A^T A) theta = A^T y with A = [X, 1]: the textbook formula.

    Fine when A is well conditioned.
    """
    check_Xy(X, y)
    A = design_matrix(X)
    theta = torch.linalg.solve(A.T @ A, A.T @ y.detach().cpu().double())
    return theta[:-1], theta[-1].item()


def least_squares(X: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, float]:
    """The exact (w, b) from `torch.linalg.lstsq`, which never forms A^T A.

    That makes it more accurate.
    """
    check_Xy(X, y)
    A = design_matrix(X)
    if torch.linalg.matrix_rank(A) < A.shape[1]:
        raise ValueError(
            "the columns of X (with the intercept) are linearly dependent: "
            "the weights are not determined"
        )
    # shape (n + 1,)
    theta = torch.linalg.lstsq(A, y.detach().cpu().double().unsqueeze(1)).solution[:, 0]
    return theta[:-1], theta[-1].item()


def fit_linear(
    X: torch.Tensor,
    y: torch.Tensor,
    lr: float = 0.4,
    steps: int = 1000,
    progress: bool = False,
) -> tuple[torch.nn.Linear, torch.Tensor]:
    """Train `nn.Linear(n, 1)` from zero weights by full-batch SGD.

    Returns the model and its losses (steps + 1,).
    """
    check_Xy(X, y)
    if not (isinstance(lr, (int, float)) and lr > 0):
        raise ValueError(f"lr must be a number above 0, got {lr!r}")
    if not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be a whole number of at least 0, got {steps!r}")
    model = torch.nn.Linear(X.shape[1], 1).to(device=X.device, dtype=X.dtype)
    # start where the chapter's hand-written fits start
    torch.nn.init.zeros_(model.weight)
    torch.nn.init.zeros_(model.bias)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    losses = []
    for _ in tqdm(range(steps), disable=not progress, unit="step", leave=False):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(X).squeeze(1), y)  # (m, 1) -> (m,)
        losses.append(loss.detach())
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        losses.append(torch.nn.functional.mse_loss(model(X).squeeze(1), y))
    return model, torch.stack(losses).cpu()


def time_predictions(
    X: torch.Tensor, w: torch.Tensor, b: float, repeat: int = 5
) -> tuple[float, float]:
    """Median seconds for `predict_loop` and for `predict` on the same inputs."""
    if repeat < 1:
        raise ValueError(f"repeat must be at least 1, got {repeat!r}")

    def median_seconds(fn) -> float:
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            fn(X, w, b)
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    return median_seconds(predict_loop), median_seconds(predict)


def main(argv: Sequence[str] | None = None) -> int:
    """Predict penguin body mass from three measurements.

    Compare training with the exact answer.
    """
    parser = cli.make_parser(
        "python -m mlbook.multivariable", main.__doc__, progress=True, device=True
    )
    parser.add_argument(
        "--steps",
        type=cli.positive_int,
        default=1000,
        help="SGD steps (default: %(default)s)",
    )
    parser.add_argument(
        "--lr",
        type=cli.positive_float,
        default=0.4,
        help="learning rate (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    device = get_device(args.device)
    X, y = load_penguin_features()
    w_star, b_star = least_squares(X, y)
    model, losses = fit_linear(
        X.to(device),
        y.to(device),
        lr=args.lr,
        steps=5 if args.dry_run else args.steps,
        progress=not args.no_progress,
    )
    print(
        f"{X.shape[0]} penguins, features (centred): {', '.join(FEATURES)}; "
        f"trained on {device}"
    )
    print(f"{'':20} {'nn.Linear + SGD':>16} {'lstsq':>10}")
    for name, w, w_exact in zip(
        FEATURES, model.weight.detach().cpu()[0].tolist(), w_star.tolist(), strict=True
    ):
        print(f"{name:20} {w:16.4f} {w_exact:10.4f}  kg per cm")
    print(f"{'intercept':20} {model.bias.item():16.4f} {b_star:10.4f}  kg")
    print(f"final MSE: {losses[-1].item():.4f} kg^2")
    loop_s, vector_s = time_predictions(
        X[:50], w_star.float(), b_star, repeat=1 if args.dry_run else 5
    )
    print(
        f"predicting 50 penguins: Python loop {loop_s * 1e3:.2f} ms, "
        f"X @ w + b {vector_s * 1e3:.3f} ms "
        f"({loop_s / vector_s:.0f} times faster)"
    )
    with torch.no_grad():
        y_hat = model(X.to(device)).squeeze(1).cpu()
    figure = plotting.predicted_vs_actual(y, y_hat, "body mass (kg)")
    for path in cli.save_figures({"predicted_vs_measured": figure}, args.out):
        print(f"saved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run(main))
