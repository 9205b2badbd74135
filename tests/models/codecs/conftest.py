"""The codec tests' speech clip: espeak's "harbor" at the module's model rate."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def clip(espeak, model) -> np.ndarray:
    from mlx_audio_lab.fixtures.speech import speech

    return speech("harbor", model.sample_rate)
