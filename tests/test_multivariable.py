"""Tests for mlbook.multivariable: the loop, the matrix form, the normal equations, lstsq,
scikit-learn and nn.Linear must all agree."""

import pytest
import torch
from sklearn.linear_model import LinearRegression

from conftest import available_devices
from mlbook.multivariable import (
    check_Xy,
    fit_linear,
    gradients,
    least_squares,
    load_penguin_features,
    normal_equations,
    predict,
    predict_loop,
    time_predictions,
)
from mlbook.tensors import numerical_gradient


def synthetic(m=300, n=4, seed=0, noise=0.1):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(m, n, generator=g)
    w = torch.arange(1.0, n + 1)
    return X, X @ w - 0.5 + noise * torch.randn(m, generator=g), w


@pytest.fixture(scope="module")
def penguins():
    return load_penguin_features()


def test_features_are_centred_in_centimetres(penguins):
    X, y = penguins
    assert X.shape == (342, 3) and y.shape == (342,)
    torch.testing.assert_close(X.mean(dim=0), torch.zeros(3), atol=1e-5, rtol=0)
    assert 1.0 < X[:, 2].std() < 1.6  # flippers vary by about 14 mm


def test_loop_and_matrix_product_agree():
    X, y, w = synthetic(m=20)
    torch.testing.assert_close(predict_loop(X, w, 0.25), predict(X, w, 0.25))


def test_gradients_match_autograd_and_finite_differences():
    X, y, _ = synthetic(m=40, n=3)
    X, y = X.double(), y.double()
    w = torch.tensor([0.1, -0.2, 0.3], dtype=torch.float64, requires_grad=True)
    b = torch.tensor(0.4, dtype=torch.float64, requires_grad=True)
    torch.nn.functional.mse_loss(predict(X, w, b), y).backward()
    dw, db = gradients(X, y, w.detach(), b.detach())
    torch.testing.assert_close(dw, w.grad)
    torch.testing.assert_close(db, b.grad)
    theta = torch.tensor([0.1, -0.2, 0.3, 0.4], dtype=torch.float64)
    numerical = numerical_gradient(lambda t: torch.nn.functional.mse_loss(predict(X, t[:3], t[3]), y), theta)
    torch.testing.assert_close(torch.cat([dw, db[None]]), numerical, rtol=1e-6, atol=1e-7)


def test_exact_solutions_agree_with_scikit_learn(penguins):
    X, y = penguins
    w, b = least_squares(X, y)
    w_normal, b_normal = normal_equations(X, y)
    sk = LinearRegression().fit(X.double().numpy(), y.double().numpy())
    torch.testing.assert_close(w, torch.from_numpy(sk.coef_), rtol=1e-9, atol=1e-9)
    assert b == pytest.approx(sk.intercept_, rel=1e-9)
    torch.testing.assert_close(w_normal, w, rtol=1e-7, atol=1e-9)
    assert b_normal == pytest.approx(b, rel=1e-9)


def test_least_squares_recovers_known_weights():
    X, y, w_true = synthetic(m=5000, noise=0.01)
    w, b = least_squares(X, y)
    torch.testing.assert_close(w.float(), w_true, atol=2e-3, rtol=0)
    assert b == pytest.approx(-0.5, abs=2e-3)


def test_training_nn_linear_reaches_the_exact_answer(penguins):
    X, y = penguins
    model, losses = fit_linear(X, y, lr=0.4, steps=1000)
    w, b = least_squares(X, y)
    torch.testing.assert_close(model.weight.detach()[0].double(), w, atol=1e-4, rtol=0)
    assert model.bias.item() == pytest.approx(b, abs=1e-4)
    assert losses.shape == (1001,) and losses[-1] < losses[0]


@pytest.mark.parametrize("device", available_devices())
def test_training_runs_on_every_available_device(device):
    X, y, _ = synthetic(m=64)
    model, losses = fit_linear(X.to(device), y.to(device), lr=0.1, steps=20)
    assert model.weight.device.type == torch.device(device).type and losses.device.type == "cpu"


def test_dependent_columns_are_refused():
    X, y, _ = synthetic(m=50, n=2)
    X = torch.cat([X, X[:, :1] * 2], dim=1)  # the third column is twice the first
    with pytest.raises(ValueError, match="linearly dependent"):
        least_squares(X, y)


def test_timing_returns_two_positive_medians():
    X, y, w = synthetic(m=10)
    loop_s, vector_s = time_predictions(X, w, 0.0, repeat=3)
    assert loop_s > 0 and vector_s > 0
    with pytest.raises(ValueError, match="repeat"):
        time_predictions(X, w, 0.0, repeat=0)


@pytest.mark.parametrize(
    "X, y, message",
    [
        (torch.zeros(5), torch.zeros(5), "shape \\(m, n\\)"),
        (torch.zeros(5, 2), torch.zeros(5, 1), "shape \\(m,\\)"),
        (torch.zeros(5, 2), torch.zeros(4), "5 rows but y has 4"),
        (torch.zeros(1, 2), torch.zeros(1), "at least 2"),
        (torch.full((3, 2), float("nan")), torch.zeros(3), "NaN"),
        (torch.zeros(3, 2, dtype=torch.int64), torch.zeros(3), "floating-point"),
    ],
)
def test_bad_shapes_raise_clear_errors(X, y, message):
    with pytest.raises(ValueError, match=message):
        check_Xy(X, y)
    with pytest.raises(ValueError, match=message):
        least_squares(X, y)


def test_feature_names_say_centimetres_and_bad_columns_are_refused():
    from mlbook.multivariable import COLUMNS, FEATURES

    assert FEATURES == ("bill_length_cm", "bill_depth_cm", "flipper_length_cm")
    X, _ = load_penguin_features()
    raw = torch.stack([load_penguin_features_raw(c) for c in COLUMNS], dim=1) / 10  # mm -> cm
    torch.testing.assert_close(X, raw - raw.mean(dim=0))
    with pytest.raises(ValueError, match="lengths in millimetres"):
        load_penguin_features(("body_mass_g",))
    with pytest.raises(ValueError, match="lengths in millimetres"):
        load_penguin_features("bill_length_mm")


def load_penguin_features_raw(column):
    from mlbook.data import load_penguins

    return load_penguins((column, "body_mass_g"))[column]


def test_scikit_learn_note_coef_is_w_and_intercept_is_b(penguins):
    """The chapter's "PyTorch or scikit-learn?" note: coef_ -> w, intercept_ -> b."""
    X, y = penguins
    sk = LinearRegression().fit(X.numpy(), y.numpy())
    w_star, b_star = least_squares(X, y)
    torch.testing.assert_close(torch.from_numpy(sk.coef_).double(), w_star, rtol=1e-5, atol=1e-6)
    assert sk.intercept_ == pytest.approx(b_star, rel=1e-6)
    torch.testing.assert_close(
        torch.from_numpy(sk.predict(X.numpy())).double(), X.double() @ w_star + b_star, rtol=1e-5, atol=1e-5
    )
