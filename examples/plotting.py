"""The loss curves the training examples save (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path


def save_curves(
    curves: dict[str, tuple[list, list]],
    path: str,
    *,
    xlabel: str,
    ylabel: str,
    title: str,
    baseline: tuple[str, float] | None = None,
) -> None:
    """One line per label (its x and y values); `baseline`: a labelled horizontal line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(5, 3.2), dpi=120)
    styles = [("o", "black"), ("s", "tab:red"), ("^", "tab:blue")]
    for (label, (xs, ys)), (marker, colour) in zip(curves.items(), styles):
        axes.plot(xs, ys, marker=marker, color=colour, label=label)
    if baseline is not None:
        axes.axhline(baseline[1], color="grey", linestyle=":", label=baseline[0])
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    if len(curves) > 1 or baseline is not None:
        axes.legend()
    axes.grid(alpha=0.3)
    figure.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    print(f"loss curve{'s' if len(curves) > 1 else ''}: {path}")
