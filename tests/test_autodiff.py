"""Tests for mlbook.autodiff: the scalar engine against torch.autograd on 200 random
expressions, the accumulation of a value used twice, the tensor engine (broadcasting,
matmul, cross-entropy) against autograd and finite differences, both training loops
against the same loops run by torch, the input checks and the command line."""

import math
import random
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from mlbook.autodiff import (
    Tensor,
    Value,
    init_mlp,
    load_penguin_features,
    mlp_loss,
    topological_order,
    train_mlp,
    train_neuron,
)

# Operations that work unchanged on a Value and on a torch tensor, kept in ranges where
# every one is defined and differentiable (log of a positive number, no overflow).
BINARY = [
    lambda a, b: a + b,
    lambda a, b: a * b,
    lambda a, b: a - b,
    lambda a, b: a / (b * b + 1),
    lambda a, b: 2.5 * a + b,
    lambda a, b: 1 - a * b,
    lambda a, b: 3 / (a * a + 1) - b,
]
UNARY = [
    lambda a: a.tanh(),
    lambda a: (a.tanh()).exp(),
    lambda a: (a * a + 0.5).log(),
    lambda a: a.relu(),
    lambda a: a**2,
    lambda a: a**3 / 10,
    lambda a: (a * a + 1) ** 0.5,
    lambda a: -a,
    lambda a: a + 1,
]


def random_expression(seed: int, n_leaves: int = 3, n_ops: int = 8):
    """A recipe for a random expression: a list of (kind, op index, operand indices)."""
    rng = random.Random(seed)
    recipe, count = [], n_leaves
    for _ in range(n_ops):
        if rng.random() < 0.5:
            recipe.append(("u", rng.randrange(len(UNARY)), (rng.randrange(count),)))
        else:
            pair = (rng.randrange(count), rng.randrange(count))  # may repeat: x * x
            recipe.append(("b", rng.randrange(len(BINARY)), pair))
        count += 1
    return recipe


def evaluate(recipe, leaves):
    nodes = list(leaves)
    for kind, op, args in recipe:
        table = UNARY if kind == "u" else BINARY
        nodes.append(table[op](*(nodes[i] for i in args)))
    # Sum the last three nodes so that the output depends on several branches.
    return nodes[-1] + nodes[-2] + nodes[-3]


@pytest.mark.parametrize("seed", range(200))
def test_random_expressions_match_autograd(seed):
    recipe = random_expression(seed)
    rng = random.Random(1000 + seed)
    inputs = [rng.uniform(-2, 2) for _ in range(3)]
    ours = [Value(x) for x in inputs]
    out = evaluate(recipe, ours)
    out.backward()
    theirs = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in inputs]
    ref = evaluate(recipe, theirs)
    ref.backward()
    assert math.isclose(out.data, ref.item(), rel_tol=1e-12, abs_tol=1e-12)
    for v, t in zip(ours, theirs, strict=True):
        expected = 0.0 if t.grad is None else t.grad.item()
        assert math.isclose(v.grad, expected, rel_tol=1e-10, abs_tol=1e-12)


def test_a_value_used_twice_accumulates_its_gradient():
    x = Value(3.0)
    y = x * x
    y.backward()
    assert x.grad == 6.0  # both uses of x contribute 3: overwriting would give 3
    a = Value(2.0)
    shared = a * 3
    z = shared * shared + shared
    z.backward()
    assert a.grad == (2 * shared.data + 1) * 3


def test_a_second_backward_adds_to_the_leaves_as_torch_does():
    x = Value(1.5)
    y = (x * x).tanh() + x
    y.backward()
    y.backward()
    t = torch.tensor(1.5, dtype=torch.float64, requires_grad=True)
    ref = (t * t).tanh() + t
    ref.backward(retain_graph=True)
    ref.backward()
    assert math.isclose(x.grad, t.grad.item(), rel_tol=1e-12)
    X = Tensor(torch.ones(2, 2, dtype=torch.float64))
    out = (X * X).sum()
    out.backward()
    out.backward()
    torch.testing.assert_close(X.grad, torch.full((2, 2), 4.0, dtype=torch.float64))


