"""Tests for mlbook.evaluation: every metric against scikit-learn's, folds that partition the data,
and the chapter's claims about baselines and leakage."""

import pytest
import torch
from sklearn.linear_model import LinearRegression
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import cross_val_score

from mlbook.data import load_diabetes_split
from mlbook.evaluation import (
    cross_validate,
    fit_least_squares,
    fit_mean_baseline,
    k_fold_indices,
    mae,
    mse,
    pure_noise,
    r2,
    rmse,
    select_top_correlated,
    with_columns,
    with_feature_selection,
)


def sample(seed=0, m=50):
    g = torch.Generator().manual_seed(seed)
    y = torch.randn(m, generator=g, dtype=torch.float64) * 3 + 1
    return y, y + torch.randn(m, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_evaluation_match_scikit_learn(seed):
    y, y_hat = sample(seed)
    a, b = y.numpy(), y_hat.numpy()
    assert mse(y, y_hat) == pytest.approx(mean_squared_error(a, b), rel=1e-12)
    assert rmse(y, y_hat) == pytest.approx(mean_squared_error(a, b) ** 0.5, rel=1e-12)
    assert mae(y, y_hat) == pytest.approx(mean_absolute_error(a, b), rel=1e-12)
    assert r2(y, y_hat) == pytest.approx(r2_score(a, b), rel=1e-12)


def test_r2_of_the_mean_is_zero_and_can_be_negative():
    y, _ = sample()
    assert r2(y, torch.full_like(y, y.mean().item())) == pytest.approx(0.0, abs=1e-12)
    assert r2(y, -y) < 0
    assert r2(y, y) == 1.0


def test_k_folds_partition_the_data():
    folds = k_fold_indices(23, 5, seed=1)
    assert len(folds) == 5
    validation = torch.cat([val for _, val in folds])
    assert sorted(validation.tolist()) == list(range(23))  # every example validated exactly once
    for train, val in folds:
        assert set(train.tolist()).isdisjoint(val.tolist())
        assert len(train) + len(val) == 23
    assert {len(val) for _, val in folds} == {4, 5}


def test_cross_validation_matches_scikit_learn_on_the_same_folds():
    X, y, *_ = load_diabetes_split()
    ours = cross_validate(fit_least_squares, X, y, k=5, seed=0, score=r2)
    folds = [(train.numpy(), val.numpy()) for train, val in k_fold_indices(X.shape[0], 5, seed=0)]
    theirs = cross_val_score(LinearRegression(), X.numpy(), y.numpy(), cv=folds, scoring="r2")
    assert ours == pytest.approx(list(theirs), rel=1e-9)


def test_least_squares_beats_the_baseline_on_diabetes():
    X, y, X_test, y_test, _ = load_diabetes_split()
    baseline = rmse(y_test, fit_mean_baseline(X, y)(X_test))
    model = rmse(y_test, fit_least_squares(X, y)(X_test))
    assert model < 0.8 * baseline


def test_selection_on_all_data_leaks_and_inside_the_fold_does_not():
    """The chapter's claim: on pure noise, leaky selection shows a positive R^2, honest selection does not."""
    X, y = pure_noise(m=60, n=1000, seed=0)
    leaky = cross_validate(with_columns(select_top_correlated(X, y, 10)), X, y, k=5, score=r2)
    honest = cross_validate(with_feature_selection(10), X, y, k=5, score=r2)
    assert sum(leaky) / 5 > 0.2
    assert sum(honest) / 5 < 0.0


def test_top_correlated_finds_a_planted_column():
    X, _ = pure_noise(m=200, n=50, seed=3)
    y = 2 * X[:, 17] + 0.1 * X[:, 3]
    assert select_top_correlated(X, y, 1).tolist() == [17]


@pytest.mark.parametrize(
    "action, message",
    [
        (lambda: mse(torch.zeros(3), torch.zeros(4)), "same length"),
        (lambda: mse(torch.zeros(3, 1), torch.zeros(3, 1)), "1-D"),
        (lambda: mae(torch.zeros(0), torch.zeros(0)), "zero predictions"),
        (lambda: rmse(torch.tensor([1.0, float("nan")]), torch.zeros(2)), "NaN"),
        (lambda: r2(torch.ones(4), torch.zeros(4)), "undefined"),
        (lambda: k_fold_indices(10, 1), "k must be"),
        (lambda: k_fold_indices(3, 4), "k must be"),
    ],
)
def test_bad_input_raises_clear_errors(action, message):
    with pytest.raises(ValueError, match=message):
        action()
