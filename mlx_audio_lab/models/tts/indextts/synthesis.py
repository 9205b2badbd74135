"""IndexTTS 2's audio stage in Python: mel codes -> GPT latents (teacher-forced) -> s2mel (flow matching from the
prompt's mel, speaker style) -> BigVGAN v2 22 kHz 80 band -> audio. The semantic embeddings of the codes and of the
prompt (MaskGCT's semantic codec in upstream) and the CAMPPlus style are inputs here."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import mlx.core as mx
import numpy as np

from .latent import code_latents
from .s2mel import S2Mel, prompt_mel, target_frames

if TYPE_CHECKING:
    from .model import IndexTTS


def vocoder_folder(folder: str | Path) -> Path:
    """The BigVGAN folder config.yaml's `vocoder.name` points to: a subfolder, or a hub id / local path."""
    from ....hub import resolve
    from .config_file import read_yaml

    name = read_yaml(folder).get("vocoder", {}).get("name", "nvidia/bigvgan_v2_22khz_80band_256x")
    local = Path(folder) / name
    return local if local.is_dir() else resolve(name)


def load_vocoder(folder: str | Path):
    """The MLX BigVGAN of an IndexTTS 2 folder (`models/codecs/bigvgan`)."""
    from ...codecs.bigvgan import load_model

    return load_model(vocoder_folder(folder))


CAMPPLUS_FILE = "campplus_cn_common.bin"  # infer_v2 fetches it from funasr/campplus; here it sits in the folder


def load_campplus(folder: str | Path, dtype: mx.Dtype = mx.float32):
    """The style encoder (`layers.campplus.CAMPPlus`, 80 fbank bins -> 192) from `campplus_cn_common.bin`."""
    from ....convert.keymap import KeyMap
    from ....convert.loading import fill_model
    from ....convert.readers import read_file
    from ....layers.campplus import CAMPPlus, campplus_rules

    path = Path(folder) / CAMPPLUS_FILE
    return fill_model(CAMPPlus(80, 192), read_file(path), KeyMap(campplus_rules(), "indextts/campplus"), {}, path,
                      dtype)


def style_from_clip(campplus, audio_16k: np.ndarray) -> mx.array:
    """infer_v2's style vector (1, 192): the 16 kHz clip's Kaldi fbank, mean removed, through CAMPPlus."""
    return campplus.embed(np.asarray(audio_16k, np.float32))


def mel_from_codes(gpt: IndexTTS, s2mel: S2Mel, features: np.ndarray, text: np.ndarray, codes: np.ndarray,
                   semantic: np.ndarray, prompt_semantic: np.ndarray, prompt_audio: np.ndarray, style: np.ndarray,
                   noise: np.ndarray | None = None, steps: int = 25, cfg_rate: float = 0.7, seed: int = 0) -> mx.array:
    """Codes (1, N) without the stop code, their semantic embedding (1, N, 1024), the prompt's (1, M, 1024), the
    prompt clip at 22.05 kHz and the style (1, 192) -> the target's mel (1, frames, 80)."""
    latent = code_latents(gpt, features, text, codes)
    mel_p = prompt_mel(prompt_audio, s2mel.config.mel)
    return s2mel(latent, mx.array(semantic), mx.array(prompt_semantic), mel_p, mx.array(style),
                 None if noise is None else mx.array(noise), steps, cfg_rate, seed)


def audio_from_mel(vocoder, mel: mx.array) -> np.ndarray:
    """(1, frames, 80) log-mel -> (frames * 256,) float32 audio at 22.05 kHz in [-1, 1]."""
    return np.array(vocoder.decode_batch(mel)[0])


def until_stop(codes: np.ndarray, stop: int) -> np.ndarray:
    """(1, S) generated codes -> (1, N): cut at the first stop code, as infer_v2 does before the latent pass."""
    row = np.asarray(codes)[0]
    hits = np.flatnonzero(row == stop)
    return np.asarray(codes)[:, : int(hits[0]) if hits.size else row.size]


def clone(gpt: IndexTTS, s2mel: S2Mel, semantic, campplus, vocoder, voice_16k: np.ndarray, voice_22k: np.ndarray,
          text: np.ndarray, noise: np.ndarray | None = None, steps: int = 25, cfg_rate: float = 0.7,
          max_codes: int | None = None, seed: int = 0, sampling=None, draws=None) -> dict[str, np.ndarray]:
    """`IndexTTS2.infer` from a voice clip and text ids, greedy: w2v-BERT features of the clip (16 kHz) condition
    the GPT; its codes (until the stop code), their GPT latents and semantic embedding, the clip's quantized
    embedding, mel (22.05 kHz) and CAMPPlus style drive s2mel; BigVGAN speaks. `noise` (1, >= frames, 80): the
    ODE's start, cut to length; `sampling` / `draws`: the codes' SamplingConfig (greedy by default) and draws.
    Returns codes (1, N), mel (1, frames, 80), audio (frames * 256,)."""
    from ....generation.sampling import GREEDY
    from .generate import generate_codes

    feats, _, prompt_semantic = semantic.features(voice_16k)  # (1, T, 1024) each
    feats = np.array(feats)
    codes = np.array([[s.token for s in generate_codes(gpt, feats, text, sampling or GREEDY, draws,
                                                                  max_steps=max_codes)]], dtype=np.int64)
    codes = until_stop(codes, gpt.config.stop_mel_token)
    if codes.shape[1] == 0:
        raise ValueError("the GPT wrote the stop code first: no mel codes, so no audio; try another seed or text")
    style = style_from_clip(campplus, voice_16k)
    mel_p = prompt_mel(voice_22k, s2mel.config.mel)
    if noise is not None:
        noise = mx.array(noise[:, : mel_p.shape[1] + target_frames(codes.shape[1])])
    mel = s2mel(code_latents(gpt, feats, text, codes), semantic.vq2emb(mx.array(codes)), prompt_semantic, mel_p,
                style, noise, steps, cfg_rate, seed)
    return {"codes": codes, "mel": np.array(mel), "audio": audio_from_mel(vocoder, mel)}
