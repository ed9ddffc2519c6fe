"""Figures the chapters and the command-line examples share, drawn with matplotlib.

Each function returns a `BookFigure`: a matplotlib figure made without pyplot, so
nothing is kept in a global figure list. A notebook shows it as a PNG image, a script
saves it with `savefig`.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping

import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

#: Line styles cycled with the colours, so curves differ in more than colour alone.
LINESTYLES = ("-", "--", "-.", ":")


class BookFigure(Figure):
    """A matplotlib figure that Jupyter displays as a PNG image, made without pyplot."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("dpi", 100)  # the pixels per inch of the PNG a notebook shows
        super().__init__(*args, **kwargs)

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        # Drawn once, straight onto an Agg canvas. `savefig` gives the same pixels but
        # draws twice when a layout engine is set (once unrendered, to lay out), which
        # costs about 15% more. No bbox_inches="tight" either: constrained layout
        # already fits the labels.
        FigureCanvasAgg(self).print_png(buffer)
        return buffer.getvalue()


def new_figure(size: tuple[float, float]) -> BookFigure:
    """An empty figure of `size` inches that lays itself out to fit its labels."""
    return BookFigure(figsize=size, layout="constrained")


def _as_numpy(t):
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else t


def scatter_with_lines(
    x: torch.Tensor,
    y: torch.Tensor,
    lines: Mapping[str, Callable[[torch.Tensor], torch.Tensor]],
    xlabel: str,
    ylabel: str,
    x_range: tuple[float, float] | None = None,
    size: tuple[float, float] = (6.0, 4.0),
) -> Figure:
    """The data as points and each model in `lines` as a line over `x_range`.

    Each model is a function of x.
    """
    fig = new_figure(size)
    ax = fig.add_subplot()
    ax.scatter(
        _as_numpy(x), _as_numpy(y), s=12, alpha=0.6, color="tab:gray", label="data"
    )
    lo, hi = x_range if x_range is not None else (x.min().item(), x.max().item())
    grid = torch.linspace(lo, hi, 200)
    for i, (label, line) in enumerate(lines.items()):
        ax.plot(
            _as_numpy(grid),
            _as_numpy(line(grid)),
            linestyle=LINESTYLES[i % len(LINESTYLES)],
            linewidth=2,
            label=label,
        )
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if lines:
        ax.legend()
    return fig


def loss_curves(
    curves: Mapping[str, torch.Tensor],
    ylabel: str,
    log: bool = True,
    size: tuple[float, float] = (6.0, 3.5),
    xlabel: str = "step",
    x=None,
    xs: Mapping[str, torch.Tensor] | None = None,
) -> Figure:
    """Loss against step (or against `x`) for each run in `curves`.

    On a log scale by default. `xs` gives each run its own x values instead, by label
    (for instance the number of examples processed, which differs between batch sizes).
    """
    if xs is not None and set(xs) != set(curves):
        raise ValueError(
            f"xs must give x values for exactly the curves {sorted(curves)}, "
            f"got {sorted(xs)}"
        )
    fig = new_figure(size)
    ax = fig.add_subplot()
    for i, (label, losses) in enumerate(curves.items()):
        if xs is not None:
            along = _as_numpy(xs[label])
        else:
            along = _as_numpy(x) if x is not None else range(len(losses))
        ax.plot(
            along,
            _as_numpy(losses),
            linestyle=LINESTYLES[i % len(LINESTYLES)],
            linewidth=2,
            label=label,
            marker="o" if x is not None else None,
        )
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend()
    return fig


def loss_surface_3d(
    a_values: torch.Tensor,
    b_values: torch.Tensor,
    losses: torch.Tensor,
    xlabel: str,
    ylabel: str,
    zlabel: str,
    size: tuple[float, float] = (6.0, 4.5),
) -> Figure:
    """The loss over a grid of (a, b) as a 3-D surface.

    `losses` has shape (len(b), len(a)).
    """
    fig = new_figure(size)
    ax = fig.add_subplot(projection="3d")
    A, B = torch.meshgrid(a_values, b_values, indexing="xy")  # both (len(b), len(a))
    ax.plot_surface(
        _as_numpy(A),
        _as_numpy(B),
        _as_numpy(losses),
        cmap="viridis",
        linewidth=0,
        antialiased=True,
    )
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_zlabel(zlabel)
    ax.view_init(elev=30, azim=-60)
    return fig


