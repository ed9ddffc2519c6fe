"""Tests for mlbook.regularisation: ridge against scikit-learn and weight decay, the lasso against
scikit-learn, exact zeros, and the chapter's claims about validation error, bias and variance."""

import pytest
import torch
from sklearn.linear_model import Lasso, Ridge

from mlbook.basis import make_curve_data, polynomial_features, true_curve
from mlbook.data import load_diabetes_split
from mlbook.feature_scaling import Standardizer
from mlbook.regularisation import (
    bias_variance,
    bias_variance_exact,
    lasso,
    lasso_path,
    ridge,
    ridge_by_weight_decay,
    soft_threshold,
    validation_curve,
)


@pytest.fixture(scope="module")
def diabetes():
    """The split the chapter uses, standardised with the training rows' statistics."""
    X, y, X_val, y_val, names = load_diabetes_split(seed=0)
    scaler = Standardizer().fit(X)
    return scaler.transform(X), y, scaler.transform(X_val), y_val, names


@pytest.mark.parametrize("lam", [0.01, 0.3, 5.0])
def test_ridge_matches_scikit_learn(diabetes, lam):
    X, y, *_ = diabetes
    w, b = ridge(X, y, lam)
    # scikit-learn minimises ||y - X w - b||^2 + alpha ||w||^2 (a sum): alpha = m lam.
    sk = Ridge(alpha=X.shape[0] * lam).fit(X.numpy(), y.numpy())
    torch.testing.assert_close(w, torch.from_numpy(sk.coef_), rtol=1e-8, atol=1e-8)
    assert b == pytest.approx(sk.intercept_, rel=1e-10)


def test_ridge_with_zero_strength_is_least_squares(diabetes):
    from mlbook.multivariable import least_squares

    X, y, *_ = diabetes
    w, b = ridge(X, y, 0.0)
    w_ls, b_ls = least_squares(X, y)
    torch.testing.assert_close(w, w_ls)
    assert b == pytest.approx(b_ls)


def test_weight_decay_in_the_optimiser_is_ridge(diabetes):
    """The chapter's claim: SGD with weight_decay = 2 lam on the weights reaches the ridge solution."""
    X, y, *_ = diabetes
    w, b = ridge(X, y, 0.5)
    w_sgd, b_sgd = ridge_by_weight_decay(X, y, 0.5, lr=0.15, steps=600)
    torch.testing.assert_close(w_sgd, w, rtol=1e-6, atol=1e-6)
    assert b_sgd == pytest.approx(b, rel=1e-8)


@pytest.mark.parametrize("lam", [1.0, 10.0, 50.0])
def test_lasso_matches_scikit_learn_including_its_zeros(diabetes, lam):
    X, y, *_ = diabetes
    w, b = lasso(X, y, lam)
    # scikit-learn minimises (1/2m) ||y - X w - b||^2 + alpha ||w||_1: alpha = lam / 2.
    sk = Lasso(alpha=lam / 2, tol=1e-12, max_iter=100_000).fit(X.numpy(), y.numpy())
    torch.testing.assert_close(w, torch.from_numpy(sk.coef_), rtol=1e-5, atol=1e-5)
    assert torch.equal(w == 0, torch.from_numpy(sk.coef_ == 0))
    assert b == pytest.approx(sk.intercept_, rel=1e-6)


def test_l1_gives_exact_zeros_where_l2_does_not(diabetes):
    """The chapter's claim."""
    X, y, *_ = diabetes
    w1, _ = lasso(X, y, 10.0)
    w2, _ = ridge(X, y, 10.0)
    assert (w1 == 0).sum() >= 3
    assert (w2 == 0).sum() == 0


def test_stronger_penalties_shrink_the_weights(diabetes):
    X, y, *_ = diabetes
    norms = [ridge(X, y, lam)[0].norm().item() for lam in (0.0, 0.1, 1.0, 10.0)]
    assert norms == sorted(norms, reverse=True)
    zeros = [int((lasso(X, y, lam)[0] == 0).sum()) for lam in (0.1, 10.0, 100.0)]
    assert zeros == sorted(zeros) and zeros[-1] > zeros[0]


