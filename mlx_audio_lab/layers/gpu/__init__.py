"""GPU kernels written for MLX's CUDA back end (`mx.fast.cuda_kernel`), each with the plain MLX ops as its fallback.

Used only where `gpu_kernels_active()` says so: the default device is a CUDA GPU and neither
`MLX_AUDIO_LAB_PLAIN_MATH=1` nor `MLX_AUDIO_LAB_GPU_KERNELS=0` is set. On a Mac or the CPU the plain ops run.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable

import mlx.core as mx

from ..fast_math import PLAIN_ENV

GPU_KERNELS_ENV = "MLX_AUDIO_LAB_GPU_KERNELS"


def gpu_kernels_active() -> bool:
    """True when the custom CUDA kernels should run (CUDA default device, not turned off)."""
    if os.environ.get(PLAIN_ENV) == "1" or os.environ.get(GPU_KERNELS_ENV) == "0":
        return False
    return mx.default_device() == mx.gpu and mx.cuda.is_available()


_checked: dict[str, bool] = {}


def self_checked(name: str, check: Callable[[], bool]) -> bool:
    """Whether kernel `name` passed `check()` (run once per process: the kernel on a small input against the plain
    MLX op). A kernel that fails to build or disagrees is turned off with a warning, and the plain op runs."""
    if name not in _checked:
        try:
            ok = bool(check())
            why = "its result differs from the plain MLX op"
        except Exception as e:  # a CUDA build or launch error surfaces when the kernel's graph is evaluated
            if "transformation" in str(e):  # called inside mx.compile / vmap, where nothing may be evaluated
                return False  # the plain op this time, the check at the next call outside
            ok, why = False, f"{type(e).__name__}: {e}"
        if not ok:
            warnings.warn(f"mlx_audio_lab: GPU kernel {name} turned off ({why}); the plain MLX op runs", stacklevel=2)
        _checked[name] = ok
    return _checked[name]
