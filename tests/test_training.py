"""Tests for mlbook.training: the hand AdamW step against torch.optim.AdamW, the schedule
formulas against torch's schedulers, batch norm by hand against nn.BatchNorm1d, an exact
resume from a checkpoint, the checkpoint's errors, each debugging failure's symptom, the
autocast path, and the regularisation order with other seeds."""

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from mlbook.data import load_digits_split
from mlbook.mlp import MLP
from mlbook.training import (
    Config,
    adamw_step,
    batch_norm,
    full_batch_steps,
    gradient_norms,
    learning_rates,
    load_checkpoint,
    loader_for,
    network,
    one_cycle_lr,
    save_checkpoint,
    softmax_then_cross_entropy,
    step_time,
    train_and_validate,
    train_epoch,
    warmup_cosine,
    warmup_cosine_lr,
)


@pytest.fixture(scope="module")
def digits():
    split = load_digits_split()
    (X, y), (X_val, y_val) = split["train"], split["validation"]
    return X / 16, y, X_val / 16, y_val


def net(hidden=(64, 64), activation=torch.nn.ReLU):
    torch.manual_seed(0)
    return MLP(64, hidden, 10, activation)


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_hand_adamw_matches_torch_over_several_steps(weight_decay):
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(5, generator=gen, dtype=torch.float64)
    theirs = w.clone().requires_grad_()
    optimizer = torch.optim.AdamW([theirs], lr=0.01, weight_decay=weight_decay)
    u, q = torch.zeros_like(w), torch.zeros_like(w)
    for t in range(1, 6):
        g = torch.randn(5, generator=gen, dtype=torch.float64)
        w, u, q = adamw_step(w, g, u, q, t, 0.01, weight_decay)
        theirs.grad = g.clone()
        optimizer.step()
        torch.testing.assert_close(w, theirs.detach())


def test_schedule_formulas_match_the_schedulers():
    T = 50
    sched = torch.optim.lr_scheduler
    got = learning_rates(lambda o: warmup_cosine(o, 5, T, min_lr=0.1), T, lr=2.0)
    want = [warmup_cosine_lr(t, 2.0, 5, T, 0.1) for t in range(T)]
    torch.testing.assert_close(torch.tensor(got), torch.tensor(want))
    got = learning_rates(lambda o: sched.OneCycleLR(o, 0.5, total_steps=T), T)
    torch.testing.assert_close(torch.tensor(got), torch.tensor([one_cycle_lr(t, 0.5, T) for t in range(T)]))
    got = learning_rates(lambda o: sched.CosineAnnealingLR(o, T), T)
    want = [warmup_cosine_lr(t, 1.0, 0, T) for t in range(T)]
    torch.testing.assert_close(torch.tensor(got), torch.tensor(want))


def test_warmup_cosine_rejects_a_warmup_longer_than_the_run():
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    with pytest.raises(ValueError, match="need 0 < warmup < total"):
        warmup_cosine(optimizer, 10, 10)


def test_batch_norm_by_hand_matches_torch_in_training_and_evaluation():
    layer = torch.nn.BatchNorm1d(4)
    mean, var = torch.zeros(4), torch.ones(4)
    gen = torch.Generator().manual_seed(1)
    for _ in range(3):
        batch = 3 * torch.randn(6, 4, generator=gen) - 1
        ours = batch_norm(batch, layer.weight, layer.bias, mean, var, True)
        torch.testing.assert_close(ours, layer.train()(batch))
    torch.testing.assert_close(mean, layer.running_mean)
    torch.testing.assert_close(var, layer.running_var)
    ours = batch_norm(batch, layer.weight, layer.bias, mean, var, False)
    torch.testing.assert_close(ours, layer.eval()(batch))


def make_run(seed, X, y):
    torch.manual_seed(seed)
    model = network(64, (32,), 10, dropout=0.3)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    loader = loader_for(X, y, 40, seed)
    scheduler = warmup_cosine(optimizer, 3, 4 * len(loader))
    return model, optimizer, scheduler, loader


