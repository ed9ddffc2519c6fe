"""Tests for mlbook.linear_regression, against independent answers: autograd, finite differences,
numpy's polyfit, scikit-learn and torch.linalg.lstsq."""

import math

import numpy as np
import pytest
import torch
from sklearn.linear_model import LinearRegression

from conftest import available_devices
from mlbook.linear_regression import (
    FIT_METHODS,
    GDConfig,
    check_xy,
    fit_by_hand,
    fit_with_autograd,
    fit_with_optim,
    flipper_to_x,
    gradients,
    least_squares,
    load_flipper_mass,
    loss_grid,
    main,
    predict,
    squared_error,
    x_to_flipper,
)
from mlbook.tensors import numerical_gradient


def synthetic(m=200, a=1.5, b=-0.5, noise=0.1, seed=0):
    """Data with a known true line."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(m, generator=g)
    return x, a * x + b + noise * torch.randn(m, generator=g)


@pytest.fixture(scope="module")
def penguins():
    return load_flipper_mass()


def test_units_round_trip(penguins):
    x, y = penguins
    torch.testing.assert_close(flipper_to_x(x_to_flipper(x)), x)
    assert flipper_to_x(torch.tensor(215.0)).item() == pytest.approx(1.5)
    assert 2.5 < y.min() < y.max() < 6.5  # kilograms


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_squared_error_matches_torch(reduction):
    x, y = synthetic()
    y_hat = predict(x, 1.0, 0.0)
    expected = torch.nn.functional.mse_loss(y_hat, y, reduction=reduction)  # (input, target)
    torch.testing.assert_close(squared_error(y, y_hat, reduction), expected)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_hand_gradients_match_autograd_and_finite_differences(reduction):
    x, y = (t.double() for t in synthetic(m=50))
    params = torch.tensor([0.3, 0.7], dtype=torch.float64, requires_grad=True)
    squared_error(y, predict(x, params[0], params[1]), reduction).backward()
    by_hand = torch.stack(gradients(x, y, 0.3, 0.7, reduction))
    numerical = numerical_gradient(lambda p: squared_error(y, predict(x, p[0], p[1]), reduction), params.detach())
    torch.testing.assert_close(by_hand, params.grad)
    torch.testing.assert_close(by_hand, numerical, rtol=1e-6, atol=1e-6)


def test_least_squares_matches_numpy_and_sklearn(penguins):
    x, y = penguins
    a, b = least_squares(x, y)
    slope, intercept = np.polyfit(x.double().numpy(), y.double().numpy(), deg=1)
    sk = LinearRegression().fit(x.double().numpy()[:, None], y.double().numpy())
    assert a == pytest.approx(slope, rel=1e-9) == pytest.approx(sk.coef_[0], rel=1e-9)
    assert b == pytest.approx(intercept, rel=1e-9) == pytest.approx(sk.intercept_, rel=1e-9)


def test_least_squares_recovers_a_known_line():
    x, y = synthetic(m=5000, a=2.0, b=1.0, noise=0.05)
    a, b = least_squares(x, y)
    assert a == pytest.approx(2.0, abs=0.01) and b == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize("method", sorted(FIT_METHODS))
def test_gradient_descent_reaches_least_squares(penguins, method):
    x, y = penguins
    fit = FIT_METHODS[method](x, y, GDConfig(lr=0.1, steps=100))
    a, b = least_squares(x, y)
    assert fit.a == pytest.approx(a, abs=1e-4) and fit.b == pytest.approx(b, abs=1e-4)
    assert fit.losses.shape == (101,) and fit.path.shape == (101, 2)
    assert torch.all(fit.losses[1:] <= fit.losses[:-1] + 1e-7)  # a small enough step never goes uphill


def test_three_implementations_take_the_same_steps(penguins):
    x, y = penguins
    config = GDConfig(lr=0.05, steps=40, a0=1.0, b0=2.0)
    hand, auto, optim = (f(x, y, config) for f in (fit_by_hand, fit_with_autograd, fit_with_optim))
    torch.testing.assert_close(auto.path, hand.path, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(optim.path, hand.path, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(optim.losses, auto.losses)
    assert hand.path[0].tolist() == [1.0, 2.0]


def test_one_hand_step_equals_one_sgd_step():
    x, y = synthetic(m=30)
    hand = fit_by_hand(x, y, GDConfig(lr=0.2, steps=1))
    a = torch.zeros((), requires_grad=True)
    b = torch.zeros((), requires_grad=True)
    opt = torch.optim.SGD([a, b], lr=0.2)
    torch.nn.functional.mse_loss(a * x + b, y).backward()
    opt.step()
    torch.testing.assert_close(hand.path[1], torch.stack([a, b]).detach())


def test_sum_loss_diverges_where_mean_converges_and_lr_over_m_fixes_it(penguins):
    """The chapter's claim: the sum's gradient is m times larger, so the same lr diverges."""
    x, y = penguins
    m = x.shape[0]
    mean_fit = fit_by_hand(x, y, GDConfig(lr=0.1, steps=100))
    sum_fit = fit_by_hand(x, y, GDConfig(lr=0.1, steps=5, reduction="sum"))
    scaled = fit_by_hand(x, y, GDConfig(lr=0.1 / m, steps=100, reduction="sum"))
    assert sum_fit.losses[-1] > 1e15 * sum_fit.losses[0]
    assert scaled.a == pytest.approx(mean_fit.a, abs=1e-5) and scaled.b == pytest.approx(mean_fit.b, abs=1e-5)


def test_learning_rate_limit_is_two_over_largest_curvature(penguins):
    """The chapter's exercise: gradient descent converges below 2/lambda_max and diverges above."""
    x, y = (t.double() for t in penguins)
    X = torch.stack([x, torch.ones_like(x)], dim=1)
    hessian = 2 * X.T @ X / x.shape[0]
    limit = 2 / torch.linalg.eigvalsh(hessian).max().item()
    assert 0.45 < limit < 0.55
    assert math.isfinite(fit_by_hand(x, y, GDConfig(lr=0.95 * limit, steps=500)).losses[-1].item())
    assert fit_by_hand(x, y, GDConfig(lr=1.05 * limit, steps=500)).losses[-1].item() > 1e6


