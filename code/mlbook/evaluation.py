"""Evaluating regression models: error metrics, a baseline, cross-validation, leakage.

The chapter "Evaluating models" shows and runs these functions: MSE, RMSE, MAE and R^2
(checked against scikit-learn's), a mean-predicting baseline, k-fold splits that
partition the data, and a cross-validation loop in which every data-dependent step
happens inside the fold.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from mlbook import cli, plotting
from mlbook.data import load_diabetes_split, train_test_indices
from mlbook.feature_scaling import Standardizer
from mlbook.linear_regression import check_predictions, design_matrix, mse
from mlbook.multivariable import least_squares
from mlbook.regularisation import ridge

Fit = Callable[[torch.Tensor, torch.Tensor], Callable[[torch.Tensor], torch.Tensor]]


def rmse(y_true: torch.Tensor, y_pred: torch.Tensor) -> float:
    """Root mean squared error: a typical error, in the units of y."""
    return mse(y_true, y_pred) ** 0.5


def mae(y_true: torch.Tensor, y_pred: torch.Tensor) -> float:
    """Mean absolute error: like RMSE in units of y.

    Unlike RMSE, large errors count only in proportion.
    """
    y_true, y_pred = check_predictions(y_true, y_pred)
    return (y_pred - y_true).abs().mean().item()


def r2(y_true: torch.Tensor, y_pred: torch.Tensor) -> float:
    """Coefficient of determination 1 - SSE / SST.

    1 is perfect, 0 is as good as predicting the mean.
    """
    y_true, y_pred = check_predictions(y_true, y_pred)
    total = ((y_true - y_true.mean()) ** 2).sum()
    if total == 0:
        raise ValueError("R^2 is undefined when every true value is the same")
    return (1.0 - ((y_pred - y_true) ** 2).sum() / total).item()


def fit_mean_baseline(
    X: torch.Tensor, y: torch.Tensor
) -> Callable[[torch.Tensor], torch.Tensor]:
    """The model to beat: ignore the inputs and predict the training mean of y."""
    mean = y.double().mean()
    return lambda X_new: torch.full((X_new.shape[0],), mean.item(), dtype=torch.float64)


def fit_least_squares(
    X: torch.Tensor, y: torch.Tensor
) -> Callable[[torch.Tensor], torch.Tensor]:
    """Ordinary least squares on all columns of X."""
    w, b = least_squares(X, y)
    return lambda X_new: X_new.double() @ w + b


def k_fold_indices(
    m: int, k: int, seed: int = 0
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """k (train, validation) index pairs.

    A seeded shuffle is cut into k near-equal validation folds.
    """
    if not isinstance(k, int) or not 2 <= k <= m:
        raise ValueError(
            f"k must be a whole number from 2 to the number of examples ({m}), "
            f"got {k!r}"
        )
    order = torch.randperm(m, generator=torch.Generator().manual_seed(seed))
    folds = torch.tensor_split(order, k)
    return [
        (
            torch.cat([f for j, f in enumerate(folds) if j != i]).sort().values,
            fold.sort().values,
        )
        for i, fold in enumerate(folds)
    ]


def cross_validate(
    fit: Fit,
    X: torch.Tensor,
    y: torch.Tensor,
    k: int = 5,
    seed: int = 0,
    score: Callable[[torch.Tensor, torch.Tensor], float] = rmse,
) -> list[float]:
    """The score of `fit` on each of k validation folds.

    Each is fitted on the other k - 1 folds only.
    """
    scores = []
    for train, val in k_fold_indices(X.shape[0], k, seed):
        # everything learned from data happens here, inside the fold
        model = fit(X[train], y[train])
        scores.append(score(y[val], model(X[val])))
    return scores


def with_standardizing(fit: Fit) -> Fit:
    """`fit` on standardised inputs, scaled with its own training rows' statistics.

    The returned model standardises new inputs with those same statistics.
    """

    def fit_scaled(
        X: torch.Tensor, y: torch.Tensor
    ) -> Callable[[torch.Tensor], torch.Tensor]:
        scaler = Standardizer().fit(X)
        model = fit(scaler.transform(X), y)
        return lambda X_new: model(scaler.transform(X_new))

    return fit_scaled


def least_squares_split_scores(
    X: torch.Tensor,
    y: torch.Tensor,
    seeds: Sequence[int],
    test_fraction: float = 0.25,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Training and validation RMSE of least squares, one random split per seed.

    Split i is `train_test_indices(m, test_fraction, seed=seeds[i])`. Every split's
    training set has the same size, so their design matrices stack into one
    (splits, rows, n + 1) tensor and a single batched `torch.linalg.lstsq` call fits
    them all.
    """
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds must hold at least one seed")
    splits = [train_test_indices(X.shape[0], test_fraction, seed=s) for s in seeds]
    train = torch.stack([t for t, _ in splits])  # (splits, rows)
    val = torch.stack([v for _, v in splits])
    A, target = design_matrix(X), y.detach().cpu().double()
    if (torch.linalg.matrix_rank(A[train]) < A.shape[1]).any():
        raise ValueError(
            "in some split the columns of X (with the intercept) are linearly "
            "dependent: the weights are not determined"
        )
    theta = torch.linalg.lstsq(A[train], target[train].unsqueeze(-1)).solution
    scores = []
    for rows in (train, val):
        residual = (A[rows] @ theta)[..., 0] - target[rows]  # (splits, rows)
        scores.append(residual.pow(2).mean(dim=1).sqrt())
    return scores[0], scores[1]


