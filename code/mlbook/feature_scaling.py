"""Standardise features so that gradient descent sees a round bowl, not a narrow valley.

The chapter "Feature scaling" shows and runs these functions: a standardiser fitted on
training data only, the conversion of weights back to original units, the condition
number and largest stable learning rate of a data set, and gradient descent's loss at
any step, both run and predicted exactly from the eigenvalues of the loss's curvature.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from mlbook import cli, plotting
from mlbook.data import load_penguins, train_test_indices
from mlbook.linear_regression import design_matrix
from mlbook.multivariable import check_Xy, least_squares
from mlbook.optimisation import hessian, largest_stable_lr, steps_to_reach

#: The chapter's inputs (in the units the data file uses) and what they predict.
FEATURES = ("body_mass_g", "bill_length_mm", "bill_depth_mm")
TARGET = "flipper_length_mm"


def load_penguin_measurements(
    features: Sequence[str] = FEATURES,
) -> tuple[torch.Tensor, torch.Tensor]:
    """X: the raw `features` as the file has them; y: flipper length in mm.

    X is (m, n) in float64, y is (m,).
    """
    data = load_penguins((*features, TARGET))
    X = torch.stack([data[name] for name in features], dim=1).double()  # (m, n)
    return X, data[TARGET].double()


@dataclass
class Standardizer:
    """Rescale each column to mean 0 and standard deviation 1.

    The statistics are those of the data it was fitted on.
    """

    # (n,) column means of the fitting data
    mean: torch.Tensor | None = None
    # (n,) column standard deviations (population, as scikit-learn)
    std: torch.Tensor | None = None

    def fit(self, X: torch.Tensor) -> Standardizer:
        _check_matrix(X)
        std = X.std(dim=0, correction=0)
        constant = torch.nonzero(std == 0).flatten().tolist()
        if constant:
            raise ValueError(
                f"column(s) {constant} are constant: "
                "they cannot be scaled (and carry no information)"
            )
        self.mean, self.std = X.mean(dim=0), std
        return self

    def transform(self, X: torch.Tensor) -> torch.Tensor:
        self._check_fitted(X)
        return (X - self.mean) / self.std

    def inverse_transform(self, Z: torch.Tensor) -> torch.Tensor:
        self._check_fitted(Z)
        return Z * self.std + self.mean

    def fit_transform(self, X: torch.Tensor) -> torch.Tensor:
        return self.fit(X).transform(X)

    def check_fitted(self, columns: int) -> None:
        """Raise a ValueError unless it was fitted, on data with `columns` columns."""
        if self.mean is None or self.std is None:
            raise ValueError(
                "the Standardizer has not been fitted: call fit(X_train) first"
            )
        if columns != self.mean.shape[0]:
            raise ValueError(
                f"the Standardizer was fitted on {self.mean.shape[0]} columns, "
                f"got {columns}"
            )

    def _check_fitted(self, X: torch.Tensor) -> None:
        _check_matrix(X)
        self.check_fitted(X.shape[1])


def _check_matrix(X) -> None:
    if not isinstance(X, torch.Tensor) or X.ndim != 2 or X.shape[0] < 1:
        shape = tuple(X.shape) if isinstance(X, torch.Tensor) else type(X).__name__
        raise ValueError(
            f"expected a tensor of shape (m, n) with one row per example, got {shape}"
        )
    if not X.is_floating_point() or not torch.isfinite(X).all():
        raise ValueError("X must hold finite floating-point numbers")


def _check_weights(w_scaled, scaler) -> None:
    if not isinstance(scaler, Standardizer):
        raise ValueError(f"scaler must be a Standardizer, got {type(scaler).__name__}")
    if not isinstance(w_scaled, torch.Tensor) or w_scaled.ndim != 1:
        got = getattr(w_scaled, "shape", type(w_scaled).__name__)
        raise ValueError(f"w_scaled must be a 1-D tensor of weights, got {got}")
    scaler.check_fitted(w_scaled.shape[0])


def to_original_units(
    w_scaled: torch.Tensor, b_scaled: float, scaler: Standardizer
) -> tuple[torch.Tensor, float]:
    """Weights of a model trained on standardised inputs, rewritten for the raw inputs.

    y_hat = sum_j w_j (x_j - mean_j) / std_j + b
          = sum_j (w_j / std_j) x_j + (b - sum_j w_j mean_j / std_j).
    """
    _check_weights(w_scaled, scaler)
    w = w_scaled / scaler.std
    return w, float(b_scaled - (w * scaler.mean).sum())


def weight_standard_errors(X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Standard errors of the least-squares weights (m, n) -> (n,), intercept left out.

    The textbook estimate for independent noise of one variance: s^2 (A^T A)^-1 on the
    diagonal, with A = [X, 1] and s^2 = residual sum of squares / (m - n - 1).
    """
    w, b = least_squares(X, y)
    A = design_matrix(X)  # (m, n + 1)
    dof = A.shape[0] - A.shape[1]
    if dof < 1:
        raise ValueError(
            f"need more rows than weights plus intercept ({A.shape[1]}), "
            f"got {A.shape[0]}"
        )
    residuals = A[:, :-1] @ w + b - y.detach().cpu().double()  # (m,)
    s2 = (residuals**2).sum() / dof
    return (s2 * torch.linalg.inv(A.T @ A).diagonal()[:-1]).sqrt()


