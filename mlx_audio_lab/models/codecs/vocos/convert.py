"""Vocos checkpoints (`pytorch_model.bin`) -> MLX parameters: a key-map table (data) and the codebook size.

Names already match; the table transposes the two convolutions to channels-last and drops buffers the port
recomputes with `dsp` (the STFT windows and the mel filter bank). The EnCodec variant's file holds only
`feature_extractor.codebook_weights` of EnCodec (its encoder is not shipped; `from_pretrained` adds it).
"""

from __future__ import annotations

import math

import numpy as np

from ....convert.keymap import KeyMap, Rule

KEYMAP = KeyMap(
    name="vocos/upstream",
    rules=[
        Rule(r"(backbone\.embed\.weight)", r"\1", "conv1d"),
        Rule(r"(backbone\.convnext\.\d+\.dwconv\.weight)", r"\1", "conv1d"),  # depthwise (dim, 1, 7)
        Rule(r"(backbone\.(?:embed|convnext\.\d+\.dwconv)\.bias)", r"\1"),
        Rule(r"(backbone\.(?:convnext\.\d+\.)?norm\.(?:weight|bias|scale\.weight|shift\.weight))", r"\1"),
        Rule(r"(backbone\.convnext\.\d+\.(?:pwconv[12]\.(?:weight|bias)|gamma))", r"\1"),
        Rule(r"(backbone\.final_layer_norm\.(?:weight|bias))", r"\1"),
        Rule(r"(head\.out\.(?:weight|bias))", r"\1"),
        Rule(r"(feature_extractor\.codebook_weights)", r"\1"),
        # recomputed by dsp: hann windows and the HTK mel filter bank (torchaudio buffers)
        Rule(r"head\.istft\.window", None),
        Rule(r"feature_extractor\.mel_spec\.(?:spectrogram\.window|mel_scale\.fb)", None),
        # the EnCodec model itself, if a file carries it: its codebooks are already in codebook_weights
        Rule(r"feature_extractor\.encodec\..+", None),
    ],
)


def codebook_layout(rows: int, max_bandwidth: float, frame_rate: float) -> tuple[int, int]:
    """(codebook_size, num_quantizers) of a stacked `codebook_weights` with `rows` rows.

    EnCodec keeps floor(bandwidth / (log2(bins) * frame_rate)) codebooks of `bins` rows each: the one
    power of two `bins` for which that count times `bins` equals `rows`.
    """
    for bits in range(1, 21):
        n_q = int(max(1, math.floor(max_bandwidth * 1000 / (bits * frame_rate))))
        if n_q * 2 ** bits == rows:
            return 2 ** bits, n_q
    raise ValueError(f"codebook_weights has {rows} rows: no EnCodec layout for {max_bandwidth} kbps")


def codebook_rows(state: dict[str, np.ndarray]) -> int | None:
    """Rows of the EnCodec variant's stacked codebooks (None for the mel variant)."""
    w = state.get("feature_extractor.codebook_weights")
    return None if w is None else int(w.shape[0])


# mlx-community/vocos-* (read by mlx-audio's `Vocos.from_pretrained`): the upstream `config.yaml` and the upstream
# state dict saved as `model.safetensors`: upstream names, PyTorch layouts (mlx-audio transposes the two convs
# and drops the windows when it loads). `KEYMAP` reads it as is; this table writes it.
TO_MLX_COMMUNITY = KeyMap(
    name="vocos/to-mlx-community",
    rules=[
        Rule(r"(backbone\.(?:embed|convnext\.\d+\.dwconv)\.weight)", r"\1", "conv1d"),  # (out, k, in) -> (out, in, k)
        Rule(r"((?:backbone|head|feature_extractor)\..+)", r"\1"),
    ],
)