def test_resuming_from_a_checkpoint_is_bit_for_bit(digits, tmp_path):
    X, y = digits[0][:160], digits[1][:160]
    model, opt, sched, loader = make_run(0, X, y)
    whole = [train_epoch(model, loader, opt, sched)[0] for _ in range(4)]
    reference = model
    model, opt, sched, loader = make_run(0, X, y)
    resumed = [train_epoch(model, loader, opt, sched)[0] for _ in range(2)]
    save_checkpoint(tmp_path / "c.pt", model, opt, sched, 2, loader)
    model, opt, sched, loader = make_run(5, X, y)
    start = load_checkpoint(tmp_path / "c.pt", model, opt, sched, loader)
    assert start == 2
    resumed += [train_epoch(model, loader, opt, sched)[0] for _ in range(start, 4)]
    assert resumed == whole
    for p, q in zip(reference.parameters(), model.parameters(), strict=True):
        assert torch.equal(p, q)


def test_checkpoint_errors_are_clear(digits, tmp_path):
    X, y = digits[0][:40], digits[1][:40]
    model, opt, sched, loader = make_run(0, X, y)
    save_checkpoint(tmp_path / "c.pt", model, opt, sched, 1, loader)
    with pytest.raises(ValueError, match=r"different architecture: .*\(32, 64\)"):
        load_checkpoint(tmp_path / "c.pt", network(64, (16,), 10, dropout=0.3))
    with pytest.raises(ValueError, match="different architecture: .*missing"):
        load_checkpoint(tmp_path / "c.pt", network(64, (32, 32), 10, dropout=0.3))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt", model)
    # bytes, text (torch.load's unpickler fails with a bare KeyError on it) and nothing
    for name, content in [("bad.pt", b"not a checkpoint"), ("text.pt", b"hello world\n"), ("empty.pt", b"")]:
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ValueError, match=r"not a readable torch.save file \(torch.load raised \w+\)$"):
            load_checkpoint(tmp_path / name, model)
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(ValueError, match="holds an object of type list, expected the dictionary"):
        load_checkpoint(tmp_path / "list.pt", model)
    # saved without a scheduler or loader, restored with them: the entries are named
    save_checkpoint(tmp_path / "no_sched.pt", model, opt, None, 1, loader)
    with pytest.raises(ValueError, match=r"lacks the entries \['scheduler'\]"):
        load_checkpoint(tmp_path / "no_sched.pt", model, opt, sched)
    assert load_checkpoint(tmp_path / "no_sched.pt", model, opt) == 1  # none asked: fine
    entries = torch.load(tmp_path / "c.pt", weights_only=True)
    torch.save({k: v for k, v in entries.items() if k != "loader_rng"}, tmp_path / "no_rng.pt")
    with pytest.raises(ValueError, match=r"lacks the entries \['loader_rng'\]"):
        load_checkpoint(tmp_path / "no_rng.pt", model, loader=loader)
    torch.save({**entries, "model": 3}, tmp_path / "model3.pt")
    with pytest.raises(ValueError, match="'model' is of type int, expected a model's state_dict"):
        load_checkpoint(tmp_path / "model3.pt", model)
    torch.save({"model": model.state_dict()}, tmp_path / "part.pt")
    with pytest.raises(ValueError, match="lacks the entries"):
        load_checkpoint(tmp_path / "part.pt", model)