class StandardizeLayer(torch.nn.Module):
    """A fitted Standardizer as a layer.

    Its mean and std are buffers: they are in state_dict and follow .to().
    """

    def __init__(self, scaler: Standardizer):
        super().__init__()
        if not isinstance(scaler, Standardizer) or scaler.mean is None:
            raise ValueError("expected a fitted Standardizer (call fit first)")
        self.register_buffer("mean", scaler.mean.clone())
        self.register_buffer("std", scaler.std.clone())

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return (X - self.mean) / self.std


def condition_number(X: torch.Tensor) -> float:
    """Largest over smallest curvature of the mean squared error for inputs X.

    The model has an intercept.
    """
    eigenvalues = torch.linalg.eigvalsh(hessian(X))
    return (eigenvalues.max() / eigenvalues.min()).item()


def gradient_descent_losses(
    X: torch.Tensor, y: torch.Tensor, lr: float, steps: int
) -> torch.Tensor:
    """Plain full-batch gradient descent from all-zero weights, in float64.

    Returns the loss at each step, shape (steps + 1,).
    """
    check_Xy(X, y)
    A, target = design_matrix(X), y.detach().cpu().double()
    theta = torch.zeros(A.shape[1], dtype=torch.float64)
    losses = torch.empty(steps + 1, dtype=torch.float64)
    for t in range(steps + 1):
        residual = A @ theta - target  # (m,)
        losses[t] = residual @ residual / A.shape[0]
        theta = theta - lr * (2.0 / A.shape[0]) * (A.T @ residual)
    return losses


def gradient_descent_path(
    X: torch.Tensor, y: torch.Tensor, lr: float, steps: int
) -> torch.Tensor:
    """The parameters (w, b) of `gradient_descent_losses` at each step.

    Returns shape (steps + 1, n + 1): row t holds the weights, then the intercept.
    """
    check_Xy(X, y)
    A, target = design_matrix(X), y.detach().cpu().double()
    path = torch.zeros(steps + 1, A.shape[1], dtype=torch.float64)
    for t in range(steps):
        residual = A @ path[t] - target  # (m,)
        path[t + 1] = path[t] - lr * (2.0 / A.shape[0]) * (A.T @ residual)
    return path


def mse_grid(
    x: torch.Tensor, y: torch.Tensor, weights: torch.Tensor, intercepts: torch.Tensor
) -> torch.Tensor:
    """The mean squared error of y_hat = w x + b for every w in `weights`, b in
    `intercepts`, for one input x (m,): shape (len(intercepts), len(weights))."""
    check_Xy(x[:, None], y)
    # (len(b), len(w), m) predictions, one grid point per (b, w) pair
    y_hat = weights[None, :, None] * x.double() + intercepts[:, None, None]
    return ((y_hat - y.double()) ** 2).mean(dim=-1)


def knn_predict(
    X_train: torch.Tensor, y_train: torch.Tensor, X_query: torch.Tensor, k: int
) -> torch.Tensor:
    """k-nearest neighbours: each query row's prediction is the mean target of the k
    training rows nearest to it (Euclidean distance). Shape (len(X_query),)."""
    check_Xy(X_train, y_train)
    _check_matrix(X_query)
    if X_query.shape[1] != X_train.shape[1]:
        raise ValueError(
            f"X_query has {X_query.shape[1]} columns, X_train {X_train.shape[1]}"
        )
    if not isinstance(k, int) or not 1 <= k <= X_train.shape[0]:
        raise ValueError(
            f"k must be a whole number from 1 to {X_train.shape[0]}, got {k!r}"
        )
    distances = torch.cdist(X_query, X_train)  # (queries, m)
    nearest = distances.topk(k, dim=1, largest=False).indices  # (queries, k)
    return y_train[nearest].mean(dim=1)


