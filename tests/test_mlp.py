"""Tests for mlbook.mlp: the MLP's shapes and parameter counts against a hand count, the
network without hidden layers against softmax regression, train_epoch and evaluate against
a hand-written loop, no graph under evaluation, reproducible splits and orders, the CSV
dataset and its refusals, the rings, initialisation against torch.nn.init, the command
line."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from mlbook.data import load_digits_split
from mlbook.mlp import (
    MLP,
    CSVDataset,
    activation_stds,
    evaluate,
    initialise,
    main,
    make_rings,
    split_loaders,
    train_and_validate,
    train_epoch,
)
from mlbook.softmax_regression import TrainConfig, train


def blobs(m=60, n=3, K=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(m) % K
    X = torch.randn(m, n, generator=g) + 2 * F.one_hot(y, K)[:, :n].float()
    return X, y


def test_mlp_shapes_and_parameter_count_match_a_hand_count():
    model = MLP(5, [7, 4], 3)
    assert model(torch.zeros(11, 5)).shape == (11, 3)
    hand = (5 + 1) * 7 + (7 + 1) * 4 + (4 + 1) * 3
    assert sum(p.numel() for p in model.parameters()) == hand
    kinds = [type(layer) for layer in model.layers]
    assert kinds == [nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear], "none after the last"


def test_mlp_refuses_bad_widths_and_inputs():
    with pytest.raises(ValueError, match="whole numbers above 0"):
        MLP(5, [0], 3)
    with pytest.raises(ValueError, match="whole numbers above 0"):
        MLP(5, [2.5], 3)
    with pytest.raises(ValueError, match=r"shape \(batch, 5\), got \(4, 6\)"):
        MLP(5, [3], 2)(torch.zeros(4, 6))
    with pytest.raises(ValueError, match=r"got \(5,\)"):
        MLP(5, [3], 2)(torch.zeros(5))


def test_no_hidden_layer_is_softmax_regression():
    """Same logits for the same weights, and the same weights after the same training."""
    split = load_digits_split(seed=0)
    X, y = split["train"]
    X = X[:300] / 16
    y = y[:300]
    config = TrainConfig(epochs=2, batch_size=64, lr=2.0, seed=3)
    fitted = train(X, y, 10, config)
    model = MLP(64, [], 10)
    with torch.no_grad():
        model.layers[0].weight.copy_(fitted.W.T)
        model.layers[0].bias.copy_(fitted.b)
    torch.testing.assert_close(model(X), X @ fitted.W + fitted.b)
    # trained from zeros by train_epoch with SGD, on the same batch order
    model = initialise(MLP(64, [], 10), "zeros")
    loader = DataLoader(
        TensorDataset(X, y),
        batch_size=64,
        shuffle=True,
        generator=torch.Generator().manual_seed(3),
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=2.0)
    for _ in range(2):
        train_epoch(model, loader, F.cross_entropy, optimizer)
    torch.testing.assert_close(model.layers[0].weight.T, fitted.W, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(model.layers[0].bias, fitted.b, atol=1e-5, rtol=1e-4)


def test_train_epoch_and_evaluate_match_a_hand_loop():
    X, y = blobs(m=50)
    loader = DataLoader(TensorDataset(X, y), batch_size=16)  # last batch smaller
    torch.manual_seed(0)
    model = MLP(3, [5], 3)
    twin = MLP(3, [5], 3)
    twin.load_state_dict(model.state_dict())
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    mean_loss = train_epoch(model, loader, F.cross_entropy, optimizer)
    losses, sizes = [], []
    for start in range(0, 50, 16):
        Xb, yb = X[start : start + 16], y[start : start + 16]
        for p in twin.parameters():
            p.grad = None
        loss = F.cross_entropy(twin(Xb), yb)
        loss.backward()
        with torch.no_grad():
            for p in twin.parameters():
                p -= 0.1 * p.grad
        losses.append(loss.item())
        sizes.append(len(yb))
    assert mean_loss == pytest.approx(sum(a * b for a, b in zip(losses, sizes, strict=True)) / 50)
    for p, q in zip(model.parameters(), twin.parameters(), strict=True):
        torch.testing.assert_close(p, q)
    loss, acc = evaluate(model, loader, F.cross_entropy)
    with torch.no_grad():
        logits = twin(X)
    assert loss == pytest.approx(F.cross_entropy(logits, y).item(), rel=1e-5)
    assert acc == pytest.approx((logits.argmax(1) == y).float().mean().item())


def test_the_loop_switches_modes_and_evaluation_records_no_graph():
    X, y = blobs()
    loader = DataLoader(TensorDataset(X, y), batch_size=20)
    model = MLP(3, [4], 3)
    seen = []
    model.register_forward_hook(
        lambda module, args, out: seen.append((module.training, torch.is_inference_mode_enabled(), out.requires_grad))
    )
    evaluate(model, loader, F.cross_entropy)
    assert seen and all(s == (False, True, False) for s in seen)
    assert all(p.grad is None for p in model.parameters()), "evaluation leaves no gradient"
    seen.clear()
    train_epoch(model, loader, F.cross_entropy, torch.optim.SGD(model.parameters(), 0.1))
    assert seen and all(s == (True, False, True) for s in seen)


def test_empty_loaders_are_refused():
    empty = DataLoader(TensorDataset(torch.zeros(0, 3), torch.zeros(0).long()))
    model = MLP(3, [2], 2)
    with pytest.raises(ValueError, match="training loader gave no examples"):
        train_epoch(model, empty, F.cross_entropy, torch.optim.SGD(model.parameters(), 0.1))
    with pytest.raises(ValueError, match="evaluation loader gave no examples"):
        evaluate(model, empty, F.cross_entropy)


def test_split_and_order_are_reproducible_from_the_seed():
    X, y = blobs(m=100)
    data = TensorDataset(X, torch.arange(100))  # the labels name the rows
    train_a, val_a = split_loaders(data, validation=0.3, batch_size=10, seed=4)
    train_b, val_b = split_loaders(data, validation=0.3, batch_size=10, seed=4)
    order_a = [b[1] for epoch in range(2) for b in train_a]
    order_b = [b[1] for epoch in range(2) for b in train_b]
    assert all(torch.equal(p, q) for p, q in zip(order_a, order_b, strict=True))
    first, second = torch.cat(order_a[:7]), torch.cat(order_a[7:])
    assert not torch.equal(first, second), "a new order each epoch"
    val_rows = torch.cat([b[1] for b in val_a])
    assert torch.equal(val_rows, torch.cat([b[1] for b in val_b]))
    assert len(val_rows) == 30 and len(first) == 70
    assert set(first.tolist()) | set(val_rows.tolist()) == set(range(100))
    other, _ = split_loaders(data, validation=0.3, batch_size=10, seed=5)
    assert not torch.equal(torch.cat([b[1] for b in other]).sort().values, first.sort().values)
    with pytest.raises(ValueError, match="between 0 and 1"):
        split_loaders(data, validation=1.0)


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_dataset_reads_the_file_it_is_given(tmp_path):
    path = write(tmp_path / "d.csv", "a,label,b\n1,0,2.5\n3,2,4\n\n5,1,6\n")
    data = CSVDataset(path, label="label")
    assert len(data) == 3 and data.features == ["a", "b"]
    x, y = data[1]
    assert torch.equal(x, torch.tensor([3.0, 4.0])) and y.item() == 2 and y.dtype == torch.int64
    only_b = CSVDataset(path, label="label", features=["b"])
    assert only_b.X.shape == (3, 1)
    X, y = next(iter(DataLoader(data, batch_size=3)))
    assert X.shape == (3, 2) and y.tolist() == [0, 2, 1]


@pytest.mark.parametrize(
    "text, error, message",
    [
        (None, FileNotFoundError, "does not exist"),
        ("", ValueError, "is empty"),
        ("a,b\n1,0\n", ValueError, "no label column 'label'"),
        ("a,label\n1,0\n2\n", ValueError, "line 3: expected 2 fields, found 1"),
        ("a,label\n1,0\nx,1\n", ValueError, "column 'a' should hold a number, found 'x'"),
        ("a,label\n1,0.5\n", ValueError, "must hold whole numbers.*found 0.5 on line 2"),
        ("a,label\n1,-1\n", ValueError, "must hold whole numbers.*found -1 on line 2"),
        ("a,label\n3,1\n5,2.5\n", ValueError, "found 2.5 on line 3"),  # not the first label
        ("a,label\n1,nan\n2,1\n", ValueError, "1 of 2 rows have a missing value"),
        ("a,label\n1,inf\n", ValueError, "not a finite number"),
    ],
)
def test_csv_dataset_refuses_bad_files_clearly(tmp_path, text, error, message):
    path = tmp_path / "bad.csv"
    if text is not None:
        write(path, text)
    with pytest.raises(error, match=message):
        CSVDataset(path, label="label")


def test_csv_dataset_refuses_a_folder(tmp_path):
    with pytest.raises(ValueError, match="is a folder"):
        CSVDataset(tmp_path, label="label")


def test_rings_have_two_balanced_classes_at_two_radii():
    X, y = make_rings(200, noise=0.0, seed=0)
    assert X.shape == (200, 2) and y.bincount().tolist() == [100, 100]
    radius = X.norm(dim=1)
    torch.testing.assert_close(radius, 1.0 + y.float())
    assert torch.equal(make_rings(200, seed=3)[0], make_rings(200, seed=3)[0])
    with pytest.raises(ValueError, match="even whole number"):
        make_rings(7)
    with pytest.raises(ValueError, match="noise must be a finite number"):
        make_rings(8, noise=-1.0)


def ring_accuracy(hidden, steps):
    X, y = make_rings(400, seed=0)
    X_new, y_new = make_rings(400, seed=1)
    torch.manual_seed(0)
    model = MLP(2, hidden, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    loader = DataLoader(TensorDataset(X, y), batch_size=400)
    for _ in range(steps):
        train_epoch(model, loader, F.cross_entropy, optimizer)
    new = DataLoader(TensorDataset(X_new, y_new), batch_size=400)
    return evaluate(model, new, F.cross_entropy)[1]


def test_the_rings_defeat_a_linear_model_and_not_an_mlp():
    assert ring_accuracy([], steps=100) < 0.6
    assert ring_accuracy([16], steps=100) > 0.95


def test_equal_weights_never_break_symmetry_and_zeros_give_no_gradient():
    X, y = blobs(m=90, n=3)
    model = initialise(MLP(3, [6], 3), "zeros")
    with torch.no_grad():
        model.layers[0].weight.fill_(0.3)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    loader = DataLoader(TensorDataset(X, y), batch_size=30)
    for _ in range(5):
        train_epoch(model, loader, F.cross_entropy, optimizer)
    W = model.layers[0].weight
    assert (W != 0.3).any() and (W == W[0]).all(), "moved, but all units together"
    zeros = initialise(MLP(3, [6], 3), "zeros")
    F.cross_entropy(zeros(X), y).backward()
    assert zeros.layers[0].weight.grad.abs().max() == 0


@pytest.mark.parametrize(
    "scheme, reference",
    [
        ("kaiming", lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu")),
        ("xavier", nn.init.xavier_normal_),  # square layers: 2 / (n + n) = 1 / n
    ],
)
def test_initialise_matches_torch_nn_init(scheme, reference):
    torch.manual_seed(0)
    ours = initialise(MLP(400, [400], 400), scheme).layers[0]
    theirs = torch.empty(400, 400)
    reference(theirs)
    assert ours.weight.std().item() == pytest.approx(theirs.std().item(), rel=0.02)
    assert ours.bias.abs().max() == 0


def test_default_initialisation_is_uniform_within_one_over_root_fan_in():
    torch.manual_seed(0)
    model = initialise(MLP(300, [50], 2), "default", gain=1.0)
    layer = model.layers[0]
    bound = 1 / math.sqrt(300)
    assert layer.weight.abs().max() <= bound and layer.weight.abs().max() > 0.99 * bound
    assert layer.weight.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.02)
    with pytest.raises(ValueError, match="scheme must be one of"):
        initialise(model, "ones")


def test_activation_stds_follow_the_layers_by_hand():
    torch.manual_seed(0)
    model = MLP(8, [6, 5], 2, activation=nn.Tanh)
    X = torch.randn(40, 8)
    first = torch.tanh(model.layers[0](X))
    second = torch.tanh(model.layers[2](first))
    got = activation_stds(model, X)
    assert got == pytest.approx([first.std().item(), second.std().item()])


def test_fit_records_every_epoch_and_refuses_zero_epochs():
    X, y = blobs()
    loader = DataLoader(TensorDataset(X, y), batch_size=20)
    torch.manual_seed(0)
    history = train_and_validate(MLP(3, [8], 3), loader, loader, epochs=3, lr=0.05)
    assert [len(v) for v in history.values()] == [3, 3, 3]
    assert history["train"][-1] < history["train"][0]
    with pytest.raises(ValueError, match="epochs must be a whole number"):
        train_and_validate(MLP(3, [8], 3), loader, loader, epochs=0)


def test_command_line_takes_hidden_widths(capsys):
    assert main(["--dry-run", "--no-progress", "--hidden", "8", "4"]) == 0
    assert "MLP 64-8-4-10" in capsys.readouterr().out
