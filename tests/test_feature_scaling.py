"""Tests for mlbook.feature_scaling: against scikit-learn's StandardScaler, exact round trips,
the eigenvalue prediction of gradient descent against real runs, and the chapter's claims."""

import numpy as np
import pytest
import torch
from sklearn.preprocessing import StandardScaler

from mlbook.data import train_test_indices
from mlbook.feature_scaling import (
    FEATURES,
    TARGET,
    StandardizeLayer,
    Standardizer,
    condition_number,
    gradient_descent_losses,
    gradient_descent_path,
    knn_predict,
    load_penguin_measurements,
    mse_grid,
    predicted_losses,
    predicted_steps_to_reach,
    to_original_units,
    weight_standard_errors,
)
from mlbook.multivariable import least_squares
from mlbook.optimisation import hessian, largest_stable_lr, steps_to_reach


@pytest.fixture(scope="module")
def penguins():
    return load_penguin_measurements()


def test_standardizer_matches_scikit_learn(penguins):
    X, _ = penguins
    ours = Standardizer().fit_transform(X)
    theirs = StandardScaler().fit_transform(X.numpy())
    np.testing.assert_allclose(ours.numpy(), theirs, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ours.mean(dim=0), torch.zeros(3, dtype=torch.float64), atol=1e-12, rtol=0)


def test_round_trip_is_exact(penguins):
    X, _ = penguins
    scaler = Standardizer().fit(X)
    torch.testing.assert_close(scaler.inverse_transform(scaler.transform(X)), X, rtol=1e-14, atol=1e-10)


def test_scaler_uses_training_statistics_only(penguins):
    X, _ = penguins
    train, test = train_test_indices(X.shape[0], seed=0)
    scaler = Standardizer().fit(X[train])
    torch.testing.assert_close(scaler.mean, X[train].mean(dim=0))
    assert not torch.allclose(scaler.transform(X[test]).mean(dim=0), torch.zeros(3, dtype=torch.float64), atol=1e-6)


def test_train_test_indices_partition_the_rows():
    train, test = train_test_indices(100, test_fraction=0.2, seed=3)
    assert len(test) == 20 and len(train) == 80
    assert sorted(torch.cat([train, test]).tolist()) == list(range(100))
    assert torch.equal(train_test_indices(100, 0.2, seed=3)[1], test)
    with pytest.raises(ValueError, match="test_fraction"):
        train_test_indices(10, test_fraction=1.0)


def test_weights_convert_back_to_original_units(penguins):
    X, y = penguins
    scaler = Standardizer().fit(X)
    w_scaled, b_scaled = least_squares(scaler.transform(X), y)
    w, b = to_original_units(w_scaled, b_scaled, scaler)
    w_raw, b_raw = least_squares(X, y)
    torch.testing.assert_close(w, w_raw, rtol=1e-7, atol=1e-10)
    assert b == pytest.approx(b_raw, rel=1e-8)
    torch.testing.assert_close(X @ w + b, scaler.transform(X) @ w_scaled + b_scaled)


def test_condition_number_matches_numpy(penguins):
    X, _ = penguins
    assert condition_number(X) == pytest.approx(np.linalg.cond(hessian(X).numpy()), rel=1e-6)


def test_prediction_from_eigenvalues_matches_real_gradient_descent(penguins):
    X, y = penguins
    for inputs in (X - X.mean(dim=0), Standardizer().fit_transform(X)):
        lr = 0.9 * largest_stable_lr(inputs)
        ran = gradient_descent_losses(inputs, y, lr, steps=300)
        predicted = predicted_losses(inputs, y, lr, torch.arange(301))
        torch.testing.assert_close(predicted, ran, rtol=1e-8, atol=1e-8)


def test_predicted_steps_agree_with_a_run():
    X, y = load_penguin_measurements()
    Z = Standardizer().fit_transform(X)
    lr = 0.95 * largest_stable_lr(Z)
    best = predicted_losses(Z, y, lr, torch.tensor([10**6]))[0].item()
    target = 1.01 * best
    ran = steps_to_reach(gradient_descent_losses(Z, y, lr, 200), target)
    assert predicted_steps_to_reach(Z, y, lr, target) == ran


def test_standardising_allows_larger_steps_and_needs_fewer_of_them(penguins):
    """The chapter's claim, with numbers."""
    X, y = penguins
    versions = {"raw": X, "centred": X - X.mean(dim=0), "standardised": Standardizer().fit_transform(X)}
    kappa = {k: condition_number(v) for k, v in versions.items()}
    lr = {k: largest_stable_lr(v) for k, v in versions.items()}
    assert kappa["raw"] > 1e8 and kappa["centred"] > 1e5 and kappa["standardised"] < 10
    assert lr["standardised"] > 1e5 * lr["centred"]
    best = predicted_losses(versions["standardised"], y, 0.5, torch.tensor([10**6]))[0].item()
    steps = {k: predicted_steps_to_reach(v, y, 0.95 * lr[k], 1.01 * best) for k, v in versions.items()}
    assert steps["standardised"] < 100 < 10**6 < steps["centred"] < steps["raw"]


