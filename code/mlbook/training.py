"""Training deep networks well: optimiser, schedules, regularisers, checkpoints, bugs.

The chapter "Training deep networks well" shows and runs these pieces on the 8x8
digits, building on the multilayer perceptron and its training loop.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from tqdm import tqdm

from mlbook import cli, plotting
from mlbook.data import load_digits_split
from mlbook.device import get_device
from mlbook.mlp import MLP, LossFn, evaluate


def adamw_step(w, g, u, q, t, lr, weight_decay, betas=(0.9, 0.999), eps=1e-8):
    """One AdamW update of w by hand; returns the new (w, u, q). t counts from 1."""
    beta1, beta2 = betas
    w = w * (1 - lr * weight_decay)  # decoupled: shrink w, apart from the gradient
    u = beta1 * u + (1 - beta1) * g  # fading average of the gradients
    q = beta2 * q + (1 - beta2) * g**2  # and of their squares
    u_hat, q_hat = u / (1 - beta1**t), q / (1 - beta2**t)  # undo the zero start
    return w - lr * u_hat / (q_hat.sqrt() + eps), u, q


def warmup_cosine(optimizer, warmup: int, total: int, min_lr: float = 0.0):
    """A linear warm-up over `warmup` steps, then a cosine decay to `min_lr`."""
    if not 0 < warmup < total:
        raise ValueError(f"need 0 < warmup < total, got warmup={warmup}, total={total}")
    sched = torch.optim.lr_scheduler
    ramp = sched.LambdaLR(optimizer, lambda step: (step + 1) / warmup)
    decay = sched.CosineAnnealingLR(optimizer, T_max=total - warmup, eta_min=min_lr)
    return sched.SequentialLR(optimizer, [ramp, decay], milestones=[warmup])


def warmup_cosine_lr(step: int, lr: float, warmup: int, total: int, min_lr=0.0):
    """The learning rate of `warmup_cosine` at `step`, from its formula."""
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = (step - warmup) / (total - warmup)
    return min_lr + (lr - min_lr) * (1 + math.cos(math.pi * progress)) / 2


def one_cycle_lr(
    step: int, max_lr: float, total: int, pct_start=0.3, div=25.0, final_div=1e4
):
    """OneCycleLR's learning rate at `step` (cosine up to max_lr, then down)."""
    start, low = max_lr / div, max_lr / div / final_div
    peak = pct_start * total - 1  # the step at which the rate is max_lr
    if step <= peak:
        a, b, progress = start, max_lr, step / peak
    else:
        a, b, progress = max_lr, low, (step - peak) / (total - 1 - peak)
    return b + (a - b) * (1 + math.cos(math.pi * progress)) / 2


def learning_rates(
    make_scheduler: Callable, steps: int, lr: float = 1.0
) -> list[float]:
    """The rate a scheduler sets at each of `steps` steps, on a dummy optimiser."""
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    scheduler = make_scheduler(optimizer)
    rates = []
    for _ in range(steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


def batch_norm(
    X, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5
):
    """Batch normalisation by hand; training also updates the running statistics."""
    if training:
        mean, var = X.mean(dim=0), X.var(dim=0, unbiased=False)  # this batch's
        with torch.no_grad():  # running averages for eval, with the unbiased variance
            running_mean.lerp_(mean, momentum)
            running_var.lerp_(X.var(dim=0, unbiased=True), momentum)
    else:
        mean, var = running_mean, running_var
    return gamma * (X - mean) / torch.sqrt(var + eps) + beta


def network(n_in, hidden: Sequence[int], n_out, dropout=0.0, batch_norm=False):
    """An MLP with optional batch normalisation and dropout after each hidden layer."""
    if not dropout and not batch_norm:
        return MLP(n_in, hidden, n_out)
    layers: list[nn.Module] = []
    for a, b in zip([n_in, *hidden], hidden, strict=False):
        layers += [nn.Linear(a, b), *([nn.BatchNorm1d(b)] if batch_norm else [])]
        layers += [nn.ReLU(), *([nn.Dropout(dropout)] if dropout else [])]
    return nn.Sequential(*layers, nn.Linear(hidden[-1], n_out))


@dataclass
class Config:
    """Settings of one training run."""

    hidden: tuple[int, ...] = (256, 256)
    epochs: int = 40
    batch_size: int = 64
    lr: float = 3e-3  # AdamW's peak learning rate
    weight_decay: float = 0.0  # AdamW's decoupled decay
    dropout: float = 0.0
    batch_norm: bool = False
    max_norm: float | None = None  # clip the gradient norm to this, if set
    warmup: int = 0  # epochs of warm-up before the cosine decay; 0: constant rate
    autocast: bool = False  # bfloat16 autocast for the forward pass
    seed: int = 0


@dataclass
class History:
    """Per-epoch curves of a run, and the weights of its best validation epoch."""

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)  # largest norm in each epoch
    best_epoch: int = -1
    best_state: dict | None = None


