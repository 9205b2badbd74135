"""`mlx-audio-lab speak` with IndexTTS 2 end to end on the fixture (trained bpe.model, semantic front end, GPT, s2mel,
CAMPPlus, BigVGAN): the codes equal `synthesis.clone` fed upstream's `TextTokenizer` ids for the same text, and the
wav is that chain's audio. (`synthesis.clone` itself is proven against infer_v2's steps in test_indextts_clone.)"""

from __future__ import annotations

import numpy as np
import pytest

from mlx_audio_lab.fixtures import build

TEXT = "Hello world, how are you?"  # one sentence (speak splits sentences), under 40 text tokens
MAX_CODES = 30


@pytest.fixture(scope="module")
def folder():
    return build("indextts")


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    from mlx_audio_lab.audio import save_audio
    from mlx_audio_lab.parity.inputs import spoken_or_noise

    path = tmp_path_factory.mktemp("voice") / "voice.wav"
    save_audio(path, spoken_or_noise("harbor", 22050)[:22050], 22050)  # 1 s of espeak-ng
    return path


def test_speak_cli_equals_clone_on_upstream_ids(folder, clip, tmp_path):
    import soundfile as sf
    from indextts.utils.front import TextTokenizer

    from mlx_audio_lab import load
    from mlx_audio_lab.audio import load_audio
    from mlx_audio_lab.cli import main
    from mlx_audio_lab.models.tts.indextts import synthesis
    from mlx_audio_lab.models.tts.indextts.s2mel import load_s2mel, target_frames
    from mlx_audio_lab.models.tts.indextts.semantic import load_semantic
    from mlx_audio_lab.models.tts.indextts.text import bpe_path

    out, codes_path = tmp_path / "out.wav", tmp_path / "codes.npy"
    assert main(["speak", "--model", str(folder), TEXT, "--voice", str(clip), "--temperature", "0",
                 "--max-frames", str(MAX_CODES), "--codes-out", str(codes_path), "--out", str(out)]) == 0
    codes = np.load(codes_path)
    audio, rate = sf.read(out, dtype="float32")

    upstream = TextTokenizer(str(bpe_path(folder)), normalizer=None)
    ids = np.array([upstream.convert_tokens_to_ids(upstream.tokenize(TEXT))], np.int64)
    want = synthesis.clone(load(folder), load_s2mel(folder), load_semantic(folder), synthesis.load_campplus(folder),
                           synthesis.load_vocoder(folder), load_audio(clip, 16000), load_audio(clip, 22050), ids,
                           max_codes=MAX_CODES, seed=0)
    assert codes.shape[0] == 1 and codes.shape[1] >= 4 and np.array_equal(codes, want["codes"])
    assert len(set(codes[0].tolist())) >= 3
    assert rate == 22050 and audio.shape == want["audio"].shape == (target_frames(codes.shape[1]) * 256,)
    assert np.abs(audio - want["audio"]).max() <= 1e-5 and audio.std() > 0.01


def test_speak_refuses_without_a_voice_and_unnormalised_text(folder, clip, tmp_path, capsys):
    from mlx_audio_lab.cli import main

    assert main(["speak", "--model", str(folder), TEXT, "--out", str(tmp_path / "a.wav")]) == 2
    assert "no built-in voice" in capsys.readouterr().err
    assert main(["speak", "--model", str(folder), "It costs 20%.", "--voice", str(clip),
                 "--out", str(tmp_path / "b.wav")]) == 2
    err = capsys.readouterr().err
    assert "spell it out" in err and "'%'" in err and "'2'" in err and not (tmp_path / "b.wav").exists()