def test_warm_started_path_matches_separate_fits(diabetes):
    X, y, *_ = diabetes
    strengths = [1.0, 5.0, 20.0]
    path = lasso_path(X, y, strengths, steps=1000)
    for row, lam in zip(path, strengths, strict=True):
        torch.testing.assert_close(row, lasso(X, y, lam, steps=4000)[0], rtol=0, atol=1e-3)
    with pytest.raises(ValueError, match="increasing"):
        lasso_path(X, y, [5.0, 1.0])


def test_soft_threshold():
    v = torch.tensor([-3.0, -0.5, 0.0, 0.2, 2.0])
    assert soft_threshold(v, 1.0).tolist() == [-2.0, 0.0, 0.0, 0.0, 1.0]


def test_a_little_ridge_rescues_the_overfitted_polynomial():
    """The chapter's claim: validation error of degree 14 drops from huge to the noise floor."""
    x, y = make_curve_data(m=16, seed=1, even=True)
    x_val, y_val = make_curve_data(m=200, seed=101)
    curve = validation_curve(
        ridge, polynomial_features(x, 14), y, polynomial_features(x_val, 14), y_val, [0.0, 1e-7, 1e-5, 1e-2, 1.0]
    )
    val, train = curve["validation"], curve["train"]
    assert val[0] > 20 * min(val)
    assert min(range(5), key=val.__getitem__) in (1, 2)
    assert train == sorted(train), "training error can only grow with the penalty"


def test_bias_grows_and_variance_shrinks_with_the_penalty():
    result = bias_variance(
        lambda s: make_curve_data(m=16, seed=1000 + s, even=True),
        lambda t: polynomial_features(t, 14),
        true_curve,
        torch.linspace(0, 2, 30, dtype=torch.float64),
        [1e-8, 1e-4, 1.0],
        data_sets=50,
    )
    assert result["bias2"] == sorted(result["bias2"])
    assert result["variance"] == sorted(result["variance"], reverse=True)


def test_bias_variance_equals_ridge_fitted_to_each_data_set_in_turn():
    """The batched solve must give what a loop of `ridge` calls gives, term by term."""
    make = lambda s: make_curve_data(m=16, seed=1000 + s, even=True)  # noqa: E731
    features = lambda t: polynomial_features(t, 6)  # noqa: E731
    grid = torch.linspace(0, 2, 25, dtype=torch.float64)
    strengths = [0.0, 1e-6, 1e-2, 3.0]
    result = bias_variance(make, features, true_curve, grid, strengths, data_sets=30)
    for k, lam in enumerate(strengths):
        predictions = []
        for seed in range(30):
            x, y = make(seed)
            w, b = ridge(features(x), y, lam)
            predictions.append(features(grid) @ w + b)
        stacked = torch.stack(predictions)
        bias2 = ((stacked.mean(dim=0) - true_curve(grid)) ** 2).mean().item()
        variance = stacked.var(dim=0, unbiased=False).mean().item()
        assert result["bias2"][k] == pytest.approx(bias2, rel=1e-9, abs=1e-15)
        assert result["variance"][k] == pytest.approx(variance, rel=1e-9, abs=1e-15)


def test_the_diabetes_split_is_standardised_on_training_data(diabetes):
    X, y, X_val, y_val, names = diabetes
    assert X.shape == (332, 10) and X_val.shape == (110, 10) and len(names) == 10
    torch.testing.assert_close(X.mean(dim=0), torch.zeros(10, dtype=torch.float64), atol=1e-10, rtol=0)


@pytest.mark.parametrize(
    "action, message",
    [
        (
            lambda: ridge(torch.zeros(5, 2, dtype=torch.float64), torch.zeros(5, dtype=torch.float64), -1.0),
            "at least 0",
        ),
        (lambda: lasso(torch.zeros(5), torch.zeros(5), 1.0), "shape \\(m, n\\)"),
        (
            lambda: bias_variance(
                lambda s: (torch.zeros(3), torch.zeros(3)),
                lambda t: t[:, None],
                lambda t: t,
                torch.zeros(2),
                [1.0],
                data_sets=1,
            ),
            "at least 2 data sets",
        ),
        (
            lambda: bias_variance(
                lambda s: (torch.zeros(3), torch.zeros(3)),
                lambda t: t[:, None],
                lambda t: t,
                torch.zeros(2),
                [1.0, -0.5],
            ),
            "strength must be a number of at least 0, got -0.5",
        ),
        (
            lambda: bias_variance(
                lambda s: (torch.zeros(3 + s), torch.zeros(3 + s)),
                lambda t: t[:, None],
                lambda t: t,
                torch.zeros(2),
                [1.0],
                data_sets=3,
            ),
            "every data set must have the same shape",
        ),
    ],
)
def test_bad_input_raises_clear_errors(action, message):
    with pytest.raises(ValueError, match=message):
        action()


