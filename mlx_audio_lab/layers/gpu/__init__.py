"""GPU kernels written for MLX's CUDA back end (`mx.fast.cuda_kernel`), each with the plain MLX ops as its fallback.

Used only where `gpu_kernels_active()` says so: the default device is a CUDA GPU and neither
`MLX_AUDIO_LAB_PLAIN_MATH=1` nor `MLX_AUDIO_LAB_GPU_KERNELS=0` is set. On a Mac or the CPU the plain ops run.
"""

from __future__ import annotations

import os

import mlx.core as mx

from ..fast_math import PLAIN_ENV

GPU_KERNELS_ENV = "MLX_AUDIO_LAB_GPU_KERNELS"


def gpu_kernels_active() -> bool:
    """True when the custom CUDA kernels should run (CUDA default device, not turned off)."""
    if os.environ.get(PLAIN_ENV) == "1" or os.environ.get(GPU_KERNELS_ENV) == "0":
        return False
    return mx.default_device() == mx.gpu and mx.cuda.is_available()
