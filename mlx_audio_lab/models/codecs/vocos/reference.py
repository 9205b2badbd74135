"""The PyTorch side of Vocos: the upstream `vocos` classes (built from `config.yaml`), fixtures and taps.

`vocos` imports torchaudio and encodec, neither importable here: `torch_shim.import_vocos` stands in for
torchaudio's MelSpectrogram (re-written in torch) and for the `encodec` package's 24 kHz model (transformers'
EncodecModel of the same weights); every `vocos` class (feature extractors, backbone, ConvNeXt, AdaLayerNorm,
ISTFT head) is the upstream code. The EnCodec-variant fixture carries its EnCodec (a tiny transformers
EncodecModel, the EnCodec port's "tiny" fixture) in `encodec/`, where the real variant downloads
facebook/encodec_24khz.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from ....parity import TapPoint
from ....parity.inputs import spoken_or_noise

_FE = "vocos.feature_extractors."
# Fixture sizes: the real DSP (mel-24khz: n_fft 1024, hop 256, 100 mels; encodec-24khz: n_fft 1280, hop 320)
# with a tiny ConvNeXt; the EnCodec variant's codebooks are the tiny EnCodec's, 4 x 64 of width 16 (0.45 kbps each).
SIZES = {
    "tiny": {
        "feature_extractor": {"class_path": _FE + "MelSpectrogramFeatures", "init_args": dict(
            sample_rate=24000, n_fft=1024, hop_length=256, n_mels=100, padding="center")},
        "backbone": {"class_path": "vocos.models.VocosBackbone", "init_args": dict(
            input_channels=100, dim=32, intermediate_dim=64, num_layers=2)},
        "head": {"class_path": "vocos.heads.ISTFTHead", "init_args": dict(
            dim=32, n_fft=1024, hop_length=256, padding="same")},
    },
    "encodec": {
        "feature_extractor": {"class_path": _FE + "EncodecFeatures", "init_args": dict(
            encodec_model="encodec_24khz", bandwidths=[0.9, 1.8], train_codebooks=False)},
        "backbone": {"class_path": "vocos.models.VocosBackbone", "init_args": dict(
            input_channels=16, dim=32, intermediate_dim=64, num_layers=2, adanorm_num_embeddings=2)},
        "head": {"class_path": "vocos.heads.ISTFTHead", "init_args": dict(
            dim=32, n_fft=1280, hop_length=320, padding="same")},
    },
}


def _config(folder: Path) -> dict:
    return yaml.safe_load((Path(folder) / "config.yaml").read_text())


def _is_encodec(folder: Path) -> bool:
    return _config(folder)["feature_extractor"]["class_path"].endswith("EncodecFeatures")


def _encodec_folder(folder: Path) -> Path:
    """The local folder of the EnCodec variant's EnCodec (`encodec/` in fixtures, else the hub repo)."""
    from ....hub import resolve
    from .config import FeatureConfig
    from .load import encodec_source

    fe = _config(folder)["feature_extractor"]["init_args"]
    return resolve(encodec_source(FeatureConfig(encodec_model=fe.get("encodec_model", "encodec_24khz")), folder))


def tap_points(folder: Path) -> list[TapPoint]:
    """MLX tap name -> module of the upstream model (or a value run_reference records), in forward order."""
    n_layers = _config(folder)["backbone"]["init_args"]["num_layers"]
    cf = "channels_first"
    points = []
    if _is_encodec(folder):  # audio -> codes: EnCodec's encoder layers, inside vocos' EncodecFeatures
        from ..encodec.reference import tap_points as encodec_taps

        points = [TapPoint(p.name, "feature_extractor.encodec." + p.ref, layout=p.layout)
                  for p in encodec_taps(_encodec_folder(folder)) if p.name.startswith("encoder.")]
    points += [TapPoint("feature_extractor", "feature_extractor", layout=cf),
              TapPoint("backbone.embed", "backbone.embed", layout=cf),
              TapPoint("backbone.norm", "backbone.norm")]
    points += [TapPoint(f"backbone.convnext.{i}", f"backbone.convnext.{i}", layout=cf) for i in range(n_layers)]
    points += [TapPoint("backbone.final_layer_norm", "backbone.final_layer_norm"),
               TapPoint("head.out", "head.out"),
               TapPoint("head.magnitude", "head.magnitude", layout=cf),
               TapPoint("head.phase", "head.phase", layout=cf),
               TapPoint("head.istft", "head.istft")]
    return points


