"""Automatic differentiation from scratch: reverse mode on scalars, then on tensors.

The chapter "Automatic differentiation from scratch" shows and runs these: `Value`, a
scalar that records how it was computed; `topological_order` and `Value.backward`, the
chain rule applied in reverse; `Tensor`, the same idea with vector-Jacobian products;
and small training loops for a neuron and a two-layer network built on them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from numbers import Real

import torch
from tqdm import tqdm

from mlbook import cli, plotting
from mlbook.data import load_penguins_by_species
from mlbook.device import get_device


def _check_number(data: object) -> float:
    if isinstance(data, bool) or not isinstance(data, Real):
        raise ValueError(f"a Value holds a real number, got {type(data).__name__}")
    if not math.isfinite(data):
        raise ValueError(f"a Value holds a finite number, got {data}")
    return float(data)


def _check_power(base: float, k: object) -> None:
    if isinstance(k, bool) or not isinstance(k, Real):
        raise ValueError(f"the exponent must be a plain number, got {type(k).__name__}")
    if (base == 0 and k < 1) or (base < 0 and k != int(k)):
        raise ValueError(f"{base} ** {k} has no real value or no derivative")


def _as_value(other: Value | float) -> Value:
    return other if isinstance(other, Value) else Value(other)


class Value:
    """A scalar that remembers its parents and the local derivative towards each."""

    def __init__(self, data: float, parents=(), local_grads=(), op: str = ""):
        self.data = _check_number(data)
        self.grad = 0.0
        self.parents: tuple[Value, ...] = tuple(parents)
        self.local_grads: tuple[float, ...] = tuple(local_grads)  # d self / d parent
        self.op = op

    def __repr__(self) -> str:
        return f"Value(data={self.data:.4g}, grad={self.grad:.4g})"

    def __add__(self, other):
        other = _as_value(other)
        return Value(self.data + other.data, (self, other), (1.0, 1.0), "+")

    def __mul__(self, other):
        other = _as_value(other)
        return Value(
            self.data * other.data, (self, other), (other.data, self.data), "*"
        )

    def __pow__(self, k: float):
        _check_power(self.data, k)
        return Value(self.data**k, (self,), (k * self.data ** (k - 1),), f"**{k:g}")

    def exp(self):
        e = math.exp(self.data)
        return Value(e, (self,), (e,), "exp")

    def log(self):
        if self.data <= 0:
            raise ValueError(f"log needs a positive number, got {self.data}")
        return Value(math.log(self.data), (self,), (1 / self.data,), "log")

    def tanh(self):
        t = math.tanh(self.data)
        return Value(t, (self,), (1 - t * t,), "tanh")

    def relu(self):
        positive = self.data > 0
        return Value(self.data * positive, (self,), (float(positive),), "relu")

    # Everything else is built from the rules above.
    def __neg__(self):
        return self * -1.0

    def __sub__(self, other):
        return self + (-_as_value(other))

    def __truediv__(self, other):
        return self * _as_value(other) ** -1

    def __radd__(self, other):  # 1 + v: Python asks v after float.__add__ gives up
        return self + other

    def __rmul__(self, other):
        return self * other

    def __rsub__(self, other):
        return _as_value(other) - self

    def __rtruediv__(self, other):
        return _as_value(other) / self

    def backward(self) -> None:
        """Fill `.grad` of every value this one depends on with d self / d value."""
        order = topological_order(self)
        for node in order:
            if node.parents:
                node.grad = 0.0  # intermediate results start afresh on every call
        self.grad += 1.0
        for node in reversed(order):
            for parent, local in zip(node.parents, node.local_grads, strict=True):
                parent.grad += local * node.grad  # +=: a value used twice gets both


def topological_order(root: Value) -> list[Value]:
    """Every value `root` depends on, each after all of its parents (depth first)."""
    order, seen = [], set()

    def visit(node: Value) -> None:
        if node not in seen:
            seen.add(node)
            for parent in node.parents:
                visit(parent)
            order.append(node)  # only once all of its parents are in

    visit(root)
    return order


def _unbroadcast(grad: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Sum `grad` over the dimensions that broadcasting added or stretched."""
    while grad.ndim > len(shape):
        grad = grad.sum(dim=0)
    for dim, size in enumerate(shape):
        if size == 1 and grad.shape[dim] != 1:
            grad = grad.sum(dim=dim, keepdim=True)
    return grad


def _check_tensor(data: object) -> None:
    if not isinstance(data, torch.Tensor):
        raise ValueError(
            f"a Tensor wraps a floating-point torch tensor, got {type(data).__name__}"
        )
    if not data.is_floating_point():
        raise ValueError(
            f"a Tensor wraps a floating-point torch tensor, got dtype {data.dtype}"
        )