def train_epoch(
    model, loader, optimizer, scheduler=None, max_norm=None, dtype=None, device="cpu"
):
    """`mlp.train_epoch` with clipping, autocast and a per-step schedule.

    Returns the mean training loss and the largest gradient norm (before clipping).
    """
    model.train()
    total, count, largest = 0.0, 0, 0.0
    for X, y in loader:
        X, y = X.to(device), y.to(device)
        optimizer.zero_grad()
        with torch.autocast(
            torch.device(device).type, dtype, enabled=dtype is not None
        ):
            loss = F.cross_entropy(model(X), y)
        loss.backward()
        norm = nn.utils.clip_grad_norm_(model.parameters(), max_norm or math.inf)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        total, count = total + loss.item() * len(y), count + len(y)
        largest = max(largest, norm.item())
    return total / count, largest


def train_and_validate(
    model, train_data, val_data, config: Config, progress=False, device="cpu"
):
    """Train `model` with AdamW; keep the weights of the best validation epoch."""
    loader = loader_for(*train_data, config.batch_size, config.seed)
    val_batches = [tuple(val_data)]  # the whole validation set as one batch
    opt = torch.optim.AdamW(
        model.parameters(), config.lr, weight_decay=config.weight_decay
    )
    scheduler = None
    if config.warmup:
        steps = config.epochs * len(loader)
        scheduler = warmup_cosine(opt, config.warmup * len(loader), steps)
    dtype = torch.bfloat16 if config.autocast else None
    history = History()
    for epoch in tqdm(range(config.epochs), disable=not progress, unit="epoch"):
        loss, norm = train_epoch(
            model, loader, opt, scheduler, config.max_norm, dtype, device
        )
        val_loss, val_acc = evaluate(model, val_batches, F.cross_entropy, device)
        history.train_loss.append(loss)
        history.grad_norm.append(norm)
        history.val_loss.append(val_loss)
        history.val_acc.append(val_acc)
        if val_loss <= min(history.val_loss):  # early stopping keeps the best weights
            history.best_epoch = epoch
            history.best_state = copy.deepcopy(model.state_dict())
    return history


def loader_for(X, y, batch_size: int, seed: int) -> DataLoader:
    """Shuffled mini-batches whose order is set by `seed` alone."""
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        TensorDataset(X, y), batch_size, shuffle=True, generator=generator
    )


def save_checkpoint(path, model, optimizer, scheduler, epoch, loader) -> None:
    """Save everything a run needs to continue exactly: weights, states, RNGs, epoch."""
    torch.save(
        {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "epoch": epoch,
            "torch_rng": torch.get_rng_state(),  # dropout draws from it
            "loader_rng": loader.generator.get_state(),  # the order of the next epoch
        },
        path,
    )