def test_topological_order_puts_every_node_after_its_parents():
    a, b = Value(1.0), Value(2.0)
    c = a * b
    d = c + a
    e = d.tanh() * c
    order = topological_order(e)
    assert len(order) == len(set(order)) == 6  # a, b, c, d, tanh(d), e
    for node in order:
        assert all(order.index(p) < order.index(node) for p in node.parents)


def test_reflected_operations():
    v = Value(4.0)
    assert (2 * v).data == 8.0 and (v + 1).data == 5.0 and (1 + v).data == 5.0
    assert (10 - v).data == 6.0 and (1 / v).data == 0.25 and (v / 2).data == 2.0


@pytest.mark.parametrize(
    "bad, match",
    [("3", "real number, got str"), (None, "NoneType"), (True, "bool"), (math.nan, "finite")],
)
def test_a_value_holds_a_finite_number(bad, match):
    with pytest.raises(ValueError, match=match):
        Value(bad)


def test_log_of_a_non_positive_number_and_bad_powers_are_refused():
    with pytest.raises(ValueError, match="positive number, got 0.0"):
        Value(0.0).log()
    with pytest.raises(ValueError, match="positive number, got -1.0"):
        Value(-1.0).log()
    with pytest.raises(ValueError, match="exponent must be a plain number"):
        Value(2.0) ** Value(2.0)
    with pytest.raises(ValueError, match="no real value"):
        Value(-2.0) ** 0.5
    with pytest.raises(ValueError, match="no real value"):
        1 / Value(0.0)


def torch_leaf(shape, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64)


@pytest.mark.parametrize(
    "shape_a, shape_b",
    [((4, 3), (4, 3)), ((4, 3), (3,)), ((4, 3), (1, 3)), ((4, 3), (4, 1)), ((4, 1), (1, 3))],
)
def test_broadcast_add_and_mul_sum_the_gradient_over_stretched_dimensions(shape_a, shape_b):
    a, b = torch_leaf(shape_a, 0), torch_leaf(shape_b, 1)
    ours_a, ours_b = Tensor(a), Tensor(b)
    out = ((ours_a + ours_b) * ours_b).tanh().sum()
    out.backward()
    ta, tb = a.clone().requires_grad_(), b.clone().requires_grad_()
    ref = ((ta + tb) * tb).tanh().sum()
    ref.backward()
    torch.testing.assert_close(out.data, ref.detach())
    torch.testing.assert_close(ours_a.grad, ta.grad)
    torch.testing.assert_close(ours_b.grad, tb.grad)
    assert ours_b.grad.shape == b.shape


def test_matmul_relu_mean_and_cross_entropy_match_autograd():
    X, W = torch_leaf((6, 4), 2), torch_leaf((4, 3), 3)
    y = torch.tensor([0, 2, 1, 1, 0, 2])
    ours_X, ours_W = Tensor(X), Tensor(W)
    loss = (ours_X @ ours_W).relu().cross_entropy(y)
    extra = (ours_X @ ours_W).mean()
    loss.backward()
    tX, tW = X.clone().requires_grad_(), W.clone().requires_grad_()
    ref = F.cross_entropy((tX @ tW).relu(), y)
    ref.backward()
    torch.testing.assert_close(loss.data, ref.detach())
    torch.testing.assert_close(ours_W.grad, tW.grad)
    torch.testing.assert_close(ours_X.grad, tX.grad)
    extra.backward()  # a second backward adds to the leaves' gradients, as torch's
    (tX @ tW).mean().backward()
    torch.testing.assert_close(ours_W.grad, tW.grad)


def test_a_seeded_backward_is_a_vector_jacobian_product():
    X, W = torch_leaf((5, 4), 4), torch_leaf((4, 2), 5)
    seed = torch_leaf((5, 2), 6)
    ours = Tensor(W)
    (Tensor(X) @ ours).tanh().backward(seed)
    jacobian = torch.autograd.functional.jacobian(lambda w: (X @ w).tanh(), W)  # (5,2,4,2)
    torch.testing.assert_close(ours.grad, torch.einsum("ij,ijkl->kl", seed, jacobian))