def test_debugging_symptoms(digits):
    X, y, X_val, y_val = digits
    assert abs(F.cross_entropy(net()(X), y).item() - math.log(10)) < 0.05
    bad = net()
    with torch.no_grad():
        bad.layers[-1].weight.mul_(30)
    assert F.cross_entropy(bad(X), y).item() > math.log(10) + 1
    assert full_batch_steps(net(), X[:16], y[:16], 100, lr=0.5)[-1] < 0.01
    # without zero_grad the gradient is the sum of the steps' gradients
    model, single = net(), net()
    full_batch_steps(model, X, y, 3, lr=0.0, zero_grad=False)
    F.cross_entropy(single(X), y).backward()
    torch.testing.assert_close(model.layers[0].weight.grad, 3 * single.layers[0].weight.grad)
    assert full_batch_steps(net(), X, y, 60, lr=2.0)[-1] > 2.2, "too large: stuck"
    clipped = full_batch_steps(net(), X, y, 100, lr=2.0, max_norm=1.0)
    assert clipped[-1] < 0.5
    wrong = full_batch_steps(net(), X, y, 100, lr=0.5, loss_fn=softmax_then_cross_entropy)
    assert wrong[-1] > 2.0
    model = net()
    shuffled = y[torch.randperm(len(y), generator=torch.Generator().manual_seed(0))]
    full_batch_steps(model, X, shuffled, 100, lr=0.5)
    accuracy = (model(X_val).argmax(dim=1) == y_val).float().mean().item()
    assert abs(accuracy - 0.1) < 0.06
    with pytest.raises(RuntimeError):
        F.binary_cross_entropy(torch.tensor([3.0]), torch.tensor([1.0]))
    deep = net((32,) * 8, torch.nn.Sigmoid)
    F.cross_entropy(deep(X), y).backward()
    norms = list(gradient_norms(deep).values())
    assert len(norms) == 9 and norms[0] < 1e-5 * norms[-1]


def test_autocast_path_runs_and_trains(digits):
    X, y, X_val, y_val = digits
    first, per_step = step_time(net(), X[:100], y[:100], 2, dtype=torch.bfloat16)
    assert first > 0 and per_step > 0
    for steps, rounds in ((0, 5), (2, 0), (2.5, 5)):
        with pytest.raises(ValueError, match="must be a whole number above 0"):
            step_time(net(), X[:10], y[:10], steps, rounds=rounds)
    torch.manual_seed(0)
    model = network(64, (32,), 10)
    config = Config(hidden=(32,), epochs=4, batch_size=100, autocast=True, warmup=1)
    history = train_and_validate(model, (X[:300], y[:300]), (X_val, y_val), config)
    assert history.val_loss[-1] < history.val_loss[0] and history.best_state is not None


def test_the_loss_order_of_the_regularisers_holds_for_other_seeds(digits):
    """The chapter's Exercise 2: with seeds 1 to 3, as with 0, the final validation losses
    order batch norm < dropout < weight decay < plain; in accuracy batch norm stays first while
    the other three swap places."""
    X, y, X_val, y_val = digits
    base = Config(hidden=(256, 256), epochs=40, batch_size=100, lr=3e-3)
    settings = {
        "plain": {},
        "wd": {"weight_decay": 0.5},
        "dropout": {"dropout": 0.5},
        "bn": {"batch_norm": True},
    }
    accuracy_orders = set()
    for seed in (0, 1, 2, 3):
        losses, accuracies = {}, {}
        for name, extra in settings.items():
            config = dataclasses.replace(base, seed=seed, **extra)
            torch.manual_seed(seed)
            model = network(64, config.hidden, 10, config.dropout, config.batch_norm)
            history = train_and_validate(model, (X[:200], y[:200]), (X_val, y_val), config)
            losses[name], accuracies[name] = history.val_loss[-1], history.val_acc[-1]
        assert losses["bn"] < losses["dropout"] < losses["wd"] < losses["plain"], (seed, losses)
        assert max(accuracies, key=accuracies.get) == "bn", (seed, accuracies)
        accuracy_orders.add(tuple(sorted(accuracies, key=accuracies.get)))
    assert len(accuracy_orders) > 1, "the other three swap places between seeds"


def test_scikit_learn_mlp_early_stopping_defaults():
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(early_stopping=True)
    assert clf.validation_fraction == 0.1 and clf.n_iter_no_change == 10
    assert clf.solver == "adam" and clf.batch_size == "auto"  # min(200, n) per mini-batch
