"""Spark-TTS checkpoints -> MLX parameters: BiCodec's `model.safetensors` and the wav2vec2 feature model.

BiCodec: weight norm folded first (`weight_g/_v` or `parametrizations.weight.original0/1`, dim 0), Snake's
alpha (1, C, 1) flattened; then the table renames the few modules whose MLX names differ and re-lays-out the
convolutions. Training-only parts are dropped: the post-net (feature prediction loss), ECAPA's x-vector head
(pooling, batch norm, linear), batch norms' step counters. The LLM is a plain Qwen2 (`generation.backbone`).
"""

from __future__ import annotations

import numpy as np

from ....convert.keymap import KeyMap, Rule, fold_weight_norm
from ...stt.wav2vec2.convert import HF as WAV2VEC2_HF
from ...stt.wav2vec2.convert import fold_positional_weight_norm

_RES = (("0", "snake1"), ("1", "conv1"), ("2", "snake2"), ("3", "conv2"))


def _wave_generator_rules(n: int) -> list[Rule]:
    """WaveGenerator's `model.N` Sequential -> the DAC decoder's names, for `n` upsampling stages."""
    d, rules = r"decoder\.model", []
    rules += [Rule(rf"{d}\.0\.weight", "decoder.conv1.weight", "conv1d"), Rule(rf"{d}\.0\.bias", "decoder.conv1.bias"),
              Rule(rf"{d}\.{n + 1}\.alpha", "decoder.snake1.alpha"),
              Rule(rf"{d}\.{n + 2}\.weight", "decoder.conv2.weight", "conv1d"),
              Rule(rf"{d}\.{n + 2}\.bias", "decoder.conv2.bias")]
    for i in range(n):
        b = rf"{d}\.{i + 1}\.block"
        rules += [Rule(rf"{b}\.0\.alpha", f"decoder.block.{i}.snake1.alpha"),
                  Rule(rf"{b}\.1\.weight", f"decoder.block.{i}.conv_t1.weight", "conv_transpose1d"),
                  Rule(rf"{b}\.1\.bias", f"decoder.block.{i}.conv_t1.bias")]
        for u in range(3):
            for src, dst in _RES:
                unit = rf"{b}\.{u + 2}\.block\.{src}"
                name = f"decoder.block.{i}.res_unit{u + 1}.{dst}"
                if dst.startswith("snake"):
                    rules.append(Rule(rf"{unit}\.alpha", f"{name}.alpha"))
                else:
                    rules += [Rule(rf"{unit}\.weight", f"{name}.weight", "conv1d"),
                              Rule(rf"{unit}\.bias", f"{name}.bias")]
    return rules


def bicodec_keymap(n_rates: int) -> KeyMap:
    """`spark_tts_lib` BiCodec state dict (weight norm folded) -> the MLX BiCodec."""
    ecapa = r"speaker_encoder\.speaker_encoder"
    return KeyMap(name="spark/bicodec", rules=[
        Rule(r"postnet\..+", None),  # trains the encoder to predict features; unused by tokens and audio
        Rule(rf"{ecapa}\.(?:pool|bn|linear|bn2)\..+", None),  # the x-vector head (a training output)
        Rule(r".+\.num_batches_tracked", None),
        Rule(r"quantizer\.cluster_size", None),  # codebook usage counted in training
        Rule(r".*mel_transformer\..+", None),  # torchaudio's window and filter bank (recomputed)
        *_wave_generator_rules(n_rates),
        Rule(rf"({ecapa}\..*(?:conv|convs\.\d+))\.weight", r"\1.weight", "conv1d"),
        # depthwise (groups = channels): torch (C, 1, k) -> MLX (C, k, 1), the plain conv re-layout
        Rule(r"(.+)\.de_conv_upsampler\.1\.weight", r"\1.de_conv_upsampler.weight", "conv1d"),
        Rule(r"(.+)\.de_conv_upsampler\.1\.bias", r"\1.de_conv_upsampler.bias"),
        Rule(r"(.+)\.conv_downsampler\.1\.weight", r"\1.conv_downsampler.weight", "conv1d"),
        Rule(r"(.+)\.conv_downsampler\.1\.bias", r"\1.conv_downsampler.bias"),
        Rule(r"(.+\.(?:embed|dwconv))\.weight", r"\1.weight", "conv1d"),
        Rule(r"quantizer\.in_project\.weight", "quantizer.in_proj.weight", "conv1d"),
        Rule(r"quantizer\.out_project\.weight", "quantizer.out_proj.weight", "conv1d"),
        Rule(r"quantizer\.(in|out)_project\.bias", r"quantizer.\1_proj.bias"),
        Rule(r"(.*perceiver_sampler\.layers\.\d+\.1)\.0\.(weight|bias)", r"\1.proj_in.\2"),
        Rule(r"(.*perceiver_sampler\.layers\.\d+\.1)\.2\.(weight|bias)", r"\1.proj_out.\2"),
        Rule(r"(.*perceiver_sampler)\.norm\.gamma", r"\1.norm_gamma"),
        Rule(r"(.+)", r"\1"),
    ])


def prepare_bicodec(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Fold weight norm (torch's default dim 0, for convs and transposed convs) and flatten Snake's alpha."""
    out = fold_weight_norm(state, dim=0)
    return {k: v.reshape(-1) if k.endswith(".alpha") else v for k, v in out.items()}


# wav2vec2-large-xlsr-53: a `Wav2Vec2ForPreTraining` checkpoint (`wav2vec2.` prefix, quantizer and projections
# for the contrastive task) or a bare `Wav2Vec2Model` (no prefix); both -> the MLX model under `wav2vec2.`.
WAV2VEC2 = KeyMap(name="spark/wav2vec2", rules=[
    Rule(r"(?:quantizer|project_q|project_hid|dropout_features|lm_head)\..+", None),
    *WAV2VEC2_HF.rules,
])


def prepare_wav2vec2(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Add the `wav2vec2.` prefix where a bare Wav2Vec2Model was saved; fold the positional conv's weight norm."""
    state = {k if k.startswith(("wav2vec2.", "quantizer.", "project_")) else f"wav2vec2.{k}": v
             for k, v in state.items()}
    return fold_positional_weight_norm(state)
