"""IndexTTS 2 end to end in Python (voice clip + text ids -> audio): the w2vbert branch's semantic front end, the GPT
stage, s2mel, CAMPPlus and BigVGAN against `IndexTTS2.infer`'s steps on the upstream modules, same noise."""

from __future__ import annotations

import numpy as np
import pytest

from mlx_audio_lab.fixtures import build
from mlx_audio_lab.models.tts.indextts import reference as ref


@pytest.fixture(scope="module")
def folders():
    return build("indextts"), build("indextts_semantic", "wide")


def test_clone_from_a_voice_clip_matches_infer_v2(folders):
    from mlx_audio_lab import load
    from mlx_audio_lab.models.tts.indextts import synthesis
    from mlx_audio_lab.models.tts.indextts.s2mel import load_s2mel
    from mlx_audio_lab.models.tts.indextts.semantic import load_semantic
    from mlx_audio_lab.parity.inputs import spoken_or_noise

    folder, sem_folder = folders
    voice16 = spoken_or_noise("harbor", 16000)[:16000]
    voice22 = spoken_or_noise("harbor", 22050)[:22050]
    text = ref.parity_inputs(folder)["text"]
    noise = np.random.default_rng(7).standard_normal((1, 400, 80)).astype(np.float32)
    got = synthesis.clone(load(folder), load_s2mel(folder), load_semantic(sem_folder), synthesis.load_campplus(folder),
                          synthesis.load_vocoder(folder), voice16, voice22, text, noise, max_codes=ref.PARITY_STEPS)
    want = ref.reference_clone(folder, sem_folder, voice16, voice22, text, noise)
    assert np.array_equal(got["codes"], want["codes"]) and got["codes"].shape[1] >= 4
    assert len(set(got["codes"][0].tolist())) >= 3
    assert np.abs(np.swapaxes(got["mel"], 1, 2) - want["mel"]).max() <= 1e-4
    assert got["audio"].shape == want["audio"].shape and np.abs(got["audio"] - want["audio"]).max() <= 1e-4
    assert want["audio"].std() > 0.01
