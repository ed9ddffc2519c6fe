"""Logistic regression: a probability for one of two classes, and how to judge it.

The chapter "Logistic regression" shows and runs these functions: the sigmoid, binary
cross-entropy in a numerically stable form and in the naive one that fails, its
gradient written by hand, gradient descent three ways (hand gradient, autograd,
torch.optim), and the metrics of a classifier: precision, recall, F1, the ROC curve,
its area and the calibration of the probabilities.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from tqdm import tqdm

from mlbook import cli, plotting
from mlbook.data import PENGUIN_SPECIES, load_penguins_by_species
from mlbook.device import get_device
from mlbook.feature_scaling import Standardizer


def _check_labels(y: torch.Tensor, m: int | None = None) -> None:
    if y.ndim != 1 or y.numel() == 0:
        raise ValueError(
            f"y must be a non-empty 1-D tensor, got shape {tuple(y.shape)}"
        )
    if m is not None and y.shape[0] != m:
        raise ValueError(f"X has {m} rows but y has {y.shape[0]} labels")
    values = set(torch.unique(y).tolist())
    if not values <= {0, 1}:
        raise ValueError(f"labels must be 0 or 1, got the values {sorted(values)}")
    if len(values) < 2:
        raise ValueError(f"both classes must be present, but every label is {values}")


def _check_Xy(X: torch.Tensor, y: torch.Tensor) -> None:
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(f"X must be a non-empty (m, n) matrix, got {tuple(X.shape)}")
    if not torch.isfinite(X).all():
        raise ValueError("X holds NaN or infinite values; drop or fill them first")
    _check_labels(y, X.shape[0])


def _check_scores(y: torch.Tensor, scores: torch.Tensor) -> None:
    _check_labels(y)
    if scores.shape != y.shape or not torch.isfinite(scores).all():
        raise ValueError(
            f"scores must be finite, one per label ({tuple(y.shape)}), "
            f"got shape {tuple(scores.shape)}"
        )


def sigmoid(z: torch.Tensor) -> torch.Tensor:
    """The logistic function 1 / (1 + exp(-z)), mapping any logit to (0, 1)."""
    return 1 / (1 + torch.exp(-z))


def naive_bce(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy computed as written: log of a sigmoid (unstable)."""
    p = sigmoid(z)
    return -(y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean()


def softplus(z: torch.Tensor) -> torch.Tensor:
    """log(1 + exp(z)) without overflow: max(z, 0) + log(1 + exp(-|z|))."""
    # logaddexp(0, z) = log(e^0 + e^z) takes the larger term out first, as the formula
    # does; written with relu (or clamp) and |z|, autograd gets the slope at z = 0
    # wrong (0, not 1/2), at the very start of training, where every logit is 0.
    return torch.logaddexp(torch.zeros_like(z), z)


def bce_with_logits(
    z: torch.Tensor, y: torch.Tensor, pos_weight: float = 1.0
) -> torch.Tensor:
    """Mean binary cross-entropy from logits z: softplus(z) - y z, never overflowing.

    `pos_weight` multiplies the loss of the positive examples, as in
    torch.nn.BCEWithLogitsLoss.
    """
    weight = 1 + (pos_weight - 1) * y  # pos_weight where y = 1, else 1
    return (weight * (softplus(z) - y * z)).mean()


def loss(X, y, w, b, lam: float = 0.0, pos_weight: float = 1.0) -> torch.Tensor:
    """Binary cross-entropy of the model sigmoid(X w + b) plus lam ||w||^2."""
    return bce_with_logits(X @ w + b, y, pos_weight) + lam * (w @ w)


def gradient(X, y, w, b, lam: float = 0.0, pos_weight: float = 1.0):
    """The hand-derived gradient of `loss`: X^T (p - y) / m + 2 lam w; mean(p - y)."""
    weight = 1 + (pos_weight - 1) * y
    r = weight * (sigmoid(X @ w + b) - y)  # (m,) weighted residuals p - y
    return X.T @ r / X.shape[0] + 2 * lam * w, r.mean()


@dataclass
class FitConfig:
    """Settings for gradient descent on the logistic loss."""

    lr: float = 2.0  # standardised features: the loss's curvature is at most ~1/2
    steps: int = 2000
    lam: float = 0.0  # L2 strength, lam ||w||^2; the intercept is not penalised
    pos_weight: float = 1.0  # weight of the positive examples' losses


def _start(X: torch.Tensor, y: torch.Tensor, config: FitConfig | None):
    """Check the inputs; return the settings and zero starting weights w, b."""
    _check_Xy(X, y)
    config = config or FitConfig()
    if not config.lr > 0 or config.steps < 1 or config.lam < 0:
        raise ValueError(f"expected lr > 0, steps >= 1 and lam >= 0, got {config}")
    zeros = torch.zeros(X.shape[1] + 1, dtype=X.dtype, device=X.device)
    return config, zeros[:-1].clone(), zeros[-1].clone()


def _steps(config: FitConfig, progress: bool, name: str):
    return tqdm(range(config.steps), desc=name, disable=not progress, leave=False)


def fit_by_hand(X, y, config: FitConfig | None = None, progress: bool = False):
    """Gradient descent with the hand-derived gradient; returns w, b."""
    config, w, b = _start(X, y, config)
    for _ in _steps(config, progress, "hand gradient"):
        grad_w, grad_b = gradient(X, y, w, b, config.lam, config.pos_weight)
        w, b = w - config.lr * grad_w, b - config.lr * grad_b
    return w, b


def fit_by_autograd(X, y, config: FitConfig | None = None, progress: bool = False):
    """Gradient descent with autograd's gradient; returns w, b."""
    config, w, b = _start(X, y, config)
    w, b = w.requires_grad_(), b.requires_grad_()
    for _ in _steps(config, progress, "autograd"):
        loss(X, y, w, b, config.lam, config.pos_weight).backward()
        with torch.no_grad():  # the update itself is not part of the model
            w -= config.lr * w.grad
            b -= config.lr * b.grad
        w.grad, b.grad = None, None
    return w.detach(), b.detach()


def fit_by_optim(X, y, config: FitConfig | None = None, progress: bool = False):
    """Gradient descent by torch.optim.SGD; returns w, b."""
    config, w, b = _start(X, y, config)
    w, b = w.requires_grad_(), b.requires_grad_()
    optimiser = torch.optim.SGD([w, b], lr=config.lr)
    for _ in _steps(config, progress, "torch.optim"):
        optimiser.zero_grad()
        loss(X, y, w, b, config.lam, config.pos_weight).backward()
        optimiser.step()
    return w.detach(), b.detach()


FIT_METHODS = {"hand": fit_by_hand, "autograd": fit_by_autograd, "optim": fit_by_optim}


def classification_scores(y: torch.Tensor, p: torch.Tensor, threshold: float = 0.5):
    """Accuracy, precision, recall and F1 of predicting 1 where p >= threshold."""
    _check_scores(y, p)
    predicted = p >= threshold
    actual = y == 1
    tp = (predicted & actual).sum().item()
    fp = (predicted & ~actual).sum().item()
    fn = (~predicted & actual).sum().item()
    precision = tp / (tp + fp) if tp + fp else 0.0  # no positive predictions: 0
    recall = tp / (tp + fn)
    f1 = 2 * tp / (2 * tp + fp + fn)  # the harmonic mean of the two
    accuracy = (predicted == actual).double().mean().item()
    return {"accuracy": accuracy, "precision": precision, "recall": recall, "f1": f1}


def roc_curve(y: torch.Tensor, scores: torch.Tensor):
    """False- and true-positive rates at every distinct threshold, highest first.

    Returns fpr, tpr, thresholds; the curve starts at (0, 0), threshold +inf.
    """
    _check_scores(y, scores)
    thresholds = torch.unique(scores).flip(0)  # (k,) descending
    above = scores[None, :] >= thresholds[:, None]  # (k, m)
    positive = y == 1
    tpr = (above & positive).sum(dim=1) / positive.sum()
    fpr = (above & ~positive).sum(dim=1) / (~positive).sum()
    start = torch.zeros(1, dtype=tpr.dtype)
    inf = torch.full((1,), float("inf"), dtype=thresholds.dtype)
    return (
        torch.cat([start, fpr]),
        torch.cat([start, tpr]),
        torch.cat([inf, thresholds]),
    )


def auc(fpr: torch.Tensor, tpr: torch.Tensor) -> float:
    """Area under a curve through the points (fpr, tpr), by the trapezoid rule."""
    return torch.trapezoid(tpr.double(), fpr.double()).item()


def rank_auc(y: torch.Tensor, scores: torch.Tensor) -> float:
    """The chance that a random positive scores above a random negative (ties: 1/2)."""
    _check_scores(y, scores)
    pos, neg = scores[y == 1], scores[y == 0]
    diff = pos[:, None] - neg[None, :]  # (positives, negatives)
    return ((diff > 0).double() + 0.5 * (diff == 0).double()).mean().item()


def calibration_bins(y: torch.Tensor, p: torch.Tensor, bins: int = 5):
    """Per equal-width bin of p: the fraction of positives and the mean p.

    Empty bins are left out, as in sklearn.calibration.calibration_curve; a p on an
    edge belongs to the lower bin. Returns fraction, mean_p, count.
    """
    _check_scores(y, p)
    if not isinstance(bins, int) or bins < 1 or p.min() < 0 or p.max() > 1:
        raise ValueError(f"expected bins >= 1 and p in [0, 1], got bins={bins!r}")
    edges = torch.linspace(0, 1, bins + 1, dtype=p.dtype)[1:-1]
    which = torch.bucketize(p, edges)  # (m,) bin of each p
    count = torch.bincount(which, minlength=bins)
    positives = torch.bincount(which, weights=y.to(p.dtype), minlength=bins)
    total_p = torch.bincount(which, weights=p, minlength=bins)
    kept = count > 0
    return positives[kept] / count[kept], total_p[kept] / count[kept], count[kept]


def load_two_species(
    other: str = "Chinstrap", columns=("bill_length_mm", "bill_depth_mm")
):
    """Adelie (label 0) and one other species (label 1): X (m, 2) float64 and y."""
    if other not in PENGUIN_SPECIES[1:]:
        raise ValueError(f"other must be Chinstrap or Gentoo, got {other!r}")
    data, species = load_penguins_by_species(columns)
    X = torch.stack([data[name] for name in columns], dim=1).double()  # (m, 2)
    keep = (species == 0) | (species == PENGUIN_SPECIES.index(other))
    return X[keep], (species[keep] != 0).double()


def main(argv: Sequence[str] | None = None) -> int:
    """Tell Adelie from Chinstrap penguins by their bills with logistic regression."""
    parser = cli.make_parser(
        "python -m mlbook.logistic_regression", main.__doc__, progress=True, device=True
    )
    parser.add_argument("--method", choices=sorted(FIT_METHODS), default="optim")
    parser.add_argument("--other", choices=PENGUIN_SPECIES[1:], default="Chinstrap")
    parser.add_argument(
        "--lam", type=float, default=0.01, help="L2 strength (default: %(default)s)"
    )
    parser.add_argument("--threshold", type=float, default=0.5)
    args = parser.parse_args(argv)
    if args.lam < 0 or not 0 < args.threshold < 1:
        parser.error("--lam must be >= 0 and --threshold between 0 and 1")
    device = get_device(args.device)
    X_raw, y = load_two_species(args.other)
    if device.type == "mps":  # MPS has no float64
        X_raw, y = X_raw.float(), y.float()
    X = Standardizer().fit_transform(X_raw).to(device)
    config = FitConfig(steps=20 if args.dry_run else 2000, lam=args.lam)
    w, b = FIT_METHODS[args.method](X, y.to(device), config, not args.no_progress)
    p = sigmoid(X @ w + b).cpu()
    print(f"{len(y)} penguins (Adelie = 0, {args.other} = 1), fitted on {device}")
    print(f"standardised weights {w.cpu().tolist()}, intercept {b.item():.4f}")
    for name, value in classification_scores(y, p, args.threshold).items():
        print(f"{name:>9} at threshold {args.threshold}: {value:.3f}")
    fpr, tpr, _ = roc_curve(y, p)
    print(f"ROC AUC (training data): {auc(fpr, tpr):.3f}")
    figure = plotting.new_figure((4.0, 4.0))
    ax = figure.add_subplot()
    ax.plot(fpr, tpr, drawstyle="steps-post")
    ax.set(xlabel="false-positive rate", ylabel="true-positive rate", title="ROC")
    for path in cli.save_figures({"roc": figure}, args.out):
        print(f"saved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run(main))
