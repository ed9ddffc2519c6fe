"""Softmax regression: a linear model that predicts one of K classes.

The chapter "Softmax regression" shows and runs these functions: softmax and its
logarithm by the log-sum-exp trick, the cross-entropy loss and its gradient P - Y,
training on mini-batches from a DataLoader, accuracy and the confusion matrix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader, TensorDataset
from tqdm import tqdm

from mlbook import cli, plotting
from mlbook.data import load_digits_split
from mlbook.device import get_device


def _check_logits(Z: torch.Tensor) -> None:
    if not isinstance(Z, torch.Tensor) or Z.ndim != 2 or Z.shape[1] < 1:
        shape = tuple(Z.shape) if isinstance(Z, torch.Tensor) else type(Z).__name__
        raise ValueError(f"logits must be an (m, K) tensor, got {shape}")
    if Z.shape[0] == 0:
        raise ValueError("logits must hold at least one row, got an empty batch")


def _check_labels(y: torch.Tensor, m: int, K: int) -> None:
    if not isinstance(y, torch.Tensor) or y.dtype not in (torch.int32, torch.int64):
        kind = y.dtype if isinstance(y, torch.Tensor) else type(y).__name__
        raise ValueError(f"labels must be a tensor of whole numbers, got {kind}")
    if y.shape != (m,):
        raise ValueError(
            f"labels must have shape ({m},), one per row, got {tuple(y.shape)}"
        )
    if m and not 0 <= int(y.min()) <= int(y.max()) < K:
        raise ValueError(
            f"labels must lie in 0..{K - 1} (K = {K} classes), "
            f"got values from {int(y.min())} to {int(y.max())}"
        )


def _check_data(X: torch.Tensor, y: torch.Tensor, K: int) -> None:
    if not isinstance(X, torch.Tensor) or X.ndim != 2:
        raise ValueError("X must be an (m, n) tensor of features")
    if X.shape[0] == 0:
        raise ValueError("X must hold at least one example, got an empty batch")
    if not torch.isfinite(X).all():
        raise ValueError("X holds NaN or infinite values; expected finite features")
    _check_labels(y, X.shape[0], K)


def logsumexp(Z: torch.Tensor) -> torch.Tensor:
    """log(sum_k exp(Z[:, k])) for each row, without overflow: shape (m,)."""
    _check_logits(Z)
    M = Z.max(dim=1, keepdim=True).values  # (m, 1); exp(Z - M) <= 1 cannot overflow
    return M[:, 0] + torch.exp(Z - M).sum(dim=1).log()


def log_softmax(Z: torch.Tensor) -> torch.Tensor:
    """log of the softmax of each row of the logits Z (m, K)."""
    _check_logits(Z)
    # shifted so that each row's largest score is 0: exp cannot overflow, and the
    # shift is exact, so large logits lose no precision
    shifted = Z - Z.max(dim=1, keepdim=True).values
    return shifted - shifted.exp().sum(dim=1, keepdim=True).log()


def softmax(Z: torch.Tensor) -> torch.Tensor:
    """Each row of the logits Z (m, K) turned into probabilities that sum to 1."""
    _check_logits(Z)
    E = torch.exp(Z - Z.max(dim=1, keepdim=True).values)  # (m, K), largest 1 per row
    return E / E.sum(dim=1, keepdim=True)


def cross_entropy(Z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean of -log p(true class) over the rows of the logits Z (m, K)."""
    _check_logits(Z)
    _check_labels(y, Z.shape[0], Z.shape[1])
    rows = torch.arange(Z.shape[0], device=Z.device)
    return -log_softmax(Z)[rows, y].mean()


def one_hot(y: torch.Tensor, K: int) -> torch.Tensor:
    """The labels y (m,) as rows of an (m, K) matrix: 1 in the true class, else 0."""
    _check_labels(y, y.shape[0] if isinstance(y, torch.Tensor) else -1, K)
    return torch.nn.functional.one_hot(y.long(), K)