def predicted_losses(
    X: torch.Tensor, y: torch.Tensor, lr: float, steps: torch.Tensor
) -> torch.Tensor:
    """The exact loss of `gradient_descent_losses` at each step in `steps`.

    It is computed without running gradient descent. The loss is quadratic, so the error
    along each eigenvector of the Hessian (curvature lam) shrinks by (1 - lr lam) per
    step: L_t = L* + sum_i lam_i / 2 * c_i^2 * (1 - lr lam_i)^(2 t).
    """
    check_Xy(X, y)
    w_star, b_star = least_squares(X, y)
    theta_star = torch.cat([w_star, torch.tensor([b_star], dtype=torch.float64)])
    A, target = design_matrix(X), y.detach().cpu().double()
    best = ((A @ theta_star - target) ** 2).mean()
    lam, V = torch.linalg.eigh(hessian(X))
    # the starting error in eigen-coordinates
    c = V.T @ (torch.zeros_like(theta_star) - theta_star)
    t = steps.double()[:, None]
    return best + (lam / 2 * c**2 * (1 - lr * lam) ** (2 * t)).sum(dim=1)


def predicted_steps_to_reach(
    X: torch.Tensor, y: torch.Tensor, lr: float, target: float, limit: int = 10**15
) -> int | None:
    """The first step at which gradient descent's loss is at most `target`.

    Computed by the formula; None if it is past `limit`.
    """

    def reached(t: int) -> bool:
        return predicted_losses(X, y, lr, torch.tensor([t]))[0].item() <= target

    if reached(0):
        return 0
    high = 1
    while not reached(high):  # double until past the target...
        high *= 2
        if high > limit:
            return None
    low = high // 2  # ...then bisect: below the limit the loss only ever falls
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if reached(middle) else (middle, high)
    return high


def main(argv: Sequence[str] | None = None) -> int:
    """Compare gradient descent on raw, centred and standardised penguin data."""
    parser = cli.make_parser("python -m mlbook.feature_scaling", main.__doc__)
    parser.add_argument(
        "--budget",
        type=cli.positive_int,
        default=2000,
        help="steps actually run (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    budget = 20 if args.dry_run else args.budget
    X, y = load_penguin_measurements()
    train, test = train_test_indices(X.shape[0], seed=args.seed)
    X_train, y_train = X[train], y[train]
    scaler = Standardizer().fit(X_train)  # statistics from the training rows only
    versions = {
        "raw": X_train,
        "centred": X_train - X_train.mean(dim=0),
        "standardised": scaler.transform(X_train),
    }
    w_star, b_star = least_squares(X_train, y_train)
    wb_star = torch.cat([w_star, torch.tensor([b_star], dtype=torch.float64)])
    best = ((design_matrix(X_train) @ wb_star - y_train) ** 2).mean().item()
    target = 1.01 * best
    print(
        f"predicting {TARGET} from {', '.join(FEATURES)}; "
        f"{len(train)} training penguins"
    )
    print(
        f"target: a training MSE within 1% of the best (least squares, L* = "
        f"{best:.3f} mm^2), {target:.3f} mm^2"
    )
    print(f"{'inputs':13} {'condition':>11} {'largest lr':>11} {'steps to target':>22}")
    curves = {}
    for name, inputs in versions.items():
        lr = 0.95 * largest_stable_lr(inputs)
        curves[name] = gradient_descent_losses(inputs, y_train, lr, budget)
        ran = steps_to_reach(curves[name], target)
        if ran is not None:
            steps = f"{ran} (run)"
        else:
            # the formula's count is good to a few significant figures, not to the step
            predicted = predicted_steps_to_reach(inputs, y_train, lr, target)
            steps = f"{predicted:.2g} (predicted)"
        print(
            f"{name:13} {condition_number(inputs):11.3g} "
            f"{largest_stable_lr(inputs):11.3g} {steps:>22}"
        )
    model = least_squares(versions["standardised"], y_train)
    w, b = to_original_units(model[0], model[1], scaler)
    weights = ", ".join(f"{v:.4g}" for v in w.tolist())
    print(f"standardised weights in original units: {weights}; intercept {b:.4g}")
    test_mse = ((X[test] @ w + b - y[test]) ** 2).mean().item()
    print(
        f"test MSE ({len(test)} penguins never used for fitting or scaling): "
        f"{test_mse:.2f} mm^2"
    )
    # the excess over the least-squares minimum, as in the chapter's figure; values
    # within rounding error of the minimum are left out of the log-scale plot
    excess = {n: c - best for n, c in curves.items()}
    figure = plotting.loss_curves(
        {n: e.where(e > 1e-12 * best, torch.nan) for n, e in excess.items()},
        ylabel="training MSE - L* (mm$^2$)",
    )
    for path in cli.save_figures({"losses": figure}, args.out):
        print(f"saved {path}")
    return 0 if math.isfinite(test_mse) else 1


if __name__ == "__main__":
    raise SystemExit(cli.run(main))