def load_checkpoint(path, model, optimizer=None, scheduler=None, loader=None) -> int:
    """Restore a checkpoint of `save_checkpoint`; return the epoch it was saved at."""
    asked = {"optimizer": optimizer, "scheduler": scheduler, "loader_rng": loader}
    parts = [name for name, thing in asked.items() if thing is not None]
    checkpoint = _read_checkpoint(Path(path), parts)
    _check_architecture(model, checkpoint["model"], path)
    model.load_state_dict(checkpoint["model"])
    if optimizer is not None:
        optimizer.load_state_dict(checkpoint["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(checkpoint["scheduler"])
    if loader is not None:
        loader.generator.set_state(checkpoint["loader_rng"])
    torch.set_rng_state(checkpoint["torch_rng"])
    return checkpoint["epoch"]


def _read_checkpoint(path: Path, parts: list[str]) -> dict:
    """The checkpoint's dictionary, with the entries that loading `parts` needs."""
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist or is not a file")
    try:
        checkpoint = torch.load(path, weights_only=True)  # never unpickles code
    except Exception as err:  # torch.load fails in many ways on a foreign file
        raise ValueError(
            f"checkpoint {path} is not a readable torch.save file "
            f"(torch.load raised {type(err).__name__})"
        ) from None
    if not isinstance(checkpoint, dict):
        raise ValueError(
            f"checkpoint {path} holds an object of type {type(checkpoint).__name__}, "
            "expected the dictionary that save_checkpoint writes"
        )
    needed = ["model", "epoch", "torch_rng", *parts]
    missing = [name for name in needed if checkpoint.get(name) is None]
    if missing:
        raise ValueError(
            f"checkpoint {path} lacks the entries {missing}, "
            f"expected {needed} for what was asked to be restored"
        )
    if not isinstance(state := checkpoint["model"], dict):
        raise ValueError(
            f"checkpoint {path}: 'model' is of type {type(state).__name__}, "
            "expected a model's state_dict"
        )
    return checkpoint


def _check_architecture(model, saved: dict, path) -> None:
    ours = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    theirs = {name: tuple(t.shape) for name, t in saved.items()}
    problems = [f"{n} missing from the checkpoint" for n in ours.keys() - theirs.keys()]
    problems += [f"{n} not in the model" for n in theirs.keys() - ours.keys()]
    problems += [
        f"{n} has shape {theirs[n]} in the checkpoint, {ours[n]} in the model"
        for n in ours.keys() & theirs.keys()
        if ours[n] != theirs[n]
    ]
    if problems:
        shown = "; ".join(sorted(problems)[:3]) + ("; ..." if len(problems) > 3 else "")
        raise ValueError(f"checkpoint {path} is for a different architecture: {shown}")


def gradient_norms(model: nn.Module) -> dict[str, float]:
    """The norm of each weight matrix's gradient, by layer name."""
    return {
        name: p.grad.norm().item()
        for name, p in model.named_parameters()
        if p.grad is not None and p.ndim == 2
    }


def full_batch_steps(
    model,
    X,
    y,
    steps,
    lr,
    loss_fn: LossFn = F.cross_entropy,
    zero_grad=True,
    max_norm=None,
):
    """Plain gradient descent on all of (X, y); returns the loss before each step.

    The switches reproduce the debugging checklist's failures: a wrong `loss_fn`, a
    forgotten `zero_grad`, a too-large `lr`.
    """
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    losses = []
    model.train()
    for _ in range(steps):
        if zero_grad:
            optimizer.zero_grad()
        loss = loss_fn(model(X), y)
        loss.backward()
        if max_norm is not None:
            nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        optimizer.step()
        losses.append(loss.item())
    return losses


def softmax_then_cross_entropy(logits, y):
    """The classic wrong loss: CrossEntropyLoss applies a softmax of its own."""
    return F.cross_entropy(logits.softmax(dim=1), y)


def step_time(
    model, X, y, steps: int, dtype=None, compile=False, rounds: int = 5
) -> tuple[float, float]:
    """Seconds for the first step (compiling, if asked) and per later step: the best of
    `rounds` rounds of `steps` steps, the round least disturbed by other work."""
    for name, value in (("steps", steps), ("rounds", rounds)):
        if not (isinstance(value, int) and value >= 1):
            raise ValueError(f"{name} must be a whole number above 0, got {value!r}")
    optimizer = torch.optim.AdamW(model.parameters(), 1e-3)
    run = torch.compile(model) if compile else model

    def step():
        optimizer.zero_grad()
        with torch.autocast(X.device.type, dtype, enabled=dtype is not None):
            loss = F.cross_entropy(run(X), y)
        loss.backward()
        optimizer.step()

    start = time.perf_counter()
    step()
    first = time.perf_counter() - start
    per_step = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        per_step.append((time.perf_counter() - start) / steps)
    return first, min(per_step)


def main(argv: Sequence[str] | None = None) -> int:
    """Train an MLP on the digits with AdamW and warm-up; time autocast and compile."""
    parser = cli.make_parser(
        "python -m mlbook.training", main.__doc__, progress=True, device=True
    )
    parser.add_argument("--epochs", type=cli.positive_int, default=Config.epochs)
    parser.add_argument("--compile", action="store_true", help="time torch.compile too")
    args = parser.parse_args(argv)
    device = get_device(args.device)
    split = load_digits_split(seed=args.seed)
    (X, y), (X_val, y_val) = split["train"], split["validation"]
    if args.dry_run:
        X, y = X[:200], y[:200]
    X, X_val = X.to(device) / 16, X_val.to(device) / 16
    y, y_val = y.to(device), y_val.to(device)
    config = Config(epochs=2 if args.dry_run else args.epochs, warmup=1, seed=args.seed)
    torch.manual_seed(args.seed)
    model = network(64, config.hidden, 10).to(device)
    history = train_and_validate(
        model, (X, y), (X_val, y_val), config, not args.no_progress, device
    )
    print(
        f"{len(y)} images on {device}, {config.epochs} epochs: best validation epoch "
        f"{history.best_epoch + 1}, accuracy {history.val_acc[history.best_epoch]:.3f}"
    )
    steps = 2 if args.dry_run else 10  # per round; step_time keeps the best of 5
    modes = {"eager": {}, "bfloat16 autocast": {"dtype": torch.bfloat16}}
    if args.compile:
        modes["torch.compile"] = {"compile": True}
    for name, options in modes.items():
        torch.manual_seed(args.seed)
        timed = network(64, config.hidden, 10).to(device)
        try:
            first, per_step = step_time(timed, X, y, steps, **options)
        except Exception as error:  # compiling fails deep inside torch: say why
            if name != "torch.compile":
                raise
            lines = str(error).strip().splitlines()
            reason = lines[0] if lines else type(error).__name__
            needs = (
                "on a CPU, torch.compile needs a working C++ compiler (g++ or clang++ "
                "on PATH, or the CXX variable; on Windows, Visual Studio's cl.exe)"
                if device.type == "cpu"
                else f"torch.compile could not build code for {device}"
            )
            raise ValueError(
                f"--compile could not compile the model: {needs}. "
                f"PyTorch said: {reason}"
            ) from error
        print(
            f"{name}: first step {first:.3f} s, then {1e3 * per_step:.2f} ms per step"
        )
    fig = plotting.loss_curves(
        {
            "training": torch.tensor(history.train_loss),
            "validation": torch.tensor(history.val_loss),
        },
        ylabel="cross-entropy",
        xlabel="epoch",
    )
    for path in cli.save_figures({"losses": fig}, args.out):
        print(f"saved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run(main))