def test_adam_weight_decay_is_ridge_and_adamw_is_not(diabetes):
    """The chapter's claim: weight_decay added to the gradient is an L2 penalty for any
    optimiser, so Adam(weight_decay=2 lam) reaches ridge; AdamW's decoupled decay does not.
    The step must be stable for AdamW, whose decay multiplies w by 1 - lr d each step
    (lr d >= 2 flips the sign of w and makes it grow); there it settles with |w_j| <= 1/d."""
    X, y, *_ = diabetes
    lam, lr = 0.5, 0.5
    d = 2 * lam
    assert 0 < lr * d < 2
    w, _ = ridge(X, y, lam)
    w_adam, _ = ridge_by_weight_decay(X, y, lam, lr=lr, steps=500, optimizer_class=torch.optim.Adam)
    # (the weights only: with centred features they do not depend on the intercept,
    # which Adam, moving about lr per step, is still approaching after 500 steps)
    torch.testing.assert_close(w_adam, w, rtol=1e-6, atol=1e-6)
    w_adamw, _ = ridge_by_weight_decay(X, y, lam, lr=lr, steps=500, optimizer_class=torch.optim.AdamW)
    w_before, _ = ridge_by_weight_decay(X, y, lam, lr=lr, steps=499, optimizer_class=torch.optim.AdamW)
    assert (w_adamw - w_before).abs().max() < 1e-4, "AdamW has settled"
    assert (w_adamw - w).abs().max() > 10.0, "far from ridge"
    assert (w_adamw.abs() <= 1 / d + 1e-9).all() and (w_adamw.abs() > 0.9 / d).all()


def test_adamw_with_too_large_a_step_flips_and_grows(diabetes):
    """Why the chapter's step is 0.5: at lr d = 2 the decay factor is -1."""
    X, y, *_ = diabetes
    w_even, _ = ridge_by_weight_decay(X, y, 0.5, lr=2.0, steps=100, optimizer_class=torch.optim.AdamW)
    w_odd, _ = ridge_by_weight_decay(X, y, 0.5, lr=2.0, steps=101, optimizer_class=torch.optim.AdamW)
    assert (torch.sign(w_even) == -torch.sign(w_odd)).all()
    w_later, _ = ridge_by_weight_decay(X, y, 0.5, lr=2.0, steps=200, optimizer_class=torch.optim.AdamW)
    assert w_later.norm() > 2 * w_even.norm(), "and grows"


def test_the_chapters_lasso_path_is_converged_everywhere(diabetes):
    """Fig. of the ten weight paths: every point within 0.1 of scikit-learn's exact fit
    (about 0.2% of the plotted range), with the same exact zeros, the first point included."""
    X, y, *_ = diabetes
    strengths = torch.logspace(-2, 3, 25, dtype=torch.float64).tolist()
    path = lasso_path(X, y, strengths, steps=300, first_steps=4000)
    exact = torch.stack(
        [
            torch.from_numpy(Lasso(alpha=lam / 2, tol=1e-12, max_iter=100_000).fit(X.numpy(), y.numpy()).coef_)
            for lam in strengths
        ]
    )
    assert (path - exact).abs().max() < 0.1
    assert (path[0] - exact[0]).abs().max() < 1e-3, "the first fit, from zero, has converged"
    assert torch.equal(path == 0, exact == 0)
    # and what the chapter says of it: zeros become more common, but s3 and s2 leave zero and return
    zeros = (exact == 0).sum(dim=1)
    assert (zeros[1:] < zeros[:-1]).any() and zeros[-1] == 10