def test_the_tensor_engine_agrees_with_finite_differences():
    params = init_mlp(2, 5, 3, seed=1)
    X, y = torch_leaf((7, 2), 7), torch.tensor([0, 1, 2, 0, 1, 2, 0])
    leaves = [Tensor(p) for p in params]
    mlp_loss(leaves, Tensor(X), y).backward()
    h = 1e-6
    for leaf, p in zip(leaves, params, strict=True):
        for i in range(p.numel()):
            up, down = p.clone(), p.clone()
            up.view(-1)[i] += h
            down.view(-1)[i] -= h

            def loss_with(q, p=p):
                swapped = [Tensor(q if r is p else r) for r in params]
                return mlp_loss(swapped, Tensor(X), y).data.item()

            estimate = (loss_with(up) - loss_with(down)) / (2 * h)
            assert math.isclose(leaf.grad.view(-1)[i].item(), estimate, abs_tol=1e-8)


def test_bad_tensor_inputs_are_refused():
    with pytest.raises(ValueError, match=r"matmul needs \(m, n\) @ \(n, k\), got \(2, 3\) @ \(2, 3\)"):
        Tensor(torch.ones(2, 3)) @ Tensor(torch.ones(2, 3))
    with pytest.raises(ValueError, match=r"without a seed needs a scalar, got shape \(2, 3\)"):
        Tensor(torch.ones(2, 3)).tanh().backward()
    with pytest.raises(ValueError, match=r"seed must have shape \(2, 3\), got \(3,\)"):
        Tensor(torch.ones(2, 3)).tanh().backward(torch.ones(3))
    with pytest.raises(ValueError, match="floating-point torch tensor"):
        Tensor(torch.ones(2, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"\(m, K\) logits and \(m,\) labels"):
        Tensor(torch.ones(2, 3)).cross_entropy(torch.tensor([0, 1, 2]))


def test_the_neuron_trains_as_torch_autograd_does():
    X, y = load_penguin_features()
    X, y = X[::20], (y[::20] == 0).double()  # a small subset: Adelie or not
    params, losses = train_neuron(X, y, steps=15, lr=0.5)
    w = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    expected = []
    for _ in range(15):
        loss = F.binary_cross_entropy_with_logits(X @ w[:2] + w[2], y)
        w.grad = None
        loss.backward()
        with torch.no_grad():
            w -= 0.5 * w.grad
        expected.append(loss.item())
    torch.testing.assert_close(torch.tensor(losses, dtype=torch.float64), torch.tensor(expected, dtype=torch.float64))
    torch.testing.assert_close(torch.tensor([p.data for p in params], dtype=torch.float64), w.detach())
    assert losses[-1] < losses[0]


def test_the_network_trains_as_torch_autograd_does():
    X, y = load_penguin_features()
    start = init_mlp(2, 8, 3, seed=0)
    params, losses = train_mlp(X, y, start, steps=30, lr=0.5)
    theirs = [p.clone().requires_grad_() for p in start]
    expected = []
    for _ in range(30):
        W1, b1, W2, b2 = theirs
        loss = F.cross_entropy(torch.tanh(X @ W1 + b1) @ W2 + b2, y)
        for p in theirs:
            p.grad = None
        loss.backward()
        with torch.no_grad():
            for p in theirs:
                p -= 0.5 * p.grad
        expected.append(loss.item())
    torch.testing.assert_close(torch.tensor(losses, dtype=torch.float64), torch.tensor(expected, dtype=torch.float64))
    for ours, ref in zip(params, theirs, strict=True):
        torch.testing.assert_close(ours, ref.detach())
    assert losses[-1] < losses[0] / 2


def test_command_line_says_where_each_engine_runs_and_refuses_bad_settings():
    run = [sys.executable, "-m", "mlbook.autodiff"]
    helped = subprocess.run([*run, "--help"], capture_output=True, text=True, timeout=60)
    assert "always runs on the CPU" in helped.stdout
    bad = subprocess.run([*run, "--lr", "-1"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "expected a finite number above 0" in bad.stderr