def paired_difference(
    scores_a: Sequence[float], scores_b: Sequence[float]
) -> tuple[float, float]:
    """Mean and standard error of the differences a - b, fold by fold.

    For two models scored on the same folds: the standard error is the sample standard
    deviation of the differences over the square root of their number.
    """
    if len(scores_a) != len(scores_b) or len(scores_a) < 2:
        raise ValueError(
            "need two equally long lists of at least 2 scores on the same folds, "
            f"got {len(scores_a)} and {len(scores_b)}"
        )
    d = torch.tensor(scores_a, dtype=torch.float64) - torch.tensor(
        scores_b, dtype=torch.float64
    )
    return d.mean().item(), (d.std() / len(d) ** 0.5).item()


def select_top_correlated(X: torch.Tensor, y: torch.Tensor, count: int) -> torch.Tensor:
    """Indices of the `count` columns of X most correlated with y.

    Correlations are compared in absolute value.
    """
    Xc, yc = X.double() - X.double().mean(dim=0), y.double() - y.double().mean()
    correlation = (Xc * yc[:, None]).sum(dim=0) / (Xc.norm(dim=0) * yc.norm() + 1e-12)
    return correlation.abs().argsort(descending=True)[:count]


def with_columns(columns: torch.Tensor) -> Fit:
    """A least-squares fit that uses only the given columns of X."""

    def fit(X: torch.Tensor, y: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        model = fit_least_squares(X[:, columns], y)
        return lambda X_new: model(X_new[:, columns])

    return fit


def with_feature_selection(count: int) -> Fit:
    """A fit that first picks the `count` best-correlated columns, then fits them.

    The columns are picked on its own training data.
    """

    def fit(X: torch.Tensor, y: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        return with_columns(select_top_correlated(X, y, count))(X, y)

    return fit


def pure_noise(
    m: int = 60, n: int = 1000, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and a target that are independent random numbers.

    No model can truly predict y.
    """
    generator = torch.Generator().manual_seed(seed)
    X = torch.randn(m, n, generator=generator, dtype=torch.float64)
    y = torch.randn(m, generator=generator, dtype=torch.float64)
    return X, y


def ridge_fitter(lam: float) -> Fit:
    """Ridge regression of strength `lam` (see `mlbook.regularisation.ridge`)."""

    def fit(X: torch.Tensor, y: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        w, b = ridge(X, y, lam)
        return lambda X_new: X_new.double() @ w + b

    return fit


def main(argv: Sequence[str] | None = None) -> int:
    """Choose among a baseline, least squares and ridge by cross-validation.

    On the diabetes data; only the chosen model is scored on the test set, once. Then
    show leakage on pure noise.
    """
    parser = cli.make_parser("python -m mlbook.evaluation", main.__doc__)
    parser.add_argument(
        "--folds",
        type=cli.positive_int,
        default=5,
        help="k for k-fold cross-validation (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    X_train, y_train, X_test, y_test, names = load_diabetes_split(seed=args.seed)
    print(f"diabetes: {len(y_train)} training and {len(y_test)} test patients")
    figures, cv_rmse, fits = {}, {}, {}
    candidates: dict[str, Fit] = {
        "mean baseline": fit_mean_baseline,
        "least squares": fit_least_squares,
    }
    for lam in (0.01, 0.03, 0.1, 0.3, 1.0, 3.0):
        candidates[f"ridge lambda={lam}"] = ridge_fitter(lam)
    for name, fit in candidates.items():
        # the scaler is fitted inside: on each fold's training rows
        fits[name] = with_standardizing(fit)
        folds = cross_validate(
            fits[name], X_train, y_train, k=args.folds, seed=args.seed
        )
        cv_rmse[name] = sum(folds) / len(folds)
        print(
            f"{name:18} {args.folds}-fold RMSE {cv_rmse[name]:6.2f} "
            f"(folds {min(folds):.1f} to {max(folds):.1f})"
        )
    # the test set is used once, for the model chosen by cross-validation
    chosen = min(cv_rmse, key=cv_rmse.get)
    model = fits[chosen](X_train, y_train)
    pred = model(X_test)
    figures["chosen_model_residuals"] = plotting.residual_plot(
        pred, y_test - pred, "disease progression"
    )
    print(
        f"chosen: {chosen}; test RMSE {rmse(y_test, pred):.1f}  "
        f"MAE {mae(y_test, pred):.1f}  R^2 {r2(y_test, pred):.2f}"
    )
    X, y = pure_noise(n=200 if args.dry_run else 1000, seed=args.seed)
    # chosen using ALL the data: the leak
    leaky_columns = select_top_correlated(X, y, 10)
    leaky = cross_validate(
        with_columns(leaky_columns), X, y, k=args.folds, seed=args.seed, score=r2
    )
    honest = cross_validate(
        with_feature_selection(10), X, y, k=args.folds, seed=args.seed, score=r2
    )
    print(
        f"pure noise, 10 of {X.shape[1]} features selected: cross-validated R^2 "
        f"{sum(leaky) / len(leaky):.2f} if selected on all data (leakage), "
        f"{sum(honest) / len(honest):.2f} if selected inside each fold"
    )
    for path in cli.save_figures(figures, args.out):
        print(f"saved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run(main))
