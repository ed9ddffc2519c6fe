"""Tests for mlbook.likelihood: the negative log-likelihoods against torch.distributions, the
least-absolute-deviations fit against scikit-learn, and the chapter's claims."""

import math

import pytest
import torch
from sklearn.linear_model import QuantileRegressor

from mlbook.likelihood import (
    best_line_through_points,
    gaussian_nll,
    laplace_nll,
    least_absolute_deviations,
    make_outlier_data,
)
from mlbook.linear_regression import least_squares


def test_gaussian_nll_matches_torch_distributions():
    x, y, _ = make_outlier_data(outliers=0)
    y_hat = 2 * x + 1
    expected = -torch.distributions.Normal(y_hat, 0.7).log_prob(y).mean()
    torch.testing.assert_close(gaussian_nll(y, y_hat, 0.7), expected)


def test_laplace_nll_matches_torch_distributions():
    x, y, _ = make_outlier_data()
    y_hat = 2 * x + 1
    expected = -torch.distributions.Laplace(y_hat, 1.3).log_prob(y).mean()
    torch.testing.assert_close(laplace_nll(y, y_hat, 1.3), expected)


def test_minimising_gaussian_nll_is_least_squares():
    """The chapter's derivation: for any fixed sigma, the Gaussian NLL is minimised by least squares."""
    x, y, _ = make_outlier_data(outliers=0)
    params = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS(
        [params], max_iter=500, line_search_fn="strong_wolfe", tolerance_grad=1e-12, tolerance_change=1e-15
    )

    def closure():
        optimizer.zero_grad()
        loss = gaussian_nll(y, params[0] * x + params[1], sigma=3.0)
        loss.backward()
        return loss

    optimizer.step(closure)
    a, b = least_squares(x, y)
    assert params[0].item() == pytest.approx(a, abs=1e-6) and params[1].item() == pytest.approx(b, abs=1e-6)


def test_maximum_likelihood_sigma_is_the_rms_residual():
    x, y, _ = make_outlier_data(outliers=0)
    a, b = least_squares(x, y)
    r = y - (a * x + b)
    best = (r**2).mean().sqrt().item()
    nll = [gaussian_nll(y, a * x + b, s).item() for s in (0.9 * best, best, 1.1 * best)]
    assert nll[1] < nll[0] and nll[1] < nll[2]
    h = 1e-5  # the derivative in sigma vanishes there
    assert abs(gaussian_nll(y, a * x + b, best + h).item() - gaussian_nll(y, a * x + b, best - h).item()) < 1e-9


def all_pairs_lad(x, y):
    """The exact least-absolute-deviations line by brute force: the best line through two points."""
    i, j = torch.triu_indices(len(x), len(x), offset=1)
    keep = x[i] != x[j]
    i, j = i[keep], j[keep]
    slopes = (y[j] - y[i]) / (x[j] - x[i])
    intercepts = y[i] - slopes * x[i]
    errors = (y - slopes[:, None] * x - intercepts[:, None]).abs().mean(dim=1)
    k = errors.argmin()
    return slopes[k].item(), intercepts[k].item()


@pytest.mark.parametrize("seed, outliers", [(0, 8), (3, 8), (5, 0), (7, 20)])
def test_least_absolute_deviations_is_exact(seed, outliers):
    """The chapter's line is the exact optimum: scikit-learn's linear program and a brute-force search agree."""
    x, y, _ = make_outlier_data(outliers=outliers, seed=seed)
    a, b = least_absolute_deviations(x, y)
    sk = QuantileRegressor(quantile=0.5, alpha=0.0, solver="highs").fit(x.numpy()[:, None], y.numpy())
    assert a == pytest.approx(sk.coef_[0], abs=1e-9) and b == pytest.approx(sk.intercept_, abs=1e-9)
    a_pairs, b_pairs = all_pairs_lad(x, y)
    assert a == pytest.approx(a_pairs, abs=1e-9) and b == pytest.approx(b_pairs, abs=1e-9)


def test_least_absolute_deviations_is_exact_from_a_poor_start():
    """The finishing step alone finds the optimum even when reweighting is skipped."""
    x, y, _ = make_outlier_data(seed=1)
    assert least_absolute_deviations(x, y, iterations=0) == pytest.approx(all_pairs_lad(x, y), abs=1e-9)
    assert best_line_through_points(x, y, -5.0, 40.0) == pytest.approx(all_pairs_lad(x, y), abs=1e-9)


def test_reweighting_alone_stops_short_of_the_optimum():
    """Why the finishing step exists: 30 rounds of reweighted least squares are not yet exact."""
    x, y, _ = make_outlier_data()
    X = torch.stack([x, torch.ones_like(x)], dim=1)
    theta = torch.linalg.lstsq(X, y[:, None]).solution[:, 0]
    for _ in range(30):
        root = (1.0 / torch.clamp((X @ theta - y).abs(), min=1e-8)).sqrt()[:, None]
        theta = torch.linalg.lstsq(X * root, y[:, None] * root).solution[:, 0]
    assert abs(theta[0].item() - all_pairs_lad(x, y)[0]) > 1e-4


def test_absolute_error_resists_outliers_where_squared_error_does_not():
    """The chapter's claim, on the chapter's data."""
    x, y, mask = make_outlier_data()
    a_sq, _ = least_squares(x, y)
    a_abs, _ = least_absolute_deviations(x, y)
    a_clean, _ = least_squares(x[~mask], y[~mask])
    assert abs(a_abs - 2.0) < 0.15 < 0.5 < abs(a_sq - 2.0)
    assert abs(a_abs - a_clean) < 0.15


def test_outlier_data_marks_its_outliers():
    x, y, mask = make_outlier_data(m=60, outliers=5)
    assert mask.sum() == 5 and torch.all(torch.diff(x) >= 0)
    assert torch.all((y - (2 * x + 1))[mask] < -10)


@pytest.mark.parametrize(
    "action, message",
    [
        (lambda: gaussian_nll(torch.zeros(2), torch.zeros(2), 0.0), "sigma must be"),
        (lambda: laplace_nll(torch.zeros(2), torch.zeros(2), -1.0), "scale must be"),
        (lambda: laplace_nll(torch.zeros(2), torch.zeros(2), math.inf), "scale must be"),
        (lambda: make_outlier_data(m=10, outliers=6), "outliers must be"),
        (lambda: least_absolute_deviations(torch.zeros(3), torch.zeros(4)), "same length"),
        (lambda: best_line_through_points(torch.ones(3), torch.zeros(3), 0.0, 0.0), "two different"),
    ],
)
def test_bad_input_raises_clear_errors(action, message):
    with pytest.raises(ValueError, match=message):
        action()
