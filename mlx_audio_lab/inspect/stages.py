"""A model's path drawn stage by stage: each activation (positions x channels) as a panel, left to right, titled
with its name and shape and joined by arrows (e.g. reference features -> encoder -> latents -> LM prompt)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass
class Stage:
    """One activation (positions, channels); `step` is the seconds per position, None when positions are slots."""

    name: str
    values: np.ndarray
    position: str = "time (s)"
    step: float | None = None


def stage_chain(stages: Sequence[Stage], title: str, figsize=(14, 3.6)):
    """Panels of the stages in order with arrows between them; the colorbar of each panel is its value scale."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch

    fig, axes = plt.subplots(1, len(stages), figsize=figsize)
    axes = np.atleast_1d(axes)
    for ax, s in zip(axes, stages):
        v = np.asarray(s.values, dtype=np.float32)
        length = v.shape[0] * s.step if s.step else v.shape[0]
        im = ax.imshow(v.T, origin="lower", aspect="auto", interpolation="nearest", cmap="viridis",
                       extent=(0, length, 0, v.shape[1]))
        ax.set(xlabel=s.position, ylabel="channel", title=f"{s.name}\n{' x '.join(map(str, v.shape))}")
        ax.title.set_fontsize(9)
        fig.colorbar(im, ax=ax, pad=0.02, fraction=0.05, label="activation")
    fig.suptitle(title)
    fig.tight_layout()
    fig.subplots_adjust(wspace=0.75)
    for a, b in zip(axes[:-1], axes[1:]):  # arrows in figure coordinates, in the gap after each colorbar
        ra, rb = a.get_position(), b.get_position()
        y, gap = (ra.y0 + ra.y1) / 2, rb.x0 - ra.x1
        fig.add_artist(FancyArrowPatch((ra.x1 + 0.45 * gap, y), (rb.x0 - 0.2 * gap, y), transform=fig.transFigure,
                                       arrowstyle="-|>", mutation_scale=14, color="black"))
    return fig
