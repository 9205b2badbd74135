"""The PyTorch side: `s3tokenizer.model_v2.S3TokenizerV2` and its log-mel, the fixture (upstream layout), the tap map.

The real weights are an ONNX file downloaded at run time (`s3tokenizer.load_model`), so parity here is proven on
seeded fixtures saved as the state dict `S3TokenizerV2.init_from_pt` reads, plus a `config.json` of its
`ModelConfig` fields.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ....parity import TapPoint
from .clips import speech_clip

NAME = "speech_tokenizer_v2_25hz"
WEIGHTS = f"{NAME}.pt"
REAL = dict(n_mels=128, n_audio_ctx=1500, n_audio_state=1280, n_audio_head=20, n_audio_layer=6,
            n_codebook_size=3**8, use_sdpa=False)
SIZES = {
    "tiny": {**REAL, "n_audio_state": 128, "n_audio_head": 2, "n_audio_layer": 2},  # heads stay 64 wide (rotary)
    "real": REAL,
}
PRE_TANH_STD = 1.0  # fixture projections ~ N(0, 1): about 58 % of the 8 values round away from 0, tokens vary
TIE_EPS = 1e-4  # a differing token is a tie when one of its squashed values lies this close to +-0.5


def _config(folder: Path) -> dict:
    path = Path(folder) / "config.json"
    return json.loads(path.read_text()) if path.is_file() else dict(REAL)


def tap_points(folder: Path) -> list[TapPoint]:
    """MLX tap name -> module of the reference (or a value run_reference records), in forward order."""
    pts = [TapPoint("mel", "mel", layout="channels_first"),
           TapPoint("encoder.conv1", "encoder.conv1", layout="channels_first"),
           TapPoint("encoder.conv2", "encoder.conv2", layout="channels_first")]
    for i in range(int(_config(folder)["n_audio_layer"])):
        b = f"encoder.blocks.{i}"
        pts += [TapPoint(f"{b}.attn.fsmn_block", f"{b}.attn.fsmn_block", layout="channels_first"),
                TapPoint(f"{b}.attn", f"{b}.attn"), TapPoint(b, b)]
    return pts + [TapPoint("quantizer.project_down", "quantizer._codebook.project_down"),
                  TapPoint("quantizer.values", "quantizer.values")]


def _model(config: dict):
    from s3tokenizer.model_v2 import ModelConfig, S3TokenizerV2

    return S3TokenizerV2(NAME, ModelConfig(**config)).eval()  # a fresh config: the default one is shared


def build_fixture(folder: Path, size: str = "tiny") -> None:
    """A seeded random `S3TokenizerV2` saved as `init_from_pt` reads it; the FSQ projection scaled on real speech
    so each of its 8 values rounds to -1, 0 and 1 (tokens that vary)."""
    import torch

    from ....fixtures import randomize_

    torch.manual_seed(0)
    config = SIZES[size]
    model = _model(config)
    randomize_(model, seed=0, std=0.05)
    hidden = reference_hidden(model, speech_clip(0))[0]  # (T, C)
    proj = model.quantizer._codebook.project_down
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        centred = hidden - hidden.mean(0)
        w = torch.randn(proj.weight.shape, generator=g)
        scale = PRE_TANH_STD / (centred @ w.T).std(0)  # per output value
        proj.weight.copy_(w * scale[:, None])
        proj.bias.copy_(-(hidden.mean(0) @ proj.weight.T))
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    torch.save(model.state_dict(), folder / WEIGHTS)


def convert_onnx(onnx_path: Path, folder: Path) -> None:
    """The real ONNX file -> `folder` with `config.json` (the real sizes) and the state dict `s3tokenizer`'s
    `onnx2torch` makes of it (exactly what `S3TokenizerV2.init_from_onnx` loads)."""
    import torch
    from s3tokenizer import onnx2torch

    state = onnx2torch(str(onnx_path), None, False)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(REAL, indent=2))
    torch.save({k: v.contiguous() for k, v in state.items()}, folder / WEIGHTS)


def reference_mel(audio: np.ndarray):
    """`s3tokenizer.log_mel_spectrogram` of 16 kHz audio: (128, frames) torch tensor."""
    import torch
    from s3tokenizer import log_mel_spectrogram

    return log_mel_spectrogram(torch.from_numpy(np.asarray(audio, np.float32)))


def reference_hidden(model, audio: np.ndarray):
    """The reference encoder's output (1, T, C) on a clip."""
    import torch

    mel = reference_mel(audio)[None]
    with torch.no_grad():
        hidden, _ = model.encoder(mel, torch.tensor([mel.shape[-1]]))
    return hidden


def load_reference(folder: Path):
    """`S3TokenizerV2` with the folder's sizes and weights (weights_only load), fp32, eval mode."""
    import torch

    folder = Path(folder)
    model = _model(_config(folder))
    model.load_state_dict(torch.load(folder / WEIGHTS, map_location="cpu", weights_only=True), strict=True)
    return model.float().eval()


