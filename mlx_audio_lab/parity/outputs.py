"""Final-output checks shared by ports of the same family (the layer taps are compared by `core`)."""

from __future__ import annotations

import numpy as np

from .report import sig1


def codes_and_audio_match(mlx_out: dict[str, np.ndarray], ref_out: dict[str, np.ndarray],
                          audio_tol: float = 1e-4) -> tuple[bool, str]:
    """Codec outputs: codes identical and varied (>= 2 distinct in codebook 0), decoded audio within `audio_tol`."""
    a, b = np.asarray(mlx_out["codes"]), np.asarray(ref_out["codes"])
    same = a.shape == b.shape and bool((a == b).all())
    mismatches = int((a != b).sum()) if a.shape == b.shape else -1
    distinct = len(np.unique(b[0])) if b.size else 0
    err = float(np.abs(np.asarray(mlx_out["audio"]) - np.asarray(ref_out["audio"])).max()) \
        if np.shape(mlx_out["audio"]) == np.shape(ref_out["audio"]) else float("inf")
    note = (f"codes {'identical' if same else f'differ at {mismatches}'} ({b.shape[0]} codebooks x "
            f"{b.shape[-1]} frames, {distinct} distinct in codebook 0); audio max_abs {sig1(err)}")
    return same and distinct >= 2 and err <= audio_tol, note