def contour_with_paths(
    a_values: torch.Tensor,
    b_values: torch.Tensor,
    losses: torch.Tensor,
    paths: Mapping[str, torch.Tensor],
    xlabel: str,
    ylabel: str,
    optimum: tuple[float, float] | None = None,
    levels: int = 20,
    zlabel: str = "loss",
    size: tuple[float, float] = (6.0, 4.5),
    markers: tuple[str, ...] = ("o",),
    equal_aspect: bool = False,
) -> Figure:
    """Contours of the loss with each (n, 2) path of (a, b) points drawn on top.

    The contour levels are spaced geometrically, so the floor of the bowl, where the
    paths end, gets as many contours as its steep walls. Paths are drawn in order, each
    on top of the ones before, with `markers` cycled over them. With `equal_aspect`, one
    unit of a is as long on the page as one unit of b, so the contours keep their true
    shape and a gradient step is drawn at right angles to the contour it starts on.
    """
    fig = new_figure(size)
    ax = fig.add_subplot()
    A, B = torch.meshgrid(a_values, b_values, indexing="xy")
    positive = losses[losses > 0]
    if positive.numel() and positive.max() > positive.min():
        low, high = positive.min().item(), positive.max().item()
        decades = torch.log10(torch.tensor(high / low)).item()
        heights = _as_numpy(torch.logspace(0, decades, levels + 1)[1:] * low)
    else:  # a loss of exactly zero somewhere (or a flat grid): evenly spaced levels
        heights = levels
    contours = ax.contour(
        _as_numpy(A), _as_numpy(B), _as_numpy(losses), levels=heights, cmap="viridis"
    )
    fig.colorbar(contours, ax=ax, label=zlabel, format="%.3g")
    for i, (label, path) in enumerate(paths.items()):
        p = _as_numpy(path)
        ax.plot(
            p[:, 0],
            p[:, 1],
            marker=markers[i % len(markers)],
            markersize=3,
            linestyle=LINESTYLES[i % len(LINESTYLES)],
            label=label,
        )
    if optimum is not None:
        ax.plot(
            *optimum,
            marker="*",
            markersize=14,
            color="black",
            linestyle="none",
            label="least squares",
        )
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if equal_aspect:
        ax.set_aspect("equal")
    if paths or optimum is not None:
        ax.legend(loc="lower right")
    return fig


def predicted_vs_actual(
    y: torch.Tensor,
    y_hat: torch.Tensor,
    label: str,
    size: tuple[float, float] = (4.5, 4.5),
) -> Figure:
    """Each prediction against its true value.

    A perfect model puts every point on the diagonal.
    """
    fig = new_figure(size)
    ax = fig.add_subplot()
    ax.scatter(_as_numpy(y), _as_numpy(y_hat), s=12, alpha=0.6, color="tab:blue")
    low = min(y.min().item(), y_hat.min().item())
    high = max(y.max().item(), y_hat.max().item())
    ax.plot(
        [low, high],
        [low, high],
        color="black",
        linewidth=1,
        linestyle="--",
        label="perfect prediction",
    )
    ax.set_xlabel(f"measured {label}")
    ax.set_ylabel(f"predicted {label}")
    ax.set_aspect("equal")
    ax.legend()
    return fig


def residual_plot(
    y_pred: torch.Tensor,
    residuals: torch.Tensor,
    label: str,
    size: tuple[float, float] = (6.0, 3.5),
) -> Figure:
    """Residuals (true - predicted) against predictions.

    A good model leaves a patternless band around 0.
    """
    fig = new_figure(size)
    ax = fig.add_subplot()
    ax.scatter(
        _as_numpy(y_pred), _as_numpy(residuals), s=12, alpha=0.6, color="tab:blue"
    )
    ax.axhline(0.0, color="black", linewidth=1, linestyle="--")
    ax.set_xlabel(f"predicted {label}")
    ax.set_ylabel("residual (true − predicted)")
    return fig


def scatter_by_group(
    x: torch.Tensor,
    y: torch.Tensor,
    groups: torch.Tensor,
    names: tuple[str, ...],
    xlabel: str,
    ylabel: str,
    lines: Mapping[int | None, tuple[float, float]] | None = None,
    size: tuple[float, float] = (6.0, 4.0),
) -> Figure:
    """The points (x, y) in one colour and marker per group, with straight lines.

    `groups` holds each point's group as an index into `names`. `lines` maps a group to
    the (slope, intercept) of a line drawn in its colour over its points' x-range, and
    None to a line drawn in black, dashed, over all the points' x-range.
    """
    if not (x.shape == y.shape == groups.shape and x.ndim == 1):
        raise ValueError(
            "x, y and groups must be 1-D tensors of one length, got shapes "
            f"{tuple(x.shape)}, {tuple(y.shape)} and {tuple(groups.shape)}"
        )
    if groups.numel() and not 0 <= groups.min() <= groups.max() < len(names):
        raise ValueError(f"groups must be indices into names (0 to {len(names) - 1})")
    lines = dict(lines or {})
    fig = new_figure(size)
    ax = fig.add_subplot()
    markers = ("o", "s", "^", "D", "v")
    for k, name in enumerate(names):
        chosen = groups == k
        colour = f"C{k}"
        ax.scatter(
            _as_numpy(x[chosen]),
            _as_numpy(y[chosen]),
            s=14,
            alpha=0.55,
            color=colour,
            marker=markers[k % len(markers)],
            label=name,
        )
        if k in lines and chosen.any():
            slope, intercept = lines[k]
            ends = torch.stack([x[chosen].min(), x[chosen].max()]).double()
            ax.plot(_as_numpy(ends), _as_numpy(slope * ends + intercept), color=colour)
    if None in lines:
        slope, intercept = lines[None]
        ends = torch.stack([x.min(), x.max()]).double()
        ax.plot(
            _as_numpy(ends),
            _as_numpy(slope * ends + intercept),
            color="black",
            linestyle="--",
            linewidth=2,
            label="fit to all points",
        )
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend()
    return fig