def reference_tokens(model, audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(tokens (T,), squashed FSQ values (T, 8)) of the reference `quantize` on a clip; over 30 s the values of its
    windows are merged as its tokens are (`merge_tokenized_segments`)."""
    import torch
    from s3tokenizer import merge_tokenized_segments

    from ....parity.torch_hooks import capture_torch

    mel = reference_mel(audio)[None]
    frames = mel.shape[-1]
    proj = "quantizer._codebook.project_down"
    acts, (tokens, lengths) = capture_torch(model, [proj], lambda: model.quantize(mel, torch.tensor([frames])))
    values = np.tanh(acts[proj]) * np.float32(0.9990000128746033)  # (windows x window tokens, 8)
    n = int(lengths[0])
    if frames > 3000:  # the reference's 30 s windows every 26 s, 2 s of each overlap side dropped
        per_window = [((min(3000, frames - s) - 1) // 2) // 2 + 1 for s in range(0, frames, 2600)]
        rows = values.reshape(len(per_window), -1, values.shape[-1])
        values = np.asarray(merge_tokenized_segments([r[:k] for r, k in zip(rows, per_window)], overlap=4,
                                                     token_rate=25))
    return tokens[0, :n].numpy().astype(np.int64), values[:n]


def parity_inputs(folder: Path, clip: int = 0) -> dict[str, np.ndarray]:
    """The first real clip of the `s3tokenizer` wheel (16 kHz speech, ~4 s)."""
    return {"audio": speech_clip(clip)}


def run_reference(folder: Path, inputs: dict[str, np.ndarray]):
    """Log-mel, then `quantize` with hooks on every tapped module; the squashed FSQ values recorded too."""
    import torch

    from ..reference import capture_reference

    model = load_reference(folder)
    mel = reference_mel(inputs["audio"])

    def run():
        return model.quantize(mel[None], torch.tensor([mel.shape[-1]]))

    acts, (tokens, lengths) = capture_reference(model, tap_points(folder), run)
    acts["mel"] = mel.numpy()
    proj = "quantizer._codebook.project_down"
    acts[proj] = acts[proj].reshape(1, -1, acts[proj].shape[-1])  # the reference flattens (B, T) before projecting
    acts["quantizer.values"] = np.tanh(acts["quantizer._codebook.project_down"]) * np.float32(0.9990000128746033)
    tokens = tokens[0, : int(lengths[0])].numpy().astype(np.int64)
    return acts, {"tokens": tokens, "values": acts["quantizer.values"][0]}


def run_mlx(folder: Path, inputs: dict[str, np.ndarray]):
    """The port on the same clip, taps on: tokens and squashed FSQ values."""
    from ....taps import capture
    from .load import load_model

    model = load_model(folder)
    with capture() as acts:
        tokens = model.tokenize(inputs["audio"])
    acts = {k: np.array(v) for k, v in acts.items()}
    return acts, {"tokens": tokens, "values": acts["quantizer.values"][0]}


def token_agreement(got: np.ndarray, want: np.ndarray, ref_values: np.ndarray, eps: float = TIE_EPS) -> dict:
    """Agreement of two token streams; each differing frame checked for a tie (a reference FSQ value within eps
    of the +-0.5 rounding boundary)."""
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape:
        return {"frames": int(want.size), "agree": 0.0, "differ": int(want.size), "ties": 0, "all_ties": False}
    differ = np.flatnonzero(got != want)
    gap = np.abs(np.abs(np.asarray(ref_values)[differ]) - 0.5).min(axis=-1) if differ.size else np.zeros(0)
    ties = int((gap <= eps).sum())
    return {"frames": int(want.size), "agree": float(1 - differ.size / max(want.size, 1)),
            "differ": int(differ.size), "ties": ties, "all_ties": ties == differ.size,
            "max_gap": float(gap.max()) if gap.size else 0.0}


def outputs_match(mlx_out: dict[str, np.ndarray], ref_out: dict[str, np.ndarray]) -> tuple[bool, str]:
    """Tokens identical but for ties (shown with their distance to the boundary), and varied."""
    from ....parity import sig1

    want = np.asarray(ref_out["tokens"])
    a = token_agreement(mlx_out["tokens"], want, ref_out["values"])
    distinct = len(np.unique(want))
    if a["differ"] == 0:
        note = f"tokens identical ({a['frames']} frames at 25 Hz, {distinct} distinct)"
    else:
        note = (f"tokens agree on {100 * a['agree']:.2f}% of {a['frames']} frames; {a['differ']} differ, "
                f"{a['ties']} of them ties (FSQ value within {sig1(a['max_gap'])} of +-0.5)")
    return a["all_ties"] and distinct >= 2, note


def report_extras(folder: Path, inputs: dict[str, np.ndarray], mlx_out: dict[str, np.ndarray]) -> dict:
    """The squashed values' closest approach to a rounding boundary on this clip (how near a tie came)."""
    values = np.asarray(mlx_out["values"])
    return {"closest_to_boundary": float(np.abs(np.abs(values) - 0.5).min())}
