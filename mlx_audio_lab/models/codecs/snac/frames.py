"""SNAC's multi-scale codes as one (codebooks, frames) integer grid, and back.

Scale k has `vq_strides[0] / vq_strides[k]` codes per coarsest frame (1, 2, 4 for snac_24khz). The grid has
one column per coarsest frame and `sum(vq_strides[0] / s)` rows (7) in depth-first order of the code tree:
c0[f], c1[2f], c2[4f], c2[4f+1], c1[2f+1], c2[4f+2], c2[4f+3] — the order Orpheus writes its 7 tokens.
A `.npy` of this grid is what `--codes-out` writes and `mlx-audio-lab decode --model SNAC` reads.
"""

from __future__ import annotations

import numpy as np


def grid_order(vq_strides: list[int]) -> list[tuple[int, int]]:
    """(scale, offset within the coarse frame) of each grid row, depth first (a parent before its children)."""
    per = [vq_strides[0] // s for s in vq_strides]  # codes per coarse frame at each scale

    def visit(scale: int, offset: int) -> list[tuple[int, int]]:
        rows = [(scale, offset)]
        if scale + 1 < len(per):
            branch = per[scale + 1] // per[scale]
            for b in range(branch):
                rows += visit(scale + 1, offset * branch + b)
        return rows

    return visit(0, 0)


def to_grid(codes: list[np.ndarray], vq_strides: list[int]) -> np.ndarray:
    """Codes per scale (frames_k,) -> grid (rows, coarse frames) int64."""
    order, per = grid_order(vq_strides), [vq_strides[0] // s for s in vq_strides]
    frames = len(codes[0])
    for k, c in enumerate(codes):
        if len(c) != frames * per[k]:
            raise ValueError(f"scale {k} has {len(c)} codes; {frames} coarse frames need {frames * per[k]}")
    return np.stack([np.asarray(codes[k]).reshape(frames, per[k])[:, o] for k, o in order]).astype(np.int64)


def from_grid(grid: np.ndarray, vq_strides: list[int]) -> list[np.ndarray]:
    """Grid (rows, coarse frames) -> codes per scale (frames_k,), coarsest first."""
    order, per = grid_order(vq_strides), [vq_strides[0] // s for s in vq_strides]
    grid = np.asarray(grid)
    if grid.ndim != 2 or grid.shape[0] != len(order):
        raise ValueError(f"a SNAC code grid has {len(order)} rows (strides {vq_strides}); got shape {grid.shape}")
    frames = grid.shape[1]
    out = [np.zeros((frames, p), np.int64) for p in per]
    for row, (k, o) in zip(grid, order):
        out[k][:, o] = row
    return [c.reshape(-1) for c in out]
