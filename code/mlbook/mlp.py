"""Multilayer perceptrons: layers of linear maps with a nonlinearity between them.

The chapter "Multilayer perceptrons" shows and runs these pieces: an `nn.Module` with
hidden layers, and the device-agnostic training loop (one epoch of training, one pass
of evaluation) that later chapters reuse.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset, random_split
from tqdm import tqdm

from mlbook import cli, plotting
from mlbook.data import load_digits_split, read_numeric_columns
from mlbook.device import get_device

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
#: What the loops take: a DataLoader, or any iterable of (inputs, labels) batches.
Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]


class MLP(nn.Module):
    """Linear layers of the given widths, with `activation` between them (not after)."""

    def __init__(
        self,
        n_in: int,
        hidden: Sequence[int],
        n_out: int,
        activation: type[nn.Module] = nn.ReLU,
    ) -> None:
        super().__init__()
        widths = [n_in, *hidden, n_out]
        if any(not isinstance(w, int) or w < 1 for w in widths):
            raise ValueError(
                f"layer widths must be whole numbers above 0, got {widths}"
            )
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
            layers.append(nn.Linear(a, b))
            if i < len(widths) - 2:
                layers.append(activation())
        self.layers = nn.Sequential(*layers)
        self.n_in = n_in

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        if X.ndim != 2 or X.shape[1] != self.n_in:
            raise ValueError(
                f"expected inputs of shape (batch, {self.n_in}), got {tuple(X.shape)}"
            )
        return self.layers(X)  # (batch, n_out) logits


def train_epoch(
    model: nn.Module,
    loader: Batches,
    loss_fn: LossFn,
    optimizer: torch.optim.Optimizer,
    device: torch.device | str = "cpu",
) -> float:
    """Train for one pass over `loader`; return the mean training loss per example."""
    model.train()  # dropout and batch normalisation behave as in training
    total, count = 0.0, 0
    for X, y in loader:
        X, y = X.to(device), y.to(device)
        optimizer.zero_grad()
        loss = loss_fn(model(X), y)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(y)
        count += len(y)
    if count == 0:
        raise ValueError("the training loader gave no examples")
    return total / count


def evaluate(
    model: nn.Module,
    loader: Batches,
    loss_fn: LossFn,
    device: torch.device | str = "cpu",
) -> tuple[float, float]:
    """The mean loss and the accuracy of `model` over `loader`, without training."""
    model.eval()  # dropout off, batch normalisation uses its running statistics
    total, correct, count = 0.0, 0, 0
    with torch.inference_mode():  # no graph is recorded: faster, less memory
        for X, y in loader:
            X, y = X.to(device), y.to(device)
            logits = model(X)
            total += loss_fn(logits, y).item() * len(y)
            correct += (logits.argmax(dim=1) == y).sum().item()
            count += len(y)
    if count == 0:
        raise ValueError("the evaluation loader gave no examples")
    return total / count, correct / count


def _check_points(m: int, noise: float) -> None:
    if not isinstance(m, int) or m < 2 or m % 2:
        raise ValueError(f"m must be an even whole number of at least 2, got {m!r}")
    if not (isinstance(noise, (int, float)) and 0 <= noise < float("inf")):
        raise ValueError(f"noise must be a finite number of at least 0, got {noise!r}")


def make_rings(
    m: int = 400, noise: float = 0.15, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """m points in the plane: class 0 on a ring of radius 1, class 1 on one of radius 2.

    Half the points in each class; each point is moved by Gaussian noise of standard
    deviation `noise` in both coordinates. Returns X (m, 2) float32 and y (m,) int64.
    """
    _check_points(m, noise)
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(m) % 2  # 0, 1, 0, 1, ...: half of each
    angle = 2 * math.pi * torch.rand(m, generator=g)
    radius = 1.0 + y.float()  # class 0 at radius 1, class 1 at radius 2
    X = radius[:, None] * torch.stack([angle.cos(), angle.sin()], dim=1)  # (m, 2)
    return X + noise * torch.randn(m, 2, generator=g), y


def _header_and_rows(path: Path) -> tuple[list[str], int]:
    """The column names of a CSV file and its number of non-blank data rows."""
    if not path.exists():
        raise FileNotFoundError(f"data file {path} does not exist")
    if path.is_dir():
        raise ValueError(f"data file {path} is a folder, expected a CSV file")
    with path.open(newline="", encoding="utf-8") as handle:
        rows = [row for row in csv.reader(handle) if any(c.strip() for c in row)]
    if not rows:
        raise ValueError(f"data file {path} is empty, expected a CSV header")
    return [name.strip() for name in rows[0]], len(rows) - 1


class CSVDataset(Dataset):
    """The rows of a CSV file as (features, label) pairs: float32 (n,) and int64."""

    def __init__(
        self, path: str | Path, label: str, features: Sequence[str] | None = None
    ) -> None:
        path = Path(path)
        header, n_rows = _header_and_rows(path)
        if label not in header:
            raise ValueError(
                f"data file {path} has no label column {label!r}; "
                f"found {', '.join(header)}"
            )
        features = [c for c in header if c != label] if features is None else features
        # read_numeric_columns checks every row: field counts, numbers, NaN
        columns = read_numeric_columns(path, (*features, label))
        labels = columns.pop(label)
        if len(labels) != n_rows:  # it drops incomplete rows; a dataset should not
            raise ValueError(
                f"data file {path}: {n_rows - len(labels)} of {n_rows} rows "
                "have a missing value, expected every value present"
            )
        bad = (labels != labels.round()) | (labels < 0)
        if bad.any():
            raise ValueError(
                f"data file {path}: column {label!r} must hold whole numbers "
                f"from 0 up (class labels), found {labels[bad][0].item():g} "
                f"on line {int(bad.nonzero()[0]) + 2}"  # line 1 is the header
            )
        self.X = torch.stack([columns[c] for c in features], dim=1)  # (m, n)
        self.y = labels.long()
        self.features = list(features)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.X[i], self.y[i]


def split_loaders(
    dataset: Dataset,
    validation: float = 0.2,
    batch_size: int = 64,
    seed: int = 0,
) -> tuple[DataLoader, DataLoader]:
    """A seeded random split of `dataset` into a shuffled training loader and a
    validation loader in a fixed order."""
    if not 0 < validation < 1:
        raise ValueError(
            f"validation must be a share between 0 and 1, got {validation}"
        )
    train, val = random_split(
        dataset,
        [1 - validation, validation],
        generator=torch.Generator().manual_seed(seed),  # the same split every run
    )
    shuffled = DataLoader(
        train,
        batch_size=batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(seed),  # the same order every run
    )
    return shuffled, DataLoader(val, batch_size=batch_size)


def train_and_validate(
    model: nn.Module,
    train_loader: Batches,
    val_loader: Batches,
    epochs: int,
    lr: float = 1e-3,
    device: torch.device | str = "cpu",
    progress: bool = False,
) -> dict[str, list[float]]:
    """Train `model` with Adam and cross-entropy; its losses and accuracy per epoch."""
    if not (isinstance(epochs, int) and epochs >= 1):
        raise ValueError(f"epochs must be a whole number above 0, got {epochs!r}")
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.functional.cross_entropy
    history: dict[str, list[float]] = {"train": [], "validation": [], "accuracy": []}
    for _ in tqdm(range(epochs), disable=not progress, unit="epoch"):
        history["train"].append(
            train_epoch(model, train_loader, loss_fn, optimizer, device)
        )
        val_loss, val_accuracy = evaluate(model, val_loader, loss_fn, device)
        history["validation"].append(val_loss)
        history["accuracy"].append(val_accuracy)
    return history


INITS = ("default", "zeros", "xavier", "kaiming")


def initialise(model: nn.Module, scheme: str, gain: float = 1.0) -> nn.Module:
    """Re-draw the weights of every nn.Linear in `model` by `scheme`, times `gain`.

    "default" is PyTorch's own, "zeros" sets every weight and intercept to 0,
    "xavier" draws from N(0, 1 / n_in) and "kaiming" from N(0, 2 / n_in). The
    intercepts start at 0 except under "default".
    """
    if scheme not in INITS:
        raise ValueError(f"scheme must be one of {', '.join(INITS)}, got {scheme!r}")
    with torch.no_grad():  # setting weights is not part of any computation to learn
        for layer in model.modules():
            if not isinstance(layer, nn.Linear):
                continue
            n_in = layer.in_features
            if scheme == "default":
                layer.reset_parameters()
            elif scheme == "zeros":
                layer.weight.zero_()
            else:
                variance = (1.0 if scheme == "xavier" else 2.0) / n_in
                layer.weight.normal_(0.0, math.sqrt(variance))
            layer.weight.mul_(gain)
            if scheme != "default":
                layer.bias.zero_()
    return model


def activation_stds(model: MLP, X: torch.Tensor) -> list[float]:
    """The standard deviation of the activations after each hidden nonlinearity."""
    stds = []
    h = X
    with torch.inference_mode():
        for layer in model.layers:
            h = layer(h)
            if not isinstance(layer, nn.Linear):
                stds.append(h.std().item())
    return stds


#: Epochs `python -m mlbook.mlp` trains for unless told otherwise.
CLI_EPOCHS = 30


def main(argv: Sequence[str] | None = None) -> int:
    """Train a multilayer perceptron on the 8x8 digits; print its accuracy."""
    parser = cli.make_parser(
        "python -m mlbook.mlp", main.__doc__, progress=True, device=True
    )
    parser.add_argument(
        "--hidden",
        type=cli.positive_int,
        nargs="*",
        default=[64],
        help="widths of the hidden layers (default: %(default)s)",
    )
    parser.add_argument(
        "--epochs",
        type=cli.positive_int,
        default=CLI_EPOCHS,
        help="passes over the training data (default: %(default)s)",
    )
    parser.add_argument(
        "--lr",
        type=cli.positive_float,
        default=1e-2,
        help="Adam's learning rate (default: %(default)s)",
    )
    parser.add_argument(
        "--batch-size",
        type=cli.positive_int,
        default=64,
        help="examples per step (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    device = get_device(args.device)
    torch.manual_seed(args.seed)  # the initial weights
    split = load_digits_split(seed=args.seed)
    (X, y), (X_val, y_val) = split["train"], split["validation"]
    if args.dry_run:
        X, y = X[:200], y[:200]
    train_loader = DataLoader(
        TensorDataset(X / 16, y),
        batch_size=args.batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(args.seed),
    )
    val_loader = DataLoader(TensorDataset(X_val / 16, y_val), batch_size=512)
    model = MLP(64, args.hidden, 10)
    epochs = 2 if args.dry_run else args.epochs
    history = train_and_validate(
        model, train_loader, val_loader, epochs, args.lr, device, not args.no_progress
    )
    print(
        f"MLP 64-{'-'.join(map(str, args.hidden))}-10 on {device}, {len(y)} training "
        f"images, {epochs} epochs: training loss {history['train'][-1]:.3f}, "
        f"validation accuracy {history['accuracy'][-1]:.3f}"
    )
    fig = plotting.loss_curves(
        {name: torch.tensor(history[name]) for name in ("train", "validation")},
        ylabel="cross-entropy",
        xlabel="epoch",
        x=torch.arange(1, epochs + 1),
    )
    for path in cli.save_figures({"losses": fig}, args.out):
        print(f"saved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run(main))
