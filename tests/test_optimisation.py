"""Tests for mlbook.optimisation: each hand-written optimiser against torch.optim, step by step,
and the chapter's claims about learning rates, mini-batches and speed."""

import math
import warnings

import pytest
import torch

from conftest import available_devices
from mlbook.linear_regression import least_squares, predict, squared_error
from mlbook.optimisation import (
    OPTIMIZERS,
    SGD,
    Adagrad,
    Adam,
    hessian,
    largest_stable_lr,
    make_line_data,
    steps_to_reach,
    train,
)

# The chapter names the settings at which the steps agree: torch's extra options at their defaults,
# written out here so that the claim is the test.
SGD_OFF = {"dampening": 0, "nesterov": False, "weight_decay": 0}
ADAGRAD_OFF = {"lr_decay": 0, "weight_decay": 0, "initial_accumulator_value": 0}
ADAM_OFF = {"weight_decay": 0, "amsgrad": False}

PAIRS = [
    (lambda p: SGD(p, lr=0.05), lambda p: torch.optim.SGD(p, lr=0.05, **SGD_OFF)),
    (lambda p: SGD(p, lr=0.02, momentum=0.9), lambda p: torch.optim.SGD(p, lr=0.02, momentum=0.9, **SGD_OFF)),
    (lambda p: Adagrad(p, lr=0.5), lambda p: torch.optim.Adagrad(p, lr=0.5, eps=1e-10, **ADAGRAD_OFF)),
    (lambda p: Adam(p, lr=0.1), lambda p: torch.optim.Adam(p, lr=0.1, **ADAM_OFF)),
    (
        lambda p: Adam(p, lr=0.1, betas=(0.8, 0.99), eps=1e-6),
        lambda p: torch.optim.Adam(p, lr=0.1, betas=(0.8, 0.99), eps=1e-6),
    ),
]


@pytest.mark.parametrize("ours, theirs", PAIRS, ids=["sgd", "momentum", "adagrad", "adam", "adam-options"])
def test_every_step_matches_torch_optim(ours, theirs):
    """Same start, same loss, 25 steps: the parameters must agree after every step."""
    g = torch.Generator().manual_seed(0)
    target = torch.randn(3, 4, generator=g, dtype=torch.float64)
    start = torch.randn(3, 4, generator=g, dtype=torch.float64)
    p1, p2 = start.clone().requires_grad_(True), start.clone().requires_grad_(True)
    o1, o2 = ours([p1]), theirs([p2])
    for _ in range(25):
        for p, o in ((p1, o1), (p2, o2)):
            o.zero_grad()
            ((p - target) ** 4).sum().backward()  # not quadratic: gradients of every size
            o.step()
        torch.testing.assert_close(p1, p2)


def test_parameters_without_gradients_are_left_alone():
    a = torch.tensor(1.0, requires_grad=True)
    b = torch.tensor(2.0, requires_grad=True)
    opt = Adam([a, b], lr=0.1)
    (a * 3).backward()
    opt.step()
    assert b.item() == 2.0 and a.item() != 1.0


def test_full_batch_training_reaches_least_squares():
    x, y = make_line_data()
    a, b = least_squares(x, y)
    run = train(x, y, OPTIMIZERS["SGD + momentum"], steps=400)
    assert run.path[-1, 0].item() == pytest.approx(a, abs=1e-3)
    assert run.path[-1, 1].item() == pytest.approx(b, abs=1e-3)
    assert run.losses.shape == (401,) and run.path.shape == (401, 2)


def test_known_truth_is_recovered():
    x, y = make_line_data(m=20000, a=1.5, b=-2.0, noise=0.5)
    a, b = least_squares(x, y)
    assert a == pytest.approx(1.5, abs=0.02) and b == pytest.approx(-2.0, abs=0.05)


def test_stability_limit_is_two_over_the_largest_curvature():
    x, y = make_line_data()
    limit = largest_stable_lr(x)
    torch.testing.assert_close(
        hessian(x),
        torch.autograd.functional.hessian(
            lambda p: squared_error(y.double(), predict(x.double(), p[0], p[1])), torch.zeros(2, dtype=torch.float64)
        ),
    )
    below = train(x, y, lambda p: SGD(p, lr=0.95 * limit), steps=400)
    above = train(x, y, lambda p: SGD(p, lr=1.05 * limit), steps=400)
    assert below.losses[-1] < 1.01 * squared_error(y, predict(x, *least_squares(x, y)))
    assert above.losses[-1] > 1e3 * above.losses[0]


