"""Logistic regression against independent answers: autograd, torch.nn.functional,
scikit-learn's LogisticRegression, sklearn.metrics and sklearn.calibration."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.calibration import calibration_curve
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score
from sklearn.metrics import roc_curve as sk_roc_curve
from torch.testing import assert_close

from mlbook.feature_scaling import Standardizer
from mlbook.logistic_regression import (
    FIT_METHODS,
    FitConfig,
    auc,
    bce_with_logits,
    calibration_bins,
    classification_scores,
    fit_by_hand,
    gradient,
    load_two_species,
    loss,
    naive_bce,
    rank_auc,
    roc_curve,
    sigmoid,
    softplus,
)


@pytest.fixture(scope="module")
def penguins():
    X, y = load_two_species("Chinstrap")
    return Standardizer().fit_transform(X), y


def test_two_species_data():
    X, y = load_two_species("Chinstrap")
    assert X.shape == (219, 2) and X.dtype == torch.float64
    assert int(y.sum()) == 68 and set(y.tolist()) == {0.0, 1.0}
    X, y = load_two_species("Gentoo")
    assert X.shape == (274, 2) and int(y.sum()) == 123
    with pytest.raises(ValueError, match="Chinstrap or Gentoo"):
        load_two_species("Adelie")


def test_sigmoid_matches_torch_and_its_symmetry():
    z = torch.linspace(-30, 30, 121, dtype=torch.float64)
    assert_close(sigmoid(z), torch.sigmoid(z))
    assert_close(sigmoid(-z), 1 - sigmoid(z))


@pytest.mark.parametrize("pos_weight", [1.0, 3.0])
@pytest.mark.parametrize("lam", [0.0, 0.1])
def test_hand_gradient_matches_autograd(penguins, lam, pos_weight):
    X, y = penguins
    w = torch.tensor([0.7, -1.3], dtype=torch.float64, requires_grad=True)
    b = torch.tensor(0.2, dtype=torch.float64, requires_grad=True)
    loss(X, y, w, b, lam, pos_weight).backward()
    grad_w, grad_b = gradient(X, y, w.detach(), b.detach(), lam, pos_weight)
    assert_close(grad_w, w.grad)
    assert_close(grad_b, b.grad)


def test_the_penalty_is_lam_times_the_squared_length_without_a_half(penguins):
    # the book's convention from the regularisation chapter: lam ||w||^2, no 1/2
    X, y = penguins
    w = torch.tensor([0.7, -1.3], dtype=torch.float64)
    b = torch.tensor(0.2, dtype=torch.float64)
    bce = F.binary_cross_entropy_with_logits(X @ w + b, y)
    assert_close(loss(X, y, w, b, 0.1), bce + 0.1 * (0.7**2 + 1.3**2))
    assert not torch.allclose(loss(X, y, w, b, 0.1), bce + 0.05 * (0.7**2 + 1.3**2))


def test_the_gradient_test_can_fail(penguins):
    X, y = penguins
    w, b = torch.zeros(2, dtype=torch.float64), torch.zeros((), dtype=torch.float64)
    grad_w, _ = gradient(X, y, w, b)
    wrong = X.T @ (sigmoid(X @ w + b) - y)  # the sum, not the mean
    assert not torch.allclose(grad_w, wrong)


@pytest.mark.parametrize("pos_weight", [1.0, 2.5])
def test_stable_loss_matches_torch_at_ordinary_logits(pos_weight):
    z = torch.randn(50, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    y = (torch.arange(50) % 3 == 0).double()
    expected = F.binary_cross_entropy_with_logits(z, y, pos_weight=torch.tensor(pos_weight, dtype=torch.float64))
    assert_close(bce_with_logits(z, y, pos_weight), expected)
    assert_close(naive_bce(z, y), F.binary_cross_entropy_with_logits(z, y))
    assert_close(softplus(z), F.softplus(z))


def test_softplus_has_the_right_slope_at_zero_and_finite_values_far_out():
    z = torch.tensor([0.0, -1e4, 1e4], requires_grad=True)
    softplus(z).sum().backward()
    assert_close(z.grad, torch.tensor([0.5, 0.0, 1.0]))
    assert_close(softplus(z.detach()), F.softplus(z.detach()))


@pytest.mark.parametrize("big", [1e2, 1e3, 1e4])
def test_stable_loss_is_finite_and_correct_where_the_naive_one_fails(big):
    # float32, as a network would use; the wrong side of a confident prediction
    z = torch.tensor([big, -big])
    y = torch.tensor([0.0, 1.0])
    stable = bce_with_logits(z, y)
    assert torch.isfinite(stable)
    assert_close(stable, F.binary_cross_entropy_with_logits(z, y))
    assert_close(stable, torch.tensor(big))  # each loss is softplus(big) = big
    assert not torch.isfinite(naive_bce(z, y))
    # the right side: the naive form multiplies 0 by log 0 and gives nan
    assert torch.isnan(naive_bce(torch.tensor([-1e3]), torch.tensor([0.0])))
    assert_close(bce_with_logits(torch.tensor([-1e3]), torch.tensor([0.0])), torch.tensor(0.0))


def test_the_three_fits_reach_the_same_weights(penguins):
    X, y = penguins
    config = FitConfig(steps=300, lam=0.01)
    fits = {name: fit(X, y, config) for name, fit in FIT_METHODS.items()}
    for w, b in fits.values():
        assert_close(w, fits["hand"][0])
        assert_close(b, fits["hand"][1])


@pytest.mark.parametrize("lam", [0.01, 0.1])
def test_fit_matches_scikit_learn_with_C_mapped(penguins, lam):
    X, y = penguins
    m = X.shape[0]
    w, b = fit_by_hand(X, y, FitConfig(steps=4000, lam=lam))
    model = LogisticRegression(C=1 / (2 * m * lam), tol=1e-12, max_iter=10_000)
    model.fit(X, y)
    assert_close(w, torch.from_numpy(model.coef_[0]), atol=1e-6, rtol=1e-6)
    assert_close(b.reshape(1), torch.from_numpy(model.intercept_), atol=1e-6, rtol=1e-6)
    p = sigmoid(X @ w + b)
    assert_close(p, torch.from_numpy(model.predict_proba(X)[:, 1]), atol=1e-7, rtol=0)
    # the wrong mappings: 1 / (m lam) forgets sklearn's 1/2 on ||w||^2, 1 / (2 lam)
    # mistakes its sum for our mean; both give other weights
    for wrong_C in (1 / (m * lam), 1 / (2 * lam)):
        wrong = LogisticRegression(C=wrong_C, tol=1e-12, max_iter=10_000).fit(X, y)
        assert not np.allclose(wrong.coef_[0], w.numpy(), atol=1e-3)


def test_separable_weights_grow_without_a_penalty_and_not_with_one():
    X, y = load_two_species("Gentoo")
    X = Standardizer().fit_transform(X)
    norms = [fit_by_hand(X, y, FitConfig(steps=s)).__getitem__(0).norm() for s in (100, 1000)]
    assert norms[1] > 1.5 * norms[0]
    ridge = [fit_by_hand(X, y, FitConfig(steps=s, lam=0.01))[0].norm() for s in (1000, 2000)]
    assert abs(ridge[1] - ridge[0]) < 1e-6


@pytest.fixture(scope="module")
def scored():
    gen = torch.Generator().manual_seed(3)
    y = (torch.rand(200, generator=gen) < 0.3).double()
    p = torch.sigmoid(2 * (y - 0.5) * 1.5 + torch.randn(200, generator=gen, dtype=torch.float64))
    p = (p * 20).round() / 20  # ties, as real scores have
    return y, p


@pytest.mark.parametrize("threshold", [0.2, 0.5, 0.7])
def test_scores_match_sklearn_metrics(scored, threshold):
    y, p = scored
    pred = (p >= threshold).numpy()
    scores = classification_scores(y, p, threshold)
    assert scores["precision"] == pytest.approx(precision_score(y.numpy(), pred))
    assert scores["recall"] == pytest.approx(recall_score(y.numpy(), pred))
    assert scores["f1"] == pytest.approx(f1_score(y.numpy(), pred))
    assert scores["accuracy"] == pytest.approx(float((pred == y.numpy()).mean()))


def test_roc_curve_and_auc_match_sklearn(scored):
    y, p = scored
    fpr, tpr, thresholds = roc_curve(y, p)
    sk_fpr, sk_tpr, sk_thresholds = sk_roc_curve(y.numpy(), p.numpy(), drop_intermediate=False)
    assert_close(fpr.double(), torch.from_numpy(sk_fpr))
    assert_close(tpr.double(), torch.from_numpy(sk_tpr))
    assert_close(thresholds[1:], torch.from_numpy(sk_thresholds[1:]))
    assert auc(fpr, tpr) == pytest.approx(roc_auc_score(y.numpy(), p.numpy()))
    assert rank_auc(y, p) == pytest.approx(roc_auc_score(y.numpy(), p.numpy()))


def test_calibration_bins_match_sklearn(scored):
    y, p = scored
    for bins in (4, 5, 10):
        fraction, mean_p, count = calibration_bins(y, p, bins)
        sk_true, sk_pred = calibration_curve(y.numpy(), p.numpy(), n_bins=bins)
        assert_close(fraction, torch.from_numpy(sk_true))
        assert_close(mean_p, torch.from_numpy(sk_pred))
        assert int(count.sum()) == len(y)


def test_class_weight_matches_scikit_learn(penguins):
    X, y = penguins
    m, lam, weight = X.shape[0], 0.05, 2.0
    w, b = fit_by_hand(X, y, FitConfig(steps=4000, lam=lam, pos_weight=weight))
    model = LogisticRegression(C=1 / (2 * m * lam), class_weight={0: 1, 1: weight}, tol=1e-12)
    model.fit(X, y)
    assert_close(w, torch.from_numpy(model.coef_[0]), atol=1e-6, rtol=1e-6)


X_OK = torch.zeros(4, 2)
Y_OK = torch.tensor([0.0, 1.0, 0.0, 1.0])


@pytest.mark.parametrize(
    ("X", "y", "match"),
    [
        (X_OK, torch.tensor([0.0, 2.0, 0.0, 1.0]), "labels must be 0 or 1"),
        (X_OK, torch.tensor([-1.0, 1.0, 0.0, 1.0]), "labels must be 0 or 1"),
        (torch.tensor([[0.0, float("nan")]] * 4), Y_OK, "NaN"),
        (X_OK, Y_OK[:3], "4 rows but y has 3"),
        (X_OK, torch.ones(4), "both classes"),
        (torch.zeros(0, 2), torch.zeros(0), "non-empty"),
        (torch.zeros(4), Y_OK, r"\(m, n\) matrix"),
    ],
)
def test_bad_inputs_are_refused_before_any_work(X, y, match):
    for fit in FIT_METHODS.values():
        with pytest.raises(ValueError, match=match):
            fit(X, y)


def test_bad_scores_are_refused():
    with pytest.raises(ValueError, match="one per label"):
        roc_curve(Y_OK, torch.zeros(3))
    with pytest.raises(ValueError, match="both classes"):
        classification_scores(torch.zeros(4), torch.zeros(4))
    with pytest.raises(ValueError, match=r"p in \[0, 1\]"):
        calibration_bins(Y_OK, torch.tensor([0.0, 1.5, 0.2, 0.3]))
    with pytest.raises(ValueError, match="lr > 0"):
        fit_by_hand(X_OK, Y_OK, FitConfig(lr=-1.0))