def test_diverges_just_above_the_limit(penguins):
    X, y = penguins
    Z = Standardizer().fit_transform(X)
    losses = gradient_descent_losses(Z, y, 1.05 * largest_stable_lr(Z), steps=400)
    assert losses[-1] > 1e6 * losses[0]


@pytest.mark.parametrize(
    "action, message",
    [
        (lambda: Standardizer().transform(torch.zeros(3, 2, dtype=torch.float64)), "has not been fitted"),
        (lambda: Standardizer().fit(torch.ones(4, 2, dtype=torch.float64)), "constant"),
        (lambda: Standardizer().fit(torch.zeros(4, dtype=torch.float64)), "shape \\(m, n\\)"),
        (lambda: Standardizer().fit(torch.tensor([[1.0, float("nan")], [2.0, 3.0]])), "finite"),
        (
            lambda: (
                Standardizer()
                .fit(torch.randn(5, 2, dtype=torch.float64))
                .transform(torch.zeros(5, 3, dtype=torch.float64))
            ),
            "fitted on 2 columns, got 3",
        ),
        # erratum F5: an unfitted scaler used to raise AttributeError here
        (lambda: to_original_units(torch.ones(2), 0.0, Standardizer()), "has not been fitted"),
        (
            lambda: to_original_units(torch.ones(3), 0.0, Standardizer().fit(torch.randn(5, 2, dtype=torch.float64))),
            "fitted on 2 columns, got 3",
        ),
        (lambda: to_original_units([1.0, 2.0], 0.0, Standardizer()), "1-D tensor of weights"),
        (lambda: to_original_units(torch.ones(2), 0.0, None), "must be a Standardizer"),
    ],
)
def test_bad_input_raises_clear_errors(action, message):
    with pytest.raises(ValueError, match=message):
        action()


def test_scikit_learn_note_mean_is_mean_and_scale_is_the_population_std(penguins):
    """The chapter's "PyTorch or scikit-learn?" note: mean_ -> mean, scale_ -> std (ddof=0)."""
    X, _ = penguins
    ours = Standardizer().fit(X)
    theirs = StandardScaler().fit(X.numpy())
    np.testing.assert_allclose(ours.mean.numpy(), theirs.mean_, rtol=1e-12)
    np.testing.assert_allclose(ours.std.numpy(), theirs.scale_, rtol=1e-12)
    np.testing.assert_allclose(ours.std.numpy(), X.numpy().std(axis=0, ddof=0), rtol=1e-12)
    assert not np.allclose(ours.std.numpy(), X.numpy().std(axis=0, ddof=1), rtol=1e-6)


def test_the_leak_is_exactly_zero_for_least_squares_but_not_for_nearest_neighbours(penguins):
    """Erratum F1: for least squares with an intercept the scaler's rows do not matter."""
    X, y = penguins
    train, test = train_test_indices(X.shape[0], seed=0)
    ls_scores, knn_scores = [], []
    for rows in (X[train], X, X[test]):
        scaler = Standardizer().fit(rows)
        Z_train, Z_test = scaler.transform(X[train]), scaler.transform(X[test])
        w, b = least_squares(Z_train, y[train])
        ls_scores.append(((Z_test @ w + b - y[test]) ** 2).mean().item())
        knn_scores.append(((knn_predict(Z_train, y[train], Z_test, 10) - y[test]) ** 2).mean().item())
    assert max(ls_scores) - min(ls_scores) < 1e-9 * min(ls_scores)
    assert len({round(s, 6) for s in knn_scores}) == 3


def test_knn_matches_scikit_learn():
    from sklearn.neighbors import KNeighborsRegressor

    g = torch.Generator().manual_seed(1)
    X_train, X_query = (
        torch.randn(60, 3, generator=g, dtype=torch.float64),
        torch.randn(15, 3, generator=g, dtype=torch.float64),
    )
    y_train = torch.randn(60, generator=g, dtype=torch.float64)
    theirs = KNeighborsRegressor(n_neighbors=5).fit(X_train.numpy(), y_train.numpy()).predict(X_query.numpy())
    np.testing.assert_allclose(knn_predict(X_train, y_train, X_query, 5).numpy(), theirs, rtol=1e-12)
    with pytest.raises(ValueError, match="k must be a whole number from 1 to 60"):
        knn_predict(X_train, y_train, X_query, 61)
    with pytest.raises(ValueError, match="X_query has 2 columns"):
        knn_predict(X_train, y_train, X_query[:, :2], 5)


