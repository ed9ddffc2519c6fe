"""Tests for mlbook.basis: features against numpy and scikit-learn, least squares against
numpy.polyfit, and the chapter's claims about degree and overfitting."""

import numpy as np
import pytest
import torch
from sklearn.preprocessing import PolynomialFeatures

from mlbook.basis import (
    degree_sweep,
    fit_basis,
    gaussian_features,
    make_curve_data,
    polynomial_features,
    true_curve,
)
from mlbook.linear_regression import mse
from mlbook.multivariable import fit_linear


def test_polynomial_features_match_scikit_learn():
    x = torch.linspace(0, 2, 11, dtype=torch.float64)
    ours = polynomial_features(x, 4, x_range=(0.0, 2.0))
    u = (x - 1.0).numpy()[:, None]  # [0, 2] rescaled to [-1, 1]
    theirs = PolynomialFeatures(degree=4, include_bias=False).fit_transform(u)
    np.testing.assert_allclose(ours.numpy(), theirs, rtol=1e-12, atol=1e-12)
    assert ours.abs().max() <= 1.0


def test_polynomial_fit_matches_numpy_polyfit():
    x, y = make_curve_data(m=30, seed=4)
    for degree in (1, 3, 7):
        fit = fit_basis(polynomial_features(x, degree), y)
        u = (x - 1.0).numpy()
        expected = np.polyval(np.polyfit(u, y.numpy(), degree), u)
        np.testing.assert_allclose(fit.predict(polynomial_features(x, degree)).numpy(), expected, rtol=1e-8, atol=1e-8)


def test_gaussian_features_follow_the_formula():
    x = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
    centres = torch.tensor([0.0, 1.0], dtype=torch.float64)
    features = gaussian_features(x, centres, width=0.5)
    assert features.shape == (3, 2)
    assert features[0, 0] == 1.0 and features[2, 1] == 1.0
    assert features[1, 0].item() == pytest.approx(np.exp(-0.25 / 0.5))


def test_gaussian_basis_recovers_the_true_curve_with_enough_data():
    x, y = make_curve_data(m=2000, noise=0.05, seed=1)
    centres = torch.linspace(0, 2, 15, dtype=torch.float64)
    fit = fit_basis(gaussian_features(x, centres, 0.15), y)
    grid = torch.linspace(0.05, 1.95, 50, dtype=torch.float64)
    error = (fit.predict(gaussian_features(grid, centres, 0.15)) - true_curve(grid)).abs().max().item()
    assert error < 0.05


def test_still_linear_in_the_weights_so_gradient_descent_reaches_least_squares():
    x, y = make_curve_data(m=40, seed=2)
    features = polynomial_features(x, 3)
    exact = fit_basis(features, y)
    model, _ = fit_linear(features.float(), y.float(), lr=0.3, steps=3000)
    torch.testing.assert_close(model.weight.detach()[0].double(), exact.w, atol=5e-3, rtol=0)


def test_training_error_never_rises_with_degree_but_validation_error_does():
    """The chapter's claim: nested models fit their training data ever better, yet overfit."""
    x, y = make_curve_data(m=16, seed=1, even=True)
    x_val, y_val = make_curve_data(m=200, seed=101)
    sweep = degree_sweep(x, y, x_val, y_val, range(1, 15))
    train = sweep["train"]
    assert all(later <= earlier + 1e-12 for earlier, later in zip(train, train[1:], strict=False))
    val = sweep["validation"]
    best = min(range(len(val)), key=val.__getitem__)
    assert 0 < best < len(val) - 1, "the best degree should be neither the smallest nor the largest"
    assert val[-1] > 10 * val[best] and train[-1] < train[best]


def test_interpolation_reaches_zero_training_error():
    x, y = make_curve_data(m=8, seed=0, even=True)
    fit = fit_basis(polynomial_features(x, 7), y)
    assert mse(y, fit.predict(polynomial_features(x, 7))) < 1e-16


@pytest.mark.parametrize(
    "action, message",
    [
        (lambda: polynomial_features(torch.zeros(3, dtype=torch.float64), 0), "degree must be"),
        (lambda: polynomial_features(torch.zeros(3, 1), 2), "1-D"),
        (lambda: polynomial_features(torch.tensor([float("nan")]), 2), "NaN"),
        (lambda: polynomial_features(torch.zeros(3), 2, x_range=(1.0, 1.0)), "x_range"),
        (lambda: gaussian_features(torch.zeros(3), torch.zeros(2), width=0), "width"),
        (lambda: gaussian_features(torch.zeros(3), torch.zeros(0), width=1.0), "centres"),
        (lambda: make_curve_data(m=1), "m must be"),
        (lambda: degree_sweep(*make_curve_data(m=5), *make_curve_data(m=5), [1, 5]), "needs more than 5"),
        (
            lambda: fit_basis(polynomial_features(torch.zeros(4) + 0.5, 2), torch.zeros(4)).predict(torch.zeros(4, 3)),
            "linearly dependent",
        ),
    ],
)
def test_bad_input_raises_clear_errors(action, message):
    with pytest.raises(ValueError, match=message):
        action()


def test_predict_checks_the_number_of_features():
    x, y = make_curve_data(m=10, seed=0)
    fit = fit_basis(polynomial_features(x, 2), y)
    with pytest.raises(ValueError, match="expected features of shape"):
        fit.predict(polynomial_features(x, 3))