class Tensor:
    """A torch tensor that remembers its parents and a vector-Jacobian product each."""

    def __init__(self, data: torch.Tensor, parents=(), vjps=(), op: str = ""):
        _check_tensor(data)
        self.data = data.detach()
        self.grad: torch.Tensor | None = None
        self.parents: tuple[Tensor, ...] = tuple(parents)
        # vjp(g) turns g = dL/d self into this parent's share of dL/d parent.
        self.vjps: tuple[Callable[[torch.Tensor], torch.Tensor], ...] = tuple(vjps)
        self.op = op

    def __add__(self, other: Tensor) -> Tensor:
        a, b = self.data, other.data
        return Tensor(
            a + b,
            (self, other),
            (lambda g: _unbroadcast(g, a.shape), lambda g: _unbroadcast(g, b.shape)),
            "+",
        )

    def __mul__(self, other: Tensor) -> Tensor:
        a, b = self.data, other.data
        return Tensor(
            a * b,
            (self, other),
            (
                lambda g: _unbroadcast(g * b, a.shape),
                lambda g: _unbroadcast(g * a, b.shape),
            ),
            "*",
        )

    def __matmul__(self, other: Tensor) -> Tensor:
        A, B = self.data, other.data
        if A.ndim != 2 or B.ndim != 2 or A.shape[1] != B.shape[0]:
            raise ValueError(
                f"matmul needs (m, n) @ (n, k), got {tuple(A.shape)} @ {tuple(B.shape)}"
            )
        return Tensor(A @ B, (self, other), (lambda G: G @ B.T, lambda G: A.T @ G), "@")

    def relu(self) -> Tensor:
        mask = (self.data > 0).to(self.data.dtype)
        return Tensor(self.data * mask, (self,), (lambda g: g * mask,), "relu")

    def tanh(self) -> Tensor:
        t = torch.tanh(self.data)
        return Tensor(t, (self,), (lambda g: g * (1 - t * t),), "tanh")

    def sum(self) -> Tensor:
        shape = self.data.shape
        return Tensor(self.data.sum(), (self,), (lambda g: g.expand(shape),), "sum")

    def mean(self) -> Tensor:
        n, shape = self.data.numel(), self.data.shape
        return Tensor(
            self.data.mean(), (self,), (lambda g: g.expand(shape) / n,), "mean"
        )

    def cross_entropy(self, y: torch.Tensor) -> Tensor:
        """Mean cross-entropy of these (m, K) logits against the labels y (m,)."""
        Z = self.data
        if Z.ndim != 2 or y.shape != (Z.shape[0],):
            raise ValueError(
                f"cross_entropy needs (m, K) logits and (m,) labels, "
                f"got {tuple(Z.shape)} and {tuple(y.shape)}"
            )
        log_p = Z - torch.logsumexp(Z, dim=1, keepdim=True)  # log-softmax, stable
        Y = torch.nn.functional.one_hot(y, Z.shape[1]).to(Z.dtype)
        loss = -(log_p * Y).sum() / len(y)
        return Tensor(loss, (self,), (lambda g: g * (log_p.exp() - Y) / len(y),), "CE")

    def backward(self, grad: torch.Tensor | None = None) -> None:
        """Fill `.grad` of every tensor this one depends on, seeded with `grad`."""
        if grad is None:
            if self.data.numel() != 1:
                raise ValueError(
                    f"backward() without a seed needs a scalar, got shape "
                    f"{tuple(self.data.shape)}; pass grad= of that shape"
                )
            grad = torch.ones_like(self.data)
        if grad.shape != self.data.shape:
            raise ValueError(
                f"the seed must have shape {tuple(self.data.shape)}, "
                f"got {tuple(grad.shape)}"
            )
        order = topological_order(self)
        for node in order:
            if node.parents:
                node.grad = None  # as in Value.backward: only the leaves accumulate
        self.grad = grad if self.grad is None else self.grad + grad
        for node in reversed(order):
            for parent, vjp in zip(node.parents, node.vjps, strict=True):
                share = vjp(node.grad)
                parent.grad = share if parent.grad is None else parent.grad + share


def train_neuron(
    X: torch.Tensor, y: torch.Tensor, steps: int = 20, lr: float = 0.5
) -> tuple[list[Value], list[float]]:
    """Logistic regression on scalar Values by gradient descent: ([w..., b], losses)."""
    m, n = X.shape
    rows, labels = X.tolist(), y.tolist()
    params = [Value(0.0) for _ in range(n + 1)]  # w_1..w_n, then b
    losses = []
    for _ in range(steps):
        loss = Value(0.0)
        for x, label in zip(rows, labels, strict=True):
            z = sum((w * xj for w, xj in zip(params, x, strict=False)), params[-1])
            loss = loss + ((z.exp() + 1).log() - label * z)  # BCE from the logit
        loss = loss / m
        for p in params:
            p.grad = 0.0  # a fresh graph, but the leaves are reused: reset them
        loss.backward()
        for p in params:
            p.data -= lr * p.grad
        losses.append(loss.data)
    return params, losses


def load_penguin_features() -> tuple[torch.Tensor, torch.Tensor]:
    """Standardised bill length and depth (m, 2) and the species codes (m,)."""
    columns = ("bill_length_mm", "bill_depth_mm")
    data, species = load_penguins_by_species(columns)
    X = torch.stack([data[c] for c in columns], dim=1).double()  # (m, 2)
    return (X - X.mean(dim=0)) / X.std(dim=0), species