def test_mini_batches_use_every_example_once_per_epoch():
    """With a learning rate of 0 the parameters stay put, so we can watch which examples are drawn."""
    x, y = make_line_data(m=12)
    seen = []

    class Recorder(SGD):
        def step(self):
            seen.append(self.params[0].grad.item())  # records which batch produced this gradient
            super().step()

    train(x, y, lambda p: Recorder(p, lr=1e-12), steps=6, batch_size=4, seed=1)
    assert len(seen) == 6
    # Two epochs of three batches: the three batch gradients of an epoch sum to 3 x the full gradient.
    a, b = torch.zeros((), requires_grad=True), torch.zeros((), requires_grad=True)
    squared_error(y, predict(x, a, b)).backward()
    assert sum(seen[:3]) == pytest.approx(3 * a.grad.item(), rel=1e-5)
    assert sum(seen[3:]) == pytest.approx(3 * a.grad.item(), rel=1e-5)
    assert seen[:3] != seen[3:], "each epoch should shuffle"


def test_mini_batch_training_is_seeded_and_noisier():
    x, y = make_line_data()
    first = train(x, y, lambda p: SGD(p, lr=0.01), steps=100, batch_size=8, seed=3)
    again = train(x, y, lambda p: SGD(p, lr=0.01), steps=100, batch_size=8, seed=3)
    torch.testing.assert_close(first.path, again.path)
    full = train(x, y, lambda p: SGD(p, lr=0.01), steps=100)
    # The full-batch loss only goes down at this small learning rate; mini-batches sometimes go up.
    assert torch.all(full.losses[1:] <= full.losses[:-1])
    assert torch.any(first.losses[1:] > first.losses[:-1])


def test_the_chapter_comparison_momentum_and_adam_beat_plain_sgd():
    x, y = make_line_data()
    target = 1.01 * squared_error(y, predict(x, *least_squares(x, y))).item()
    steps = {name: steps_to_reach(train(x, y, make, steps=400).losses, target) for name, make in OPTIMIZERS.items()}
    assert all(s is not None for s in steps.values()), steps
    assert steps["SGD + momentum"] < steps["SGD"]
    assert steps["Adam"] < steps["SGD"]


def test_steps_to_reach():
    losses = torch.tensor([5.0, 3.0, 2.0, 1.0, 1.5])
    assert steps_to_reach(losses, 2.0) == 2
    assert steps_to_reach(losses, 0.5) is None


@pytest.mark.parametrize("device", available_devices())
def test_training_runs_on_every_available_device(device):
    x, y = (t.to(device) for t in make_line_data(m=64))
    run = train(x, y, OPTIMIZERS["Adam"], steps=10, batch_size=16)
    assert run.losses.device.type == "cpu" and math.isfinite(run.losses[-1].item())


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: SGD([], lr=0.1), "at least one parameter"),
        (lambda: SGD([torch.zeros(2)], lr=0.1), "requires_grad=True"),
        (lambda: SGD([torch.zeros(2, requires_grad=True)], lr=-1), "lr must be"),
        (lambda: SGD([torch.zeros(2, requires_grad=True)], lr=0.1, momentum=1.0), "momentum must be"),
        (lambda: Adam([torch.zeros(2, requires_grad=True)], betas=(0.9, 1.5)), "each of betas must"),
        (lambda: make_line_data(m=1), "m must be"),
        (lambda: make_line_data(x_range=(2.0, 1.0)), "x_range"),
        (lambda: train(*make_line_data(m=10), OPTIMIZERS["SGD"], steps=5, batch_size=11), "batch_size must be"),
        (lambda: train(*make_line_data(m=10), OPTIMIZERS["SGD"], steps=-1), "steps must be"),
    ],
)
def test_bad_settings_raise_clear_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def _run(make, steps=25):
    g = torch.Generator().manual_seed(0)
    target = torch.randn(3, 4, generator=g, dtype=torch.float64)
    p = torch.randn(3, 4, generator=g, dtype=torch.float64).requires_grad_(True)
    o = make([p])
    for _ in range(steps):
        o.zero_grad()
        ((p - target) ** 4).sum().backward()
        o.step()
    return p.detach()


