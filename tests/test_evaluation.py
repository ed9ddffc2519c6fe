"""Tests for mlbook.evaluation: every metric against scikit-learn's, folds that partition the data,
and the chapter's claims about baselines and leakage."""

import pytest
import torch
from scipy.stats import ttest_rel
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mlbook.data import load_diabetes_split, train_test_indices
from mlbook.evaluation import (
    cross_validate,
    fit_least_squares,
    fit_mean_baseline,
    k_fold_indices,
    least_squares_split_scores,
    mae,
    main,
    mse,
    paired_difference,
    pure_noise,
    r2,
    rmse,
    select_top_correlated,
    with_columns,
    with_feature_selection,
    with_standardizing,
)
from mlbook.feature_scaling import Standardizer
from mlbook.regularisation import ridge


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


def fit_ridge(lam):
    """The chapter's ridge fit, standardising inside."""

    def fit(X, y):
        w, b = ridge(X, y, lam)
        return lambda X_new: X_new @ w + b

    return with_standardizing(fit)


def test_neg_root_mean_squared_error_is_minus_our_rmse_on_the_same_folds():
    """The chapter's note: scoring="neg_root_mean_squared_error" returns -rmse, fold by fold."""
    X, y, *_ = load_diabetes_split()
    ours = cross_validate(with_standardizing(fit_least_squares), X, y, k=5, seed=0)
    folds = [(train.numpy(), val.numpy()) for train, val in k_fold_indices(X.shape[0], 5, seed=0)]
    pipeline = make_pipeline(StandardScaler(), LinearRegression())
    theirs = cross_val_score(pipeline, X.numpy(), y.numpy(), cv=folds, scoring="neg_root_mean_squared_error")
    assert ours == pytest.approx(list(-theirs), rel=1e-9)


@pytest.mark.parametrize("lam", [0.03, 1.0])
def test_standardised_ridge_is_a_scikit_learn_pipeline_with_alpha_m_lambda(lam):
    """The chapter's note: make_pipeline(StandardScaler(), Ridge(alpha=m * lam)), m the fold's training rows."""
    X, y, *_ = load_diabetes_split()
    ours = cross_validate(fit_ridge(lam), X, y, k=5, seed=0)
    for (train, val), score in zip(k_fold_indices(X.shape[0], 5, seed=0), ours, strict=True):
        pipeline = make_pipeline(StandardScaler(), Ridge(alpha=len(train) * lam))
        theirs = cross_val_score(
            pipeline, X.numpy(), y.numpy(), cv=[(train.numpy(), val.numpy())], scoring="neg_root_mean_squared_error"
        )
        assert score == pytest.approx(-theirs[0], rel=1e-9)


def test_one_alpha_for_all_folds_does_not_reproduce_ridge_at_lambda_one():
    """The chapter's note: training parts of 265 and 266 rows need their own alpha."""
    X, y, *_ = load_diabetes_split()
    folds = k_fold_indices(X.shape[0], 5, seed=0)
    assert sorted({len(train) for train, _ in folds}) == [265, 266]
    ours = cross_validate(fit_ridge(1.0), X, y, k=5, seed=0)
    one_alpha = make_pipeline(StandardScaler(), Ridge(alpha=266 * 1.0))
    theirs = cross_val_score(
        one_alpha,
        X.numpy(),
        y.numpy(),
        cv=[(t.numpy(), v.numpy()) for t, v in folds],
        scoring="neg_root_mean_squared_error",
    )
    assert max(abs(a + b) for a, b in zip(ours, theirs, strict=True)) > 1e-3


def test_kfold_shuffles_its_own_folds():
    """The chapter's note: KFold(shuffle=True) cuts other folds than k_fold_indices, and the scores follow the folds."""
    X, y, *_ = load_diabetes_split()
    kfold = list(KFold(5, shuffle=True, random_state=0).split(X.numpy()))
    ours = k_fold_indices(X.shape[0], 5, seed=0)
    assert [sorted(val) for _, val in kfold] != [val.tolist() for _, val in ours]
    theirs = cross_val_score(
        LinearRegression(),
        X.numpy(),
        y.numpy(),
        cv=KFold(5, shuffle=True, random_state=0),
        scoring="neg_root_mean_squared_error",
    )
    by_hand = [
        rmse(y[val], fit_least_squares(X[train], y[train])(X[val]))
        for train, val in ((torch.from_numpy(t), torch.from_numpy(v)) for t, v in kfold)
    ]
    assert by_hand == pytest.approx(list(-theirs), rel=1e-9)


def test_with_standardizing_learns_the_scaler_from_the_training_rows_only():
    X, y, X_new, _, _ = load_diabetes_split()
    lam = 0.3
    model = fit_ridge(lam)(X, y)
    scaler = Standardizer().fit(X)
    w, b = ridge(scaler.transform(X), y, lam)
    torch.testing.assert_close(model(X_new), scaler.transform(X_new) @ w + b)
    # the rows it predicts do not change the scaling
    torch.testing.assert_close(model(X_new[:5]), model(X_new)[:5])


def test_batched_split_scores_match_scikit_learn_split_by_split():
    """The chapter's batched re-splits give the numbers of one scikit-learn fit per split."""
    X, y, *_ = load_diabetes_split()
    training, validation = least_squares_split_scores(X, y, seeds=range(7, 11))
    for i in range(4):
        train, val = (t.numpy() for t in train_test_indices(X.shape[0], 0.25, seed=7 + i))
        sk = LinearRegression().fit(X.numpy()[train], y.numpy()[train])
        assert training[i].item() == pytest.approx(
            mean_squared_error(y.numpy()[train], sk.predict(X.numpy()[train])) ** 0.5, rel=1e-10
        )
        assert validation[i].item() == pytest.approx(
            mean_squared_error(y.numpy()[val], sk.predict(X.numpy()[val])) ** 0.5, rel=1e-10
        )
    assert len(set(validation.tolist())) == 4  # the splits differ


def test_main_scores_only_the_model_chosen_by_cross_validation(capsys, tmp_path):
    """The script uses the test set once, for the chapter's choice: ridge with lambda = 0.03."""
    assert main(["--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.count("test RMSE") == 1
    assert "chosen: ridge lambda=0.03; test RMSE" in out
    X, y, X_test, y_test, _ = load_diabetes_split()
    w, b = ridge(Standardizer().fit(X).transform(X), y, 0.03)
    pred = Standardizer().fit(X).transform(X_test) @ w + b
    assert f"test RMSE {rmse(y_test, pred):.1f}" in out


def test_paired_difference_matches_a_paired_t_test():
    """Mean / standard error is the paired t statistic."""
    a = [55.2, 54.9, 52.5, 53.8, 59.3]
    b = [55.4, 54.9, 52.3, 53.6, 59.2]
    mean, se = paired_difference(a, b)
    assert mean == pytest.approx(sum(x - y for x, y in zip(a, b, strict=True)) / 5, rel=1e-12)
    assert mean / se == pytest.approx(ttest_rel(a, b).statistic, rel=1e-9)


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
        (lambda: paired_difference([1.0, 2.0], [1.0]), "equally long"),
        (lambda: paired_difference([1.0], [1.0]), "at least 2"),
        (lambda: least_squares_split_scores(torch.zeros(4, 1), torch.zeros(4), seeds=[]), "at least one seed"),
    ],
)
def test_bad_input_raises_clear_errors(action, message):
    with pytest.raises(ValueError, match=message):
        action()