def gradients(
    X: torch.Tensor, y: torch.Tensor, W: torch.Tensor, b: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradient of cross_entropy(X W + b, y) with respect to W (n, K) and b (K,)."""
    _check_data(X, y, W.shape[1])
    m = X.shape[0]
    P = softmax(X @ W + b)  # (m, K)
    E = (P - one_hot(y, W.shape[1]).to(P.dtype)) / m  # the error in each probability
    return X.T @ E, E.sum(dim=0)


@dataclass
class TrainConfig:
    """Settings of `train`."""

    # the defaults are the chapter's digits model
    epochs: int = 10  # passes over the training data
    batch_size: int = 64  # examples per gradient step
    lr: float = 2.0  # learning rate
    lam: float = 0.0  # L2 strength: the loss is cross-entropy + lam * ||W||^2
    seed: int = 0  # for the order of the batches


@dataclass
class Fit:
    """A trained model: weights, intercepts, and the loss after each epoch."""

    W: torch.Tensor  # (n, K)
    b: torch.Tensor  # (K,)
    losses: list[float]  # training cross-entropy (without penalty) after each epoch


def train(
    X: torch.Tensor,
    y: torch.Tensor,
    K: int,
    config: TrainConfig | None = None,
    progress: bool = False,
) -> Fit:
    """Fit W and b by mini-batch gradient descent with the hand-written gradient."""
    _check_data(X, y, K)
    config = TrainConfig() if config is None else config
    if not (isinstance(config.batch_size, int) and config.batch_size >= 1):
        raise ValueError(f"batch_size must be a whole number above 0, got {config}")
    W = torch.zeros(X.shape[1], K, dtype=X.dtype, device=X.device)
    b = torch.zeros(K, dtype=X.dtype, device=X.device)
    loader = DataLoader(
        TensorDataset(X, y),
        batch_size=config.batch_size,
        shuffle=True,  # a new random order every epoch
        generator=torch.Generator().manual_seed(config.seed),
    )
    losses = []
    for _ in tqdm(range(config.epochs), disable=not progress, unit="epoch"):
        for X_batch, y_batch in loader:
            grad_W, grad_b = gradients(X_batch, y_batch, W, b)
            W -= config.lr * (grad_W + 2 * config.lam * W)  # the penalty's gradient
            b -= config.lr * grad_b
        losses.append(cross_entropy(X @ W + b, y).item())
    return Fit(W, b, losses)


def predict(X: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The most probable class of each row of X: shape (m,)."""
    return (X @ W + b).argmax(dim=1)


def accuracy(y: torch.Tensor, y_hat: torch.Tensor) -> float:
    """The share of predictions y_hat that equal the labels y."""
    if y.shape != y_hat.shape or y.numel() == 0:
        raise ValueError(
            f"y and y_hat must have one equal, non-empty shape, "
            f"got {tuple(y.shape)} and {tuple(y_hat.shape)}"
        )
    return (y == y_hat).double().mean().item()


def confusion_matrix(y: torch.Tensor, y_hat: torch.Tensor, K: int) -> torch.Tensor:
    """Counts (K, K): entry [i, j] is how many examples of class i were predicted j."""
    _check_labels(y, y.shape[0] if isinstance(y, torch.Tensor) else -1, K)
    _check_labels(y_hat, y.shape[0], K)
    # each pair (i, j) gets its own number i K + j; count how often each occurs
    return torch.bincount(y * K + y_hat, minlength=K * K).reshape(K, K)


def weight_images(W: torch.Tensor):
    """A figure of the ten digits' weights, W of shape (64, 10), as 8x8 images."""
    if W.shape != (64, 10):
        raise ValueError(f"expected weights of shape (64, 10), got {tuple(W.shape)}")
    fig = plotting.new_figure((8.0, 3.6))
    for k, ax in enumerate(fig.subplots(2, 5).flat):
        image = W[:, k].detach().cpu().reshape(8, 8).numpy()
        limit = abs(image).max().item()  # each image on its own symmetric scale
        ax.imshow(image, cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set(title=f"{k}", xticks=[], yticks=[])
    return fig


def main(argv: Sequence[str] | None = None) -> int:
    """Train softmax regression on the 8x8 digits and report its validation accuracy."""
    parser = cli.make_parser(
        "python -m mlbook.softmax_regression", main.__doc__, progress=True, device=True
    )
    defaults = TrainConfig()  # the chapter's settings
    parser.add_argument(
        "--epochs",
        type=cli.positive_int,
        default=defaults.epochs,
        help="passes over the training data (default: %(default)s)",
    )
    parser.add_argument(
        "--batch-size",
        type=cli.positive_int,
        default=defaults.batch_size,
        help="examples per step (default: %(default)s)",
    )
    parser.add_argument(
        "--lr",
        type=cli.positive_float,
        default=defaults.lr,
        help="learning rate (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    device = get_device(args.device)
    split = load_digits_split(seed=args.seed)
    (X, y), (X_val, y_val) = split["train"], split["validation"]
    if args.dry_run:
        X, y = X[:200], y[:200]
    X, y, X_val, y_val = X.to(device) / 16, y.to(device), X_val.to(device) / 16, y_val
    config = TrainConfig(
        epochs=2 if args.dry_run else args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
    )
    fit = train(X, y, 10, config, progress=not args.no_progress)
    y_hat = predict(X_val, fit.W.cpu(), fit.b.cpu())
    print(
        f"{X.shape[0]} training images on {device}, {config.epochs} epochs: "
        f"training loss {fit.losses[-1]:.3f}, "
        f"validation accuracy {accuracy(y_val, y_hat):.3f}"
    )
    print(confusion_matrix(y_val, y_hat, 10))
    fig = weight_images(fit.W.cpu())
    for path in cli.save_figures({"weights": fig}, args.out):
        print(f"saved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run(main))