@pytest.mark.parametrize(
    "ours, theirs",
    [
        (lambda p: SGD(p, lr=0.02, momentum=0.9), lambda p: torch.optim.SGD(p, lr=0.02, momentum=0.9, nesterov=True)),
        (lambda p: SGD(p, lr=0.02, momentum=0.9), lambda p: torch.optim.SGD(p, lr=0.02, momentum=0.9, dampening=0.5)),
        (lambda p: Adam(p, lr=0.1), lambda p: torch.optim.Adam(p, lr=0.1, amsgrad=True)),
        (lambda p: Adam(p, lr=0.1), lambda p: torch.optim.Adam(p, lr=0.1, weight_decay=0.1)),
        (lambda p: Adagrad(p, lr=0.5), lambda p: torch.optim.Adagrad(p, lr=0.5, initial_accumulator_value=1.0)),
    ],
    ids=["nesterov", "dampening", "amsgrad", "weight-decay", "accumulator"],
)
def test_the_match_holds_only_with_torchs_extra_options_off(ours, theirs):
    """The chapter's caveat: change one of torch.optim's extra options and the steps differ."""
    assert not torch.allclose(_run(ours), _run(theirs))


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_the_chapter_race_takes_torch_optims_steps(name):
    theirs = {
        "SGD": lambda p: torch.optim.SGD(p, lr=0.08),
        "SGD + momentum": lambda p: torch.optim.SGD(p, lr=0.02, momentum=0.9),
        "Adagrad": lambda p: torch.optim.Adagrad(p, lr=1.0),
        "Adam": lambda p: torch.optim.Adam(p, lr=0.2),
    }[name]
    x, y = (t.double() for t in make_line_data())
    torch.testing.assert_close(train(x, y, OPTIMIZERS[name], steps=300).path, train(x, y, theirs, steps=300).path)


def test_sklearn_sgd_regressor_mapping():
    """The chapter's note: SGDRegressor(penalty=None, learning_rate="constant", eta0=2 * lr) with
    shuffle=False takes the same steps as our SGD on one example at a time, in order."""
    from sklearn.linear_model import SGDRegressor

    x, y = (t.double() for t in make_line_data(m=50))
    lr, epochs = 0.01, 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a ConvergenceWarning for stopping at max_iter, as asked
        sk = SGDRegressor(
            penalty=None, learning_rate="constant", eta0=2 * lr, tol=None, max_iter=epochs, shuffle=False
        ).fit(x.numpy()[:, None], y.numpy())
    a = torch.zeros((), dtype=torch.float64, requires_grad=True)
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)
    optimizer = SGD([a, b], lr=lr)
    for _ in range(epochs):
        for i in range(len(x)):
            optimizer.zero_grad()
            squared_error(y[i : i + 1], predict(x[i : i + 1], a, b)).backward()
            optimizer.step()
    assert sk.coef_[0] == pytest.approx(a.item(), rel=1e-12, abs=1e-12)
    assert sk.intercept_[0] == pytest.approx(b.item(), rel=1e-12, abs=1e-12)
    # And with its own shuffling, both wander near the least-squares line.
    a_star, b_star = least_squares(x, y)
    shuffled = SGDRegressor(penalty=None, learning_rate="constant", eta0=2 * lr, tol=None, max_iter=200, random_state=0)
    shuffled.fit(x.numpy()[:, None], y.numpy())
    ours = train(x, y, lambda p: SGD(p, lr=lr), steps=200 * len(x), batch_size=1)
    for slope, intercept in ((shuffled.coef_[0], shuffled.intercept_[0]), (ours.a, ours.b)):
        assert slope == pytest.approx(a_star, abs=0.15) and intercept == pytest.approx(b_star, abs=0.5)


def test_the_chapters_sklearn_snippet_runs_on_its_own():
    """The "PyTorch or scikit-learn?" box is a literal block, which the build does not run: pasted
    alone into a fresh Python it must run and land near the least-squares line."""
    import re
    from pathlib import Path

    page = (Path(__file__).resolve().parents[1] / "book" / "optimisation.md").read_text(encoding="utf-8")
    (snippet,) = re.findall(r"```python\n(from sklearn.linear_model import SGDRegressor\n.*?)```", page, re.S)
    namespace: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a ConvergenceWarning for stopping at max_iter, as asked
        exec(compile(snippet, "optimisation.md, scikit-learn box", "exec"), namespace)
    a_star, b_star = least_squares(*make_line_data())
    sgd = namespace["sgd"]
    assert sgd.coef_[0] == pytest.approx(a_star, abs=0.15) and sgd.intercept_[0] == pytest.approx(b_star, abs=0.5)