def init_mlp(n: int, hidden: int, K: int, seed: int = 0, dtype=torch.float64):
    """Random weights [W1, b1, W2, b2] of an n -> hidden -> K network."""
    g = torch.Generator().manual_seed(seed)
    W1 = torch.randn(n, hidden, generator=g, dtype=dtype) / math.sqrt(n)
    W2 = torch.randn(hidden, K, generator=g, dtype=dtype) / math.sqrt(hidden)
    return [W1, torch.zeros(hidden, dtype=dtype), W2, torch.zeros(K, dtype=dtype)]


def mlp_loss(params: Sequence[Tensor], X: Tensor, y: torch.Tensor) -> Tensor:
    """Cross-entropy of the network tanh(X W1 + b1) W2 + b2 on the labels y."""
    W1, b1, W2, b2 = params
    return ((X @ W1 + b1).tanh() @ W2 + b2).cross_entropy(y)


def train_mlp(
    X: torch.Tensor,
    y: torch.Tensor,
    params: Sequence[torch.Tensor],
    steps: int = 100,
    lr: float = 0.5,
    progress: bool = False,
) -> tuple[list[torch.Tensor], list[float]]:
    """Full-batch gradient descent with our Tensor engine: (final params, losses)."""
    params = [p.clone() for p in params]
    losses = []
    for _ in tqdm(range(steps), desc="our engine", unit="step", disable=not progress):
        leaves = [Tensor(p) for p in params]  # the graph is rebuilt every step
        loss = mlp_loss(leaves, Tensor(X), y)
        loss.backward()
        params = [p - lr * leaf.grad for p, leaf in zip(params, leaves, strict=True)]
        losses.append(loss.data.item())
    return params, losses


def draw_graph(root: Value, names: dict[Value, str]):
    """The graph behind `root`, leaves on the left, each node with its data and grad."""
    order = topological_order(root)
    depth: dict[Value, int] = {}
    for node in order:
        depth[node] = 1 + max((depth[p] for p in node.parents), default=-1)
    rows: dict[int, int] = {}
    place = {}
    for node in order:
        place[node] = (depth[node], rows.get(depth[node], 0))
        rows[depth[node]] = place[node][1] + 1
    fig = plotting.new_figure((8.0, 1.1 * max(rows.values()) + 1.2))
    ax = fig.add_subplot()
    boxes = {}
    for node in order:
        label = names.get(node, node.op)
        boxes[node] = ax.text(
            *place[node],
            f"{label}\ndata {node.data:.3g}\ngrad {node.grad:.3g}",
            ha="center",
            va="center",
            fontsize=9,
            bbox={"boxstyle": "round", "fc": "#dde8f6" if not node.parents else "w"},
        )
    for node in order:
        for parent in node.parents:
            skip = depth[node] - depth[parent] > 1  # curve around the boxes between
            ax.annotate(
                "",
                place[node],
                place[parent],
                arrowprops={
                    "arrowstyle": "-|>",
                    "patchA": boxes[parent],
                    "patchB": boxes[node],
                    "connectionstyle": f"arc3,rad={-0.35 if skip else 0}",
                    "color": "0.3",
                },
            )
    ax.set_xlim(-0.6, max(rows) + 0.6)
    ax.set_ylim(-0.6, max(rows.values()) - 0.4)
    ax.invert_yaxis()
    ax.set_xlabel("depth: operations from the inputs")
    ax.set_xticks(range(max(rows) + 1))
    ax.set_yticks([])
    return fig


def main(argv: Sequence[str] | None = None) -> int:
    """Train the chapter's two-layer network on three penguin species with our engine.

    The Tensor engine runs on --device; the scalar Value engine is plain Python floats,
    so it always runs on the CPU.
    """
    parser = cli.make_parser(
        "python -m mlbook.autodiff", main.__doc__, progress=True, device=True
    )
    parser.add_argument(
        "--steps",
        type=cli.positive_int,
        default=100,
        help="gradient-descent steps (default: %(default)s)",
    )
    parser.add_argument(
        "--lr",
        type=cli.positive_float,
        default=0.5,
        help="learning rate (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    device = get_device(args.device)
    dtype = torch.float32 if device.type == "mps" else torch.float64
    X, y = load_penguin_features()
    steps = 5 if args.dry_run else args.steps
    params = [p.to(device) for p in init_mlp(2, 8, 3, seed=args.seed, dtype=dtype)]
    _, losses = train_mlp(
        X.to(device, dtype), y.to(device), params, steps, args.lr, not args.no_progress
    )
    print(
        f"{len(y)} penguins on {device}, {steps} steps: "
        f"loss {losses[0]:.3f} -> {losses[-1]:.3f}"
    )
    a, b = Value(2.0), Value(-0.5)  # the chapter's first example (its first figure)
    f = (a * b + a).tanh()
    f.backward()
    figures = {
        "graph": draw_graph(f, {a: "a", b: "b"}),
        "loss": plotting.loss_curves(
            {"our engine": torch.tensor(losses)}, "cross-entropy", log=False
        ),
    }
    for path in cli.save_figures(figures, args.out):
        print(f"saved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run(main))