def test_gradient_descent_path_gives_the_losses_and_the_grid_gives_the_mse(penguins):
    X, y = penguins
    Z = Standardizer().fit_transform(X)
    lr = 0.5 * largest_stable_lr(Z)
    path = gradient_descent_path(Z, y, lr, steps=30)
    losses = ((Z @ path[:, :-1].T + path[:, -1] - y[:, None]) ** 2).mean(dim=0)
    torch.testing.assert_close(losses, gradient_descent_losses(Z, y, lr, steps=30))
    x = Z[:, 0]
    weights, intercepts = torch.linspace(-2, 2, 5), torch.linspace(150, 250, 4)
    grid = mse_grid(x, y, weights, intercepts)
    assert grid.shape == (4, 5)
    expected = torch.nn.functional.mse_loss(weights[3].double() * x + intercepts[1].double(), y)
    torch.testing.assert_close(grid[1, 3], expected)


def test_within_species_the_bill_depth_weight_is_far_above_the_pooled_one(penguins):
    """Erratum F2 and the reader's finding 5: the pooled fit's negative bill-depth weight is a
    species artefact. Every per-species weight is far above it; Chinstrap and Gentoo are clearly
    positive, Adelie's cannot be told from zero."""
    from mlbook.data import load_penguins_by_species

    X, y = penguins
    data, species = load_penguins_by_species((*FEATURES, TARGET))
    torch.testing.assert_close(data["bill_depth_mm"].double(), X[:, 2])
    train, _ = train_test_indices(X.shape[0], seed=0)
    pooled = least_squares(X[train], y[train])[0][2].item()
    pooled_se = weight_standard_errors(X[train], y[train])[2].item()
    assert pooled + 2 * pooled_se < 0
    for k in range(3):
        chosen = train[species[train] == k]
        weight = least_squares(X[chosen], y[chosen])[0][2].item()
        se = weight_standard_errors(X[chosen], y[chosen])[2].item()
        assert weight - pooled > 3 * (se**2 + pooled_se**2) ** 0.5
        if k == 0:  # Adelie
            assert abs(weight) < se
        else:
            assert weight > 2 * se


def test_weight_standard_errors_match_the_partial_regression_formula(penguins):
    """Independent answer: the standard error of w_j is s / sqrt(RSS_j), with RSS_j the residual
    sum of squares of column j regressed (by scikit-learn) on the other columns."""
    from sklearn.linear_model import LinearRegression

    X, y = penguins
    Xn, yn = X.numpy(), y.numpy()
    full = LinearRegression().fit(Xn, yn)
    s2 = ((yn - full.predict(Xn)) ** 2).sum() / (len(yn) - X.shape[1] - 1)
    expected = []
    for j in range(X.shape[1]):
        others = np.delete(Xn, j, axis=1)
        rss_j = ((Xn[:, j] - LinearRegression().fit(others, Xn[:, j]).predict(others)) ** 2).sum()
        expected.append(np.sqrt(s2 / rss_j))
    np.testing.assert_allclose(weight_standard_errors(X, y).numpy(), expected, rtol=1e-8)
    with pytest.raises(ValueError, match="more rows than weights"):
        weight_standard_errors(X[:4], y[:4])


def test_standardize_layer_keeps_its_statistics_in_the_state_dict(penguins):
    """The "PyTorch or scikit-learn?" note: mean and std are buffers, saved in state_dict and
    carried by .to(...)."""
    X, _ = penguins
    scaler = Standardizer().fit(X)
    # exactly the composition the note shows, run on the chapter's float64 penguins
    model = torch.nn.Sequential(StandardizeLayer(scaler), torch.nn.Linear(3, 1, dtype=torch.float64))
    assert model(X[:2]).shape == (2, 1)
    with pytest.raises(RuntimeError, match="dtype"):  # why the note names the dtype
        torch.nn.Sequential(StandardizeLayer(scaler), torch.nn.Linear(3, 1))(X[:2])
    single = torch.nn.Sequential(StandardizeLayer(scaler), torch.nn.Linear(3, 1)).float()
    assert single(X[:2].float()).dtype == torch.float32
    state = model.state_dict()
    assert {"0.mean", "0.std", "1.weight", "1.bias"} == set(state)
    torch.testing.assert_close(state["0.mean"], scaler.mean)
    torch.testing.assert_close(model[0](X), scaler.transform(X))
    assert not any(p is model[0].mean for p in model.parameters())  # not trained
    fresh = StandardizeLayer(Standardizer().fit(X[:10]))
    fresh.load_state_dict(model[0].state_dict())
    torch.testing.assert_close(fresh.std, scaler.std)
    assert fresh.to(torch.float32).mean.dtype == torch.float32
    with pytest.raises(ValueError, match="fitted Standardizer"):
        StandardizeLayer(Standardizer())
