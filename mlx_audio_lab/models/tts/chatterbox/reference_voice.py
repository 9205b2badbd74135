"""The PyTorch side of voice cloning: the package's `ChatterboxTTS.prepare_conditionals` on a clip, then greedy T3.

Upstream S3Gen builds its S3 tokenizer (`chatterbox.models.s3tokenizer.S3Tokenizer`, an `S3TokenizerV2` with its own
log-mel) at the real sizes only; here it is built at the checkpoint's sizes (read off `tokenizer.*`), in the
reference run only, and sits in a stand-in `S3Token2Mel` with the fixture's CAMPPlus and flow, so `embed_ref` and
`prepare_conditionals` run as the package wrote them.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .reference_s3gen import load_s3gen_reference, stub_perth
from .reference_speaker import load_ve_reference
from .reference_t3 import load_t3_reference, run_t3_reference

TOKENIZER_PREFIX = "tokenizer."


@contextmanager
def _default_tokenizer_config(sizes: dict):
    """`S3TokenizerV2.__init__`'s default config set to `sizes` (Chatterbox's subclass passes none)."""
    from s3tokenizer.model_v2 import ModelConfig, S3TokenizerV2

    init = S3TokenizerV2.__init__
    saved = init.__defaults__
    init.__defaults__ = (ModelConfig(**sizes),)
    try:
        yield
    finally:
        init.__defaults__ = saved


def chatterbox_speech_tokenizer(sizes: dict):
    """The package's `S3Tokenizer` (S3Gen's `tokenizer`) at `sizes` (ModelConfig fields), fp32 eval."""
    stub_perth()
    from chatterbox.models.s3tokenizer import S3Tokenizer
    from s3tokenizer.model_v2 import ModelConfig

    with _default_tokenizer_config(sizes):
        return S3Tokenizer("speech_tokenizer_v2_25hz", ModelConfig(**sizes)).eval()


def build_speech_tokenizer(size: str = "tiny") -> dict:
    """S3Gen's `tokenizer.*` weights: the s3_tokenizer port's seeded fixture model (the `s3tokenizer` package's
    class), placed in Chatterbox's subclass, which adds its mel filters and window."""
    from ...codecs.s3_tokenizer.reference import SIZES, build_model

    model = chatterbox_speech_tokenizer({k: v for k, v in SIZES[size].items() if k != "use_sdpa"})
    missing, unexpected = model.load_state_dict(build_model(size).state_dict(), strict=False)
    assert set(missing) <= {"_mel_filters", "window"} and not unexpected, (missing, unexpected)
    return {TOKENIZER_PREFIX + k: v.contiguous() for k, v in model.state_dict().items()}


def load_speech_tokenizer_reference(folder: Path):
    """S3Gen's tokenizer from `s3gen.safetensors`, sizes read off its weights, loaded strictly."""
    from safetensors.torch import load_file

    from ...codecs.s3_tokenizer.config import S3TokenizerConfig

    n = len(TOKENIZER_PREFIX)
    state = {k[n:]: v for k, v in load_file(str(Path(folder) / "s3gen.safetensors")).items()
             if k.startswith(TOKENIZER_PREFIX)}
    sizes = S3TokenizerConfig.sizes_from_shapes({k: tuple(v.shape) for k, v in state.items()})
    model = chatterbox_speech_tokenizer(sizes)
    model.load_state_dict(state, strict=True)
    return model.float().eval()


def reference_tts(folder: Path):
    """`ChatterboxTTS` of the package on the folder's T3, VoiceEncoder, text tokenizer and an S3Token2Mel holding
    the fixture's CAMPPlus and flow and the tokenizer above (no built-in voice)."""
    import torch

    stub_perth()
    from chatterbox.models.s3gen.s3gen import S3Token2Mel
    from chatterbox.models.s3gen.utils.mel import mel_spectrogram
    from chatterbox.models.tokenizers import EnTokenizer
    from chatterbox.tts import ChatterboxTTS

    parts = load_s3gen_reference(folder)
    s3gen = S3Token2Mel.__new__(S3Token2Mel)  # its __init__ builds the real-size modules
    torch.nn.Module.__init__(s3gen)
    s3gen.tokenizer = load_speech_tokenizer_reference(folder)
    s3gen.mel_extractor, s3gen.resamplers = mel_spectrogram, {}
    s3gen.speaker_encoder, s3gen.flow = parts.speaker_encoder, parts.flow
    return ChatterboxTTS(load_t3_reference(folder), s3gen, load_ve_reference(folder),
                         EnTokenizer(str(Path(folder) / "tokenizer.json")), "cpu")


def run_voice_reference(folder: Path, clip: Path, text: str, max_new_tokens: int, exaggeration: float = 0.5,
                        cfg_weight: float = 0.5) -> dict[str, np.ndarray]:
    """`prepare_conditionals(clip)`, then the package's T3 greedy (argmax on its guided, penalised logits) on
    `text`: the conditionals and the speech tokens."""
    stub_perth()
    from chatterbox.tts import punc_norm

    tts = reference_tts(folder)
    logging.disable(logging.WARNING)  # embed_ref logs (root logger) that it cuts the tokens to the mel: expected
    try:
        tts.prepare_conditionals(str(clip), exaggeration=exaggeration)
    finally:
        logging.disable(logging.NOTSET)
    t3, gen = tts.conds.t3, tts.conds.gen
    text_ids = tts.tokenizer.text_to_tokens(punc_norm(text))[0].numpy()
    inputs = {"text_tokens": text_ids, "speaker": t3.speaker_emb.numpy(),
              "t3_prompt_tokens": t3.cond_prompt_speech_tokens.numpy(),
              "exaggeration": np.array([exaggeration], np.float32), "cfg_weight": np.array([cfg_weight], np.float32)}
    _, tokens, _ = run_t3_reference(tts.t3, inputs, max_new_tokens)
    return {**inputs, "speech_tokens": tokens, "prompt_tokens": gen["prompt_token"].numpy(),
            "prompt_mel": gen["prompt_feat"].numpy(), "xvector": gen["embedding"].detach().numpy()}