def _randomize(model, seed: int) -> None:
    """Seeded weights on the backbone and the head's Linear (buffers such as windows stay as built)."""
    import torch

    from ....fixtures import randomize_

    randomize_(model.backbone, seed=seed, std=0.1)
    randomize_(model.head.out, seed=seed + 1, std=0.1)
    g = torch.Generator().manual_seed(seed + 2)
    with torch.no_grad():
        for block in model.backbone.convnext:  # layer scales around their init (1 / num_layers)
            block.gamma.copy_(0.5 + 0.1 * torch.randn(block.gamma.shape, generator=g))
        half = model.head.out.out_features // 2  # phase rows: spread phases over several turns
        model.head.out.weight[half:].mul_(8.0)
        model.head.out.bias[half:].mul_(8.0)


def build_fixture(folder: Path, size: str = "tiny") -> None:
    """Save a seeded random Vocos as charactr's repos do: `config.yaml` + `pytorch_model.bin` (a state dict);
    the EnCodec variant's stacked codebooks are those of the EnCodec saved in `encodec/`."""
    import torch

    from .torch_shim import encodec_from, import_vocos

    vocos, _ = import_vocos()
    folder = Path(folder)
    (folder / "config.yaml").write_text(yaml.safe_dump(SIZES[size], sort_keys=False))
    if _is_encodec(folder):  # its EnCodec, saved beside it (charactr's repo leaves it to the `encodec` package)
        from ..encodec.reference import build_fixture as build_encodec

        build_encodec(folder / "encodec", "tiny")
    torch.manual_seed(0)
    with encodec_from(folder / "encodec"):
        model = vocos.Vocos.from_hparams(str(folder / "config.yaml")).eval()
    _randomize(model, seed=0)
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("feature_extractor.encodec.")}
    torch.save(state, folder / "pytorch_model.bin")


def load_reference(folder: Path):
    """The upstream Vocos with the folder's weights, as `Vocos.from_pretrained` loads them (offline)."""
    import torch

    from .torch_shim import encodec_from, import_vocos

    vocos, _ = import_vocos()
    folder = Path(folder)
    if _is_encodec(folder):
        with encodec_from(_encodec_folder(folder)):
            model = vocos.Vocos.from_hparams(str(folder / "config.yaml"))
    else:
        model = vocos.Vocos.from_hparams(str(folder / "config.yaml"))
    state = torch.load(folder / "pytorch_model.bin", map_location="cpu", weights_only=True)
    if isinstance(model.feature_extractor, vocos.feature_extractors.EncodecFeatures):
        state.update({"feature_extractor.encodec." + k: v
                      for k, v in model.feature_extractor.encodec.state_dict().items()})
    model.load_state_dict(state)
    return model.eval()


def parity_inputs(folder: Path, clip: str = "harbor") -> dict[str, np.ndarray]:
    """Mel variant: a spoken clip plus seeded noise at -50 dBFS; EnCodec variant: the clean clip and the
    largest bandwidth's id (audio -> EnCodec codes -> features -> audio).

    The noise keeps every mel bin above float32's STFT rounding floor (about 1e-7 of the peak): in the
    near-silent top bands of a clean espeak clip the log amplifies that floor (both sides' rounding) to
    ~0.5 in the log-mel. The clean clip is checked in the tests: decode of the same features, and the
    log-mel where the mel is above that floor.
    """
    cfg = _config(folder)
    sr = cfg["feature_extractor"]["init_args"].get("sample_rate", 24_000)
    audio = spoken_or_noise(clip, sr, seconds=2)[: 3 * sr]
    if _is_encodec(folder):
        n_bandwidths = len(cfg["feature_extractor"]["init_args"]["bandwidths"])
        return {"audio": audio.astype(np.float32), "bandwidth_id": np.array(n_bandwidths - 1, np.int64)}
    noise = np.random.default_rng(1).standard_normal(audio.shape) * 3e-3
    return {"audio": (audio + noise).astype(np.float32)}


