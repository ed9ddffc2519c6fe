"""Tests for mlbook.plotting: each figure draws what it was given."""

import matplotlib

matplotlib.use("Agg")

import torch  # noqa: E402

from mlbook import plotting  # noqa: E402


def test_scatter_with_lines_draws_points_and_each_line():
    x = torch.linspace(0, 1, 10)
    fig = plotting.scatter_with_lines(x, 2 * x, {"double": lambda t: 2 * t, "zero": lambda t: 0 * t}, "x", "y")
    ax = fig.axes[0]
    assert len(ax.collections) == 1 and len(ax.lines) == 2
    assert [line.get_label() for line in ax.lines] == ["double", "zero"]
    assert ax.get_xlabel() == "x" and ax.lines[0].get_ydata()[-1] == 2.0


def test_loss_curves_use_a_log_scale():
    fig = plotting.loss_curves({"run": torch.tensor([4.0, 2.0, 1.0])}, ylabel="loss")
    assert fig.axes[0].get_yscale() == "log"
    assert list(fig.axes[0].lines[0].get_ydata()) == [4.0, 2.0, 1.0]


def test_contour_and_surface_accept_a_loss_grid(tmp_path):
    a, b = torch.linspace(-1, 1, 5), torch.linspace(0, 2, 7)
    grid = a[None, :] ** 2 + (b[:, None] - 1) ** 2  # (7, 5)
    path = torch.tensor([[1.0, 2.0], [0.5, 1.5], [0.0, 1.0]])
    fig = plotting.contour_with_paths(a, b, grid, {"gd": path}, "a", "b", optimum=(0.0, 1.0))
    assert fig.axes[0].lines[0].get_xdata().tolist() == [1.0, 0.5, 0.0]
    fig.savefig(tmp_path / "contour.png")
    shifted = plotting.contour_with_paths(a, b, grid + 0.5, {}, "a", "b", levels=6)
    levels = shifted.axes[0].collections[0].levels
    ratios = levels[1:] / levels[:-1]
    assert abs(ratios.max() - ratios.min()) < 1e-5, "contour levels should be spaced geometrically"
    surface = plotting.loss_surface_3d(a, b, grid, "a", "b", "loss")
    surface.savefig(tmp_path / "surface.png")
    assert (tmp_path / "surface.png").stat().st_size > 1000


def test_predicted_vs_actual_has_a_diagonal():
    y = torch.tensor([1.0, 2.0, 3.0])
    fig = plotting.predicted_vs_actual(y, y + 0.5, "mass")
    ax = fig.axes[0]
    assert list(ax.lines[0].get_xdata()) == list(ax.lines[0].get_ydata()) == [1.0, 3.5]
    assert ax.get_xlabel() == "measured mass" and ax.get_ylabel() == "predicted mass"


def test_residual_plot_marks_zero():
    fig = plotting.residual_plot(torch.tensor([1.0, 2.0]), torch.tensor([0.5, -0.5]), "mass")
    ax = fig.axes[0]
    assert list(ax.lines[0].get_ydata()) == [0.0, 0.0]
    assert ax.get_xlabel() == "predicted mass"


def test_notebook_png_is_what_savefig_draws_at_100_dpi():
    """`_repr_png_` skips savefig's second (layout-only) draw; the pixels must not change."""
    import io

    x = torch.linspace(0, 1, 20)
    figures = [
        plotting.scatter_with_lines(x, 2 * x, {"line": lambda t: 2 * t}, xlabel="x", ylabel="y"),
        plotting.loss_curves({"a": torch.logspace(0, -3, 50), "b": torch.logspace(0, -2, 50)}, ylabel="MSE"),
    ]
    for fig in figures:
        shown = fig._repr_png_()
        saved = io.BytesIO()
        fig.savefig(saved, format="png", dpi=100)
        assert shown[:8] == b"\x89PNG\r\n\x1a\n"
        assert shown == saved.getvalue()
        assert fig.dpi == 100


def test_scatter_by_group_draws_one_cloud_per_group_and_the_lines():
    import pytest

    x = torch.tensor([0.0, 1.0, 2.0, 3.0])
    y = torch.tensor([1.0, 2.0, 0.0, 1.0])
    groups = torch.tensor([0, 0, 1, 1])
    fig = plotting.scatter_by_group(x, y, groups, ("a", "b"), "x", "y", lines={1: (1.0, -2.0), None: (0.0, 1.0)})
    ax = fig.axes[0]
    assert len(ax.collections) == 2
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b", "fit to all points"]
    group_line, pooled = ax.lines
    assert group_line.get_xdata().tolist() == [2.0, 3.0] and group_line.get_ydata().tolist() == [0.0, 1.0]
    assert pooled.get_xdata().tolist() == [0.0, 3.0] and pooled.get_linestyle() == "--"
    with pytest.raises(ValueError, match="indices into names"):
        plotting.scatter_by_group(x, y, groups + 1, ("a", "b"), "x", "y")
    with pytest.raises(ValueError, match="1-D tensors of one length"):
        plotting.scatter_by_group(x, y[:3], groups, ("a", "b"), "x", "y")


def test_loss_curves_can_give_each_run_its_own_x_values():
    curves = {"full": torch.tensor([4.0, 2.0]), "batch": torch.tensor([4.0, 3.0, 2.5, 2.0])}
    xs = {"full": torch.tensor([0.0, 200.0]), "batch": torch.tensor([0.0, 50.0, 100.0, 150.0])}
    fig = plotting.loss_curves(curves, ylabel="loss", xlabel="examples processed", xs=xs)
    ax = fig.axes[0]
    assert list(ax.lines[0].get_xdata()) == [0.0, 200.0]
    assert list(ax.lines[1].get_xdata()) == [0.0, 50.0, 100.0, 150.0]
    assert ax.get_xlabel() == "examples processed"
    import pytest

    with pytest.raises(ValueError, match="exactly the curves"):
        plotting.loss_curves(curves, ylabel="loss", xs={"full": xs["full"]})


def test_contour_paths_cycle_the_given_markers_in_drawing_order():
    a, b = torch.linspace(-1, 1, 5), torch.linspace(0, 2, 7)
    grid = a[None, :] ** 2 + (b[:, None] - 1) ** 2
    path = torch.tensor([[1.0, 2.0], [0.0, 1.0]])
    fig = plotting.contour_with_paths(
        a, b, grid, {"first": path, "second": path, "third": path}, "a", "b", markers=("o", "s")
    )
    lines = fig.axes[0].lines
    assert [line.get_marker() for line in lines] == ["o", "s", "o"]
    assert [line.get_label() for line in lines] == ["first", "second", "third"]
    default = plotting.contour_with_paths(a, b, grid, {"gd": path}, "a", "b")
    assert default.axes[0].lines[0].get_marker() == "o"


def test_contour_paths_can_draw_a_and_b_to_the_same_scale():
    a, b = torch.linspace(-1, 1, 5), torch.linspace(0, 4, 9)
    grid = a[None, :] ** 2 + (b[:, None] - 1) ** 2
    path = torch.tensor([[1.0, 2.0], [0.0, 1.0]])
    fig = plotting.contour_with_paths(a, b, grid, {"gd": path}, "a", "b", equal_aspect=True)
    assert fig.axes[0].get_aspect() == 1.0
    assert plotting.contour_with_paths(a, b, grid, {"gd": path}, "a", "b").axes[0].get_aspect() == "auto"
