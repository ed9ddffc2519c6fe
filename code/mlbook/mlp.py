"""Multilayer perceptrons: layers of linear maps with a nonlinearity between them.

The chapter "Multilayer perceptrons" shows and runs these pieces: an `nn.Module` with
hidden layers, and the device-agnostic training loop (one epoch of training, one pass
of evaluation) that later chapters reuse.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.utils.data import DataLoader

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


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
    loader: DataLoader,
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
    loader: DataLoader,
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