def run_reference(folder: Path, inputs: dict[str, np.ndarray], model=None):
    """Upstream forward, hooks on. Mel: audio -> features -> audio; EnCodec variant: audio -> codes -> features
    -> audio (`EncodecFeatures` at the bandwidth id), or given codes -> features -> audio."""
    import torch

    from ....parity.torch_hooks import capture_torch

    model = load_reference(folder) if model is None else model
    paths = [p.ref for p in tap_points(folder)
             if (p.ref.count(".") <= 2 and not p.ref.startswith("head.")) or p.ref.startswith("feature_extractor.")]
    paths += ["head.out"]
    spectra = []
    handle = model.head.istft.register_forward_pre_hook(lambda _m, args: spectra.append(args[0].detach()))

    def run():
        if "codes" in inputs:
            bw = torch.tensor([int(np.asarray(inputs["bandwidth_id"]).item())])
            feats = model.codes_to_features(torch.from_numpy(inputs["codes"]))
            return feats, model.decode(feats, bandwidth_id=bw), None
        x = torch.from_numpy(inputs["audio"])[None]
        if "bandwidth_id" in inputs:
            bw = torch.tensor([int(np.asarray(inputs["bandwidth_id"]).item())])
            feats = model.feature_extractor(x, bandwidth_id=bw)  # sets EnCodec's bandwidth, encodes, embeds
            return feats, model.decode(feats, bandwidth_id=bw), model.feature_extractor.get_encodec_codes(x)
        feats = model.feature_extractor(x)
        return feats, model.decode(feats), None

    try:
        acts, (feats, audio, codes) = capture_torch(model, [p for p in paths if p != "feature_extractor"], run)
    finally:
        handle.remove()
    spec = spectra[0]
    acts.update({"feature_extractor": feats.numpy(), "head.magnitude": spec.abs().numpy(),
                 "head.phase": spec.angle().numpy(), "head.istft": audio.numpy()})
    out = {"features": feats[0].numpy(), "audio": audio[0].numpy()}
    return acts, out if codes is None else {**out, "codes": codes[:, 0].numpy()}


def run_mlx(folder: Path, inputs: dict[str, np.ndarray]):
    """The port on the same inputs, taps on."""
    from ....taps import capture
    from .load import load_model

    model, out = load_model(folder), {}
    with capture() as acts:
        if "bandwidth_id" in inputs:  # EnCodec variant: given codes, or the audio's codes at that bandwidth
            bw_id = int(np.asarray(inputs["bandwidth_id"]).item())
            codes = inputs["codes"] if "codes" in inputs else model.encode(inputs["audio"], bandwidth_id=bw_id)
            feats = np.array(model.codes_to_features(codes)[0]).T
            audio = model.decode(codes, bandwidth_id=bw_id)
            out = {} if "codes" in inputs else {"codes": codes}
        else:
            feats = model.encode(inputs["audio"])
            audio = model.decode(feats)
    return {k: np.array(v) for k, v in acts.items()}, {**out, "features": feats, "audio": audio}


def outputs_match(mlx_out: dict[str, np.ndarray], ref_out: dict[str, np.ndarray]) -> tuple[bool, str]:
    """Codes identical (EnCodec variant from audio), features and audio within 1e-4 max-abs, and the audio at
    the same level (RMS within 1e-4)."""
    from ....parity import sig1

    a, b = np.asarray(mlx_out["audio"]), np.asarray(ref_out["audio"])
    if a.shape != b.shape:
        return False, f"audio shape {a.shape} vs reference {b.shape}"
    codes_note, codes_ok = "", True
    if "codes" in ref_out:
        got, want = np.asarray(mlx_out.get("codes", np.zeros(0))), np.asarray(ref_out["codes"])
        codes_ok = got.shape == want.shape and bool((got == want).all()) and len(np.unique(want[0])) >= 2
        codes_note = (f"codes {'identical' if codes_ok else 'differ'} ({want.shape[0]} codebooks x {want.shape[1]} "
                      f"frames, {len(np.unique(want[0]))} distinct in codebook 0); ")
    f_err = float(np.abs(np.asarray(mlx_out["features"]) - np.asarray(ref_out["features"])).max())
    err = float(np.abs(a - b).max())
    rms_a, rms_b = float(np.sqrt(np.mean(a.astype(np.float64) ** 2))), float(np.sqrt(np.mean(b ** 2.0)))
    note = (f"{codes_note}features max_abs {sig1(f_err)}; audio {a.shape[0]} samples, max_abs {sig1(err)}, "
            f"RMS {sig1(rms_b)}, " + ("the same within 1e-4" if abs(rms_a - rms_b) <= 1e-4 else
                                    f"differs by {sig1(abs(rms_a - rms_b))}"))
    return codes_ok and f_err <= 1e-4 and err <= 1e-4 and abs(rms_a - rms_b) <= 1e-4 and b.std() > 1e-3, note