def test_loss_grid_matches_a_loop():
    x, y = synthetic(m=20)
    a_values, b_values = torch.linspace(-1, 2, 4), torch.linspace(0, 1, 3)
    grid = loss_grid(x, y, a_values, b_values)
    assert grid.shape == (3, 4)
    for i, b in enumerate(b_values):
        for j, a in enumerate(a_values):
            torch.testing.assert_close(grid[i, j], squared_error(y, predict(x, a, b)))


def test_loss_grid_minimum_is_near_least_squares(penguins):
    x, y = penguins
    a_values, b_values = torch.linspace(0, 1, 101), torch.linspace(3.5, 4.5, 101)
    grid = loss_grid(x, y, a_values, b_values)
    i, j = divmod(grid.argmin().item(), grid.shape[1])
    a, b = least_squares(x, y)
    assert abs(a_values[j] - a) <= 0.01 and abs(b_values[i] - b) <= 0.01


@pytest.mark.parametrize("device", available_devices())
def test_fits_run_on_every_available_device(device):
    x, y = (t.to(device) for t in synthetic(m=64))
    for method in FIT_METHODS.values():
        fit = method(x, y, GDConfig(lr=0.1, steps=20))
        assert fit.path.device.type == "cpu" and math.isfinite(fit.a)


@pytest.mark.parametrize(
    "x, y, message",
    [
        (torch.zeros(3, 2), torch.zeros(3), "1-D"),
        (torch.zeros(3), torch.zeros(4), "same length"),
        (torch.zeros(1), torch.zeros(1), "at least 2"),
        (torch.tensor([1.0, float("nan")]), torch.zeros(2), "NaN"),
        (torch.tensor([1, 2]), torch.zeros(2), "floating-point"),
        ([1.0, 2.0], torch.zeros(2), "torch.Tensor"),
    ],
)
def test_bad_data_raise_clear_errors(x, y, message):
    with pytest.raises(ValueError, match=message):
        check_xy(x, y)
    with pytest.raises(ValueError, match=message):
        fit_by_hand(x, y)


def test_constant_x_has_no_least_squares_slope():
    with pytest.raises(ValueError, match="same for every example"):
        least_squares(torch.ones(5), torch.arange(5.0))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"lr": 0}, "lr must be"),
        ({"lr": float("nan")}, "lr must be"),
        ({"steps": -1}, "steps must be"),
        ({"steps": 2.5}, "steps must be"),
        ({"reduction": "max"}, "reduction must be"),
        ({"a0": float("inf")}, "finite"),
    ],
)
def test_bad_settings_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GDConfig(**kwargs)


def test_sklearn_linear_regression_mapping(penguins):
    """The chapter's note: LinearRegression().fit(x[:, None], y) gives coef_[0] = a*, intercept_ = b*."""
    x, y = penguins
    a, b = least_squares(x, y)
    sk = LinearRegression().fit(x.numpy()[:, None], y.numpy())
    assert sk.coef_.shape == (1,)
    assert sk.coef_[0] == pytest.approx(a, rel=1e-5) and sk.intercept_ == pytest.approx(b, rel=1e-5)
    gd = fit_with_optim(x, y, GDConfig(lr=0.1, steps=100))
    assert gd.a == pytest.approx(sk.coef_[0], abs=1e-4) and gd.b == pytest.approx(sk.intercept_, abs=1e-4)


@pytest.mark.parametrize("option", ["--steps", "--epochs"])
def test_steps_option_and_its_old_name(option, capsys):
    """--steps is the option's name; --epochs, its name in earlier editions, still works."""
    assert main([option, "7", "--device", "cpu", "--no-progress", "--method", "hand"]) == 0
    assert "7 steps" in capsys.readouterr().out


def test_config_calls_the_step_count_steps():
    assert GDConfig(steps=3).steps == 3
    with pytest.raises(TypeError):
        GDConfig(epochs=3)