def test_exact_bias_variance_matches_a_simulation():
    """Ridge is linear in y, so bias^2 and variance have a closed form; a simulation with
    many data sets must agree within its sampling error (its plug-in bias^2 is inflated by
    about variance / data_sets, which is the artefact the exact formula removes)."""
    sets = 2000
    grid = torch.linspace(0, 2, 30, dtype=torch.float64)
    x, _ = make_curve_data(m=16, seed=0, even=True)
    features = lambda t: polynomial_features(t, 8)  # noqa: E731
    strengths = [1e-6, 1e-3, 1e-1]
    exact = bias_variance_exact(x, features, true_curve, grid, strengths, noise=0.15)
    simulated = bias_variance(
        lambda s: make_curve_data(m=16, seed=5000 + s, even=True), features, true_curve, grid, strengths, data_sets=sets
    )
    for k in range(len(strengths)):
        var = exact["variance"][k]
        assert simulated["variance"][k] == pytest.approx(var, rel=0.1)
        # the plug-in bias^2 estimate: exact bias^2 plus the variance of a mean of `sets` fits
        assert simulated["bias2"][k] == pytest.approx(exact["bias2"][k] + var / sets, rel=0.2, abs=3 * var / sets)
    assert exact["bias2"] == sorted(exact["bias2"])
    with pytest.raises(ValueError, match="noise"):
        bias_variance_exact(x, features, true_curve, grid, strengths, noise=-1.0)


def test_the_lasso_entry_point_from_the_optimality_conditions(diabetes):
    """The chapter's 48.6: with w_bp = 0 and w_bmi > 0 the KKT conditions give w_bmi =
    (c_1 - lam) / H_11, and w_bp may stay 0 once |H_21 w_bmi - c_2| <= lam."""
    X, y, _, _, names = diabetes
    X2 = X[:, [names.index("bmi"), names.index("bp")]]
    Xc, yc = X2 - X2.mean(dim=0), y - y.mean()
    H, c = 2 / len(y) * Xc.T @ Xc, 2 / len(y) * Xc.T @ yc
    lam = ((c[1] - H[1, 0] * c[0] / H[0, 0]) / (1 - H[1, 0] / H[0, 0])).item()
    assert lam == pytest.approx(48.6, abs=0.05)
    below, _ = lasso(X2, y, lam * (1 - 1e-3), steps=5000)
    above, _ = lasso(X2, y, lam * (1 + 1e-3), steps=5000)
    assert below[1] > 0 and above[1] == 0 and above[0] > 0


def test_functions_create_tensors_on_the_device_and_dtype_of_X():
    """No GPU in the tests: with meta as the default device, any tensor made without
    device=X.device lands on meta and the next operation with X fails; float32 in must
    give float32 out (tensors made without dtype=X.dtype would be float64 or float32)."""
    X = torch.randn(20, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    y = X @ torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    with torch.device("meta"):
        assert ridge(X, y, 0.1)[0].device.type == "cpu"
        assert lasso_path(X, y, [0.1, 1.0], steps=5).device.type == "cpu"
        assert ridge_by_weight_decay(X, y, 0.1, steps=3)[0].device.type == "cpu"
        exact = bias_variance_exact(X[:, 0], lambda t: torch.stack([t, t**2], dim=1), lambda t: t, X[:5, 1], [0.1], 0.1)
        assert len(exact["bias2"]) == 1
        grid = X[:5, 1]
        make = lambda s: (X[:, 0] + 0 * s, X[:, 1])  # noqa: E731
        simulated = bias_variance(make, lambda t: torch.stack([t, t**2], dim=1), lambda t: t, grid, [0.1], 3)
        assert len(simulated["variance"]) == 1
    X32, y32 = X.float(), y.float()
    for dtype, (Xd, yd) in ((torch.float32, (X32, y32)), (torch.float64, (X, y))):
        assert ridge(Xd, yd, 0.1)[0].dtype == dtype
        assert lasso(Xd, yd, 0.1, steps=5)[0].dtype == dtype
        assert lasso_path(Xd, yd, [0.1, 1.0], steps=3).dtype == dtype
        assert ridge_by_weight_decay(Xd, yd, 0.1, steps=2)[0].dtype == dtype
