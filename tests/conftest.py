"""Shared fixtures: checkpoints and clips come from `mlx_audio_lab.fixtures`, built once into the cache."""

from __future__ import annotations

import shutil

import pytest

import mlx_audio_lab  # noqa: F401  (OpenBLAS before MLX)


@pytest.fixture(scope="session")
def whisper_fixture():
    """Folder of the tiny random Whisper in the Hugging Face layout."""
    from mlx_audio_lab.fixtures import build

    return build("whisper")


@pytest.fixture(scope="session")
def espeak():
    """Skip when espeak-ng (real speech) is missing."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng); speech clips unavailable")
    return True


@pytest.fixture
def fast_math_on():
    """The fast CPU paths on for one test (whatever the environment says), the setting restored after."""
    from mlx_audio_lab.layers import fast_math as fm

    before = fm._enabled
    fm.set_fast_math(True)
    yield
    fm._enabled = before
