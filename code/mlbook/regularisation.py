"""Regularisation: penalise large weights to trade some training error for stability.

The chapter "Regularisation" shows and runs these functions: ridge regression (L2) in
closed form and as `weight_decay` in a PyTorch optimiser, the lasso (L1) by accelerated
proximal gradient descent (FISTA), which sets weights exactly to zero, the choice of
strength on validation data, and the split of a model's error into bias and variance,
both exactly and by simulation.

Every tensor the functions create follows the dtype and device of X, so they run on a
GPU as they do on the CPU.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from mlbook import cli, plotting
from mlbook.data import load_diabetes_split, train_test_indices
from mlbook.feature_scaling import Standardizer
from mlbook.linear_regression import mse
from mlbook.multivariable import check_Xy


def _check_strength(lam: float) -> None:
    if not (isinstance(lam, (int, float)) and lam >= 0):
        raise ValueError(
            f"the regularisation strength must be a number of at least 0, got {lam!r}"
        )


def _check(
    X: torch.Tensor, y: torch.Tensor, lam: float
) -> tuple[torch.Tensor, torch.Tensor]:
    check_Xy(X, y)
    _check_strength(lam)
    return X.detach(), y.detach().to(X.dtype)


def ridge(X: torch.Tensor, y: torch.Tensor, lam: float) -> tuple[torch.Tensor, float]:
    """Minimise (1/m) ||X w + b - y||^2 + lam ||w||^2 exactly.

    The intercept b is not penalised. Centring removes b; setting the gradient
    (2/m) Xc^T (Xc w - yc) + 2 lam w to zero gives
    (Xc^T Xc / m + lam I) w = Xc^T yc / m,
    solvable for any lam > 0 even when X^T X is singular.
    """
    X, y = _check(X, y, lam)
    x_mean, y_mean = X.mean(dim=0), y.mean()
    Xc, yc = X - x_mean, y - y_mean
    m, n = X.shape
    w = torch.linalg.solve(
        Xc.T @ Xc / m + lam * torch.eye(n, dtype=X.dtype, device=X.device),
        Xc.T @ yc / m,
    )
    return w, (y_mean - x_mean @ w).item()


def ridge_by_weight_decay(
    X: torch.Tensor,
    y: torch.Tensor,
    lam: float,
    lr: float = 0.1,
    steps: int = 2000,
    optimizer_class: type[torch.optim.Optimizer] = torch.optim.SGD,
) -> tuple[torch.Tensor, float]:
    """The same ridge model trained by an optimiser whose `weight_decay` acts on w only.

    The weight decay is 2 lam, the penalty's gradient. Any optimiser that adds it to the
    gradient (SGD, Adam) minimises the ridge loss; AdamW decays the weights outside the
    gradient and does not.
    """
    X, y = _check(X, y, lam)
    model = torch.nn.Linear(X.shape[1], 1, dtype=X.dtype, device=X.device)
    torch.nn.init.zeros_(model.weight)
    torch.nn.init.zeros_(model.bias)
    optimizer = optimizer_class(
        [
            # d/dw of lam ||w||^2 is 2 lam w
            {"params": [model.weight], "weight_decay": 2 * lam},
            # the intercept is not penalised
            {"params": [model.bias], "weight_decay": 0.0},
        ],
        lr=lr,
    )
    for _ in range(steps):
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(model(X).squeeze(1), y).backward()
        optimizer.step()
    return model.weight.detach()[0], model.bias.item()


def soft_threshold(v: torch.Tensor, tau: float) -> torch.Tensor:
    """Shrink every entry towards 0 by tau; set those within tau of 0 to exactly 0."""
    return torch.sign(v) * torch.clamp(v.abs() - tau, min=0.0)


def lasso(
    X: torch.Tensor,
    y: torch.Tensor,
    lam: float,
    steps: int = 2000,
    lr: float | None = None,
    start: torch.Tensor | None = None,
) -> tuple[torch.Tensor, float]:
    """Minimise (1/m) ||X w + b - y||^2 + lam ||w||_1 by accelerated proximal descent.

    Each step is a gradient step on the squared error, then `soft_threshold` by
    lr * lam for the penalty: the |w| term has no gradient at 0, and this step is what
    lands weights exactly on 0. FISTA (Beck and Teboulle, 2009) takes the gradient not
    at w but at a look-ahead point z, extrapolated past w along its last move by a
    factor (rho - 1) / rho_next that grows towards 1 (Nesterov's acceleration, not the
    heavy-ball momentum of the optimisation chapter). `start` (default: all zeros) lets
    a path of strengths begin each fit from the previous one.
    """
    X, y = _check(X, y, lam)
    x_mean, y_mean = X.mean(dim=0), y.mean()
    Xc, yc = X - x_mean, y - y_mean
    m = X.shape[0]
    # The gradient (2/m) Xc^T (Xc z - yc) is H z - c: make H and c once, not each step.
    H, c = 2.0 / m * Xc.T @ Xc, 2.0 / m * Xc.T @ yc  # (n, n), (n,)
    if lr is None:  # 1 / (largest curvature of the squared error): always stable
        lr = 1.0 / torch.linalg.eigvalsh(H).max().item()
    w = (
        torch.zeros(X.shape[1], dtype=X.dtype, device=X.device)
        if start is None
        else start.detach().to(dtype=X.dtype, device=X.device).clone()
    )
    z, rho = w, 1.0
    for _ in range(steps):
        w_next = soft_threshold(z - lr * (H @ z - c), lr * lam)
        rho_next = (1.0 + (1.0 + 4.0 * rho * rho) ** 0.5) / 2.0
        z = w_next + (rho - 1.0) / rho_next * (w_next - w)  # the look-ahead point
        w, rho = w_next, rho_next
    return w, (y_mean - x_mean @ w).item()


def lasso_path(
    X: torch.Tensor,
    y: torch.Tensor,
    strengths: Sequence[float],
    steps: int = 200,
    first_steps: int | None = None,
) -> torch.Tensor:
    """Lasso weights for each strength in increasing order: shape (k, n).

    Each fit is warm-started from the last. The first starts from zero, and so may
    need more steps than the others: `first_steps` (default: `steps`).
    """
    if list(strengths) != sorted(strengths):
        raise ValueError("strengths must be in increasing order for warm starts")
    first_steps = steps if first_steps is None else first_steps
    weights, w = [], None
    for k, lam in enumerate(strengths):
        w, _ = lasso(X, y, lam, steps=first_steps if k == 0 else steps, start=w)
        weights.append(w)
    return torch.stack(weights)


def validation_curve(
    fit: Callable[[torch.Tensor, torch.Tensor, float], tuple[torch.Tensor, float]],
    X_train,
    y_train,
    X_val,
    y_val,
    strengths: Sequence[float],
) -> dict[str, list[float]]:
    """Training and validation error of `fit` at each regularisation strength."""
    train_err, val_err = [], []
    for lam in strengths:
        w, b = fit(X_train, y_train, lam)
        train_err.append(mse(y_train, X_train.to(w) @ w + b))
        val_err.append(mse(y_val, X_val.to(w) @ w + b))
    return {"strength": list(strengths), "train": train_err, "validation": val_err}


def bias_variance(
    make_data: Callable[[int], tuple[torch.Tensor, torch.Tensor]],
    features: Callable[[torch.Tensor], torch.Tensor],
    truth: Callable[[torch.Tensor], torch.Tensor],
    grid: torch.Tensor,
    strengths: Sequence[float],
    data_sets: int = 200,
) -> dict[str, list[float]]:
    """Fit ridge on many independent training sets, and split its error at `grid`.

    The error splits into bias^2 and variance: for each strength, average over the grid
    of (mean prediction - truth)^2 (bias squared) and of the spread of the predictions
    across data sets (variance).
    """
    if data_sets < 2:
        raise ValueError(
            f"need at least 2 data sets to measure variance, got {data_sets}"
        )
    for lam in strengths:
        _check_strength(lam)
    samples = [make_data(seed) for seed in range(data_sets)]
    try:
        Phi = torch.stack([features(x) for x, _ in samples]).double()  # (sets, m, n)
        Y = torch.stack([y for _, y in samples]).double()  # (sets, m)
    except RuntimeError as error:
        raise ValueError(
            f"every data set must have the same shape to be stacked: {error}"
        ) from None
    # `ridge` on every data set at once: the same centring and the same linear system,
    # solved for a stack of (n, n) matrices in one call instead of one call per set.
    Phi_mean, y_mean = Phi.mean(dim=1, keepdim=True), Y.mean(dim=1, keepdim=True)
    Pc, yc = Phi - Phi_mean, (Y - y_mean)[..., None]  # (sets, m, n), (sets, m, 1)
    m, n = Phi.shape[1:]
    gram, rhs = Pc.mT @ Pc / m, Pc.mT @ yc / m
    Phi_grid = features(grid).double()  # (len(grid), n)
    target = truth(grid).double()
    result: dict[str, list[float]] = {
        "strength": list(strengths),
        "bias2": [],
        "variance": [],
    }
    for lam in strengths:
        eye = torch.eye(n, dtype=gram.dtype, device=gram.device)
        w = torch.linalg.solve(gram + lam * eye, rhs)
        b = y_mean - (Phi_mean @ w)[..., 0]  # (sets, 1)
        predictions = (Phi_grid @ w)[..., 0] + b  # (sets, len(grid))
        result["bias2"].append(((predictions.mean(dim=0) - target) ** 2).mean().item())
        result["variance"].append(predictions.var(dim=0, unbiased=False).mean().item())
    return result


def bias_variance_exact(
    x: torch.Tensor,
    features: Callable[[torch.Tensor], torch.Tensor],
    truth: Callable[[torch.Tensor], torch.Tensor],
    grid: torch.Tensor,
    strengths: Sequence[float],
    noise: float,
) -> dict[str, list[float]]:
    """Exact bias^2 and variance of ridge fitted at inputs x, averaged over `grid`.

    For data y = truth(x) + noise (independent, standard deviation `noise`) at fixed
    inputs x, the ridge predictions at the grid are a linear map of y: y_hat = P y.
    So their mean over data sets is P truth(x), and their variance at each grid point
    is noise^2 times the squared length of P's row. No simulation is needed.
    """
    if not noise >= 0:
        raise ValueError(
            f"noise must be a standard deviation of at least 0, got {noise}"
        )
    for lam in strengths:
        _check_strength(lam)
    Phi, Phi_grid = features(x), features(grid).to(features(x).dtype)  # (m, n), (g, n)
    m, n = Phi.shape
    Phi_mean = Phi.mean(dim=0)
    Pc = Phi - Phi_mean
    f_x, f_grid = truth(x).to(Phi), truth(grid).to(Phi)
    eye = torch.eye(n, dtype=Phi.dtype, device=Phi.device)
    result: dict[str, list[float]] = {
        "strength": list(strengths),
        "bias2": [],
        "variance": [],
    }
    for lam in strengths:
        # w = (Pc^T Pc / m + lam I)^-1 Pc^T y / m and b = mean(y) - Phi_mean w, so
        # y_hat(grid) = (Phi_grid - Phi_mean) w + mean(y) = P y:
        P = (Phi_grid - Phi_mean) @ torch.linalg.solve(Pc.T @ Pc / m + lam * eye, Pc.T)
        P = P / m + 1.0 / m  # (g, m)
        result["bias2"].append(((P @ f_x - f_grid) ** 2).mean().item())
        result["variance"].append((noise**2 * (P**2).sum(dim=1)).mean().item())
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Ridge and lasso on the diabetes data: weights and exact zeros.

    The strength is chosen on validation data.
    """
    parser = cli.make_parser("python -m mlbook.regularisation", main.__doc__)
    args = parser.parse_args(argv)
    # The returned test rows are the evaluation chapter's locked-away test set: left
    # alone here. Validation rows come from the development rows, as in that chapter.
    X_dev, y_dev, _, _, names = load_diabetes_split(seed=args.seed)
    fit_rows, val_rows = train_test_indices(X_dev.shape[0], 0.25, seed=args.seed + 1)
    X_train, y_train = X_dev[fit_rows], y_dev[fit_rows]
    X_val, y_val = X_dev[val_rows], y_dev[val_rows]
    scaler = Standardizer().fit(X_train)  # statistics of the training rows only
    X_train, X_val = scaler.transform(X_train), scaler.transform(X_val)
    strengths = (
        [0.0, 0.1, 1.0]
        if args.dry_run
        else [0.0, 0.01, 0.1, 1.0, 3.0, 10.0, 30.0, 100.0]
    )
    l2 = validation_curve(ridge, X_train, y_train, X_val, y_val, strengths)
    l1 = validation_curve(
        lambda X, y, lam: lasso(X, y, lam, steps=200 if args.dry_run else 2000),
        X_train,
        y_train,
        X_val,
        y_val,
        strengths,
    )
    print(
        f"diabetes: {len(y_train)} training and {len(y_val)} validation patients, "
        f"{len(names)} standardised features"
    )
    print(
        f"{'strength':>9} {'ridge val MSE':>14} "
        f"{'lasso val MSE':>14} {'lasso zeros':>12}"
    )
    for lam, r, s in zip(strengths, l2["validation"], l1["validation"], strict=True):
        w, _ = lasso(X_train, y_train, lam, steps=200 if args.dry_run else 2000)
        print(f"{lam:9.3g} {r:14.1f} {s:14.1f} {int((w == 0).sum()):12d}")
    figure = plotting.loss_curves(
        {
            "ridge": torch.tensor(l2["validation"]),
            "lasso": torch.tensor(l1["validation"]),
        },
        ylabel="validation MSE",
        xlabel="strength (position in the list)",
        log=False,
    )
    for path in cli.save_figures({"validation": figure}, args.out):
        print(f"saved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run(main))
