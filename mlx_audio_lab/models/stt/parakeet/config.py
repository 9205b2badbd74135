"""Parakeet's encoder, decoder and front-end settings, read from a Hugging Face `config.json`
(`parakeet_ctc`, `parakeet_rnnt`, `parakeet_tdt`) and `preprocessor_config.json`."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from ....convert.validate import checked

DECODERS = {"parakeet_ctc": "ctc", "parakeet_rnnt": "rnnt", "parakeet_tdt": "tdt"}


@dataclass
class EncoderConfig:
    """The fields of transformers' ParakeetEncoderConfig that the port uses (FastConformer)."""

    hidden_size: int = 1024
    num_hidden_layers: int = 24
    num_attention_heads: int = 8
    intermediate_size: int = 4096
    hidden_act: str = "silu"
    attention_bias: bool = True
    convolution_bias: bool = True
    conv_kernel_size: int = 9
    subsampling_factor: int = 8
    subsampling_conv_channels: int = 256
    num_mel_bins: int = 80
    subsampling_conv_kernel_size: int = 3
    subsampling_conv_stride: int = 2
    scale_input: bool = True

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EncoderConfig:
        names = {f.name for f in fields(cls)}
        return checked(cls(**{k: v for k, v in d.items() if k in names}))


@dataclass
class FrontEndConfig:
    """transformers' ParakeetFeatureExtractor settings (NeMo's AudioToMelSpectrogramPreprocessor)."""

    feature_size: int = 80
    sampling_rate: int = 16000
    hop_length: int = 160
    n_fft: int = 512
    win_length: int = 400
    preemphasis: float = 0.97

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FrontEndConfig:
        names = {f.name for f in fields(cls)}
        return checked(cls(**{k: v for k, v in d.items() if k in names and v is not None}))


@dataclass
class ParakeetConfig:
    """One config for the three heads; `decoder` says which ("ctc", "rnnt", "tdt")."""

    model_type: str = "parakeet_ctc"
    vocab_size: int = 1025
    encoder_config: dict[str, Any] = field(default_factory=dict)
    pad_token_id: int = 1024
    blank_token_id: int | None = None
    decoder_hidden_size: int = 640
    num_decoder_layers: int = 2
    hidden_act: str = "relu"
    max_symbols_per_step: int = 10
    durations: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4])
    preprocessor: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict[str, Any], preprocessor: dict[str, Any] | None = None) -> ParakeetConfig:
        """From HF `config.json` (unknown keys ignored); `preprocessor` from `preprocessor_config.json`."""
        names = {f.name for f in fields(cls)}
        cfg = cls(**{k: v for k, v in d.items() if k in names})
        if preprocessor is not None:
            cfg.preprocessor = dict(preprocessor)
        cfg.durations = list(cfg.durations)
        return cfg

    @property
    def decoder(self) -> str:
        """"ctc", "rnnt" or "tdt"."""
        return DECODERS[self.model_type]

    @property
    def blank(self) -> int:
        """The blank label: CTC's pad token, the transducers' blank token."""
        if self.decoder == "ctc" or self.blank_token_id is None:
            return self.pad_token_id
        return self.blank_token_id

    @property
    def encoder(self) -> EncoderConfig:
        return EncoderConfig.from_dict(self.encoder_config)

    @property
    def front_end(self) -> FrontEndConfig:
        fe = FrontEndConfig.from_dict(self.preprocessor)
        if "feature_size" not in self.preprocessor:
            fe.feature_size = self.encoder.num_mel_bins
        return fe

    @property
    def frame_shift(self) -> float:
        """Seconds per encoder frame (hop × subsampling: 0.08 s for the released models)."""
        fe = self.front_end
        return fe.hop_length / fe.sampling_rate * self.encoder.subsampling_factor


# NeMo model classes, as `config.json` of an MLX community Parakeet (mlx-audio / parakeet-mlx) names them.
NEMO_TARGETS = {
    "ctc": "nemo.collections.asr.models.ctc_bpe_models.EncDecCTCModelBPE",
    "rnnt": "nemo.collections.asr.models.rnnt_bpe_models.EncDecRNNTBPEModel",
    "tdt": "nemo.collections.asr.models.rnnt_bpe_models.EncDecRNNTBPEModel",
}


def is_nemo_config(d: dict[str, Any]) -> bool:
    """True for a NeMo-style config (`preprocessor`, `encoder` with `d_model`, ...), the community layout."""
    return isinstance(d.get("encoder"), dict) and "d_model" in d["encoder"] and "preprocessor" in d


def _require(ok: bool, what: str) -> None:
    if not ok:
        raise ValueError(f"NeMo Parakeet config: {what} is not supported by the MLX port")


def from_nemo(d: dict[str, Any]) -> tuple[ParakeetConfig, list[str]]:
    """(ParakeetConfig, vocabulary without the blank) from a NeMo-style `config.json`."""
    enc, pre = d["encoder"], d["preprocessor"]
    _require(enc.get("subsampling", "dw_striding") == "dw_striding", f"subsampling {enc.get('subsampling')!r}")
    _require(enc.get("self_attention_model", "rel_pos") == "rel_pos",
             f"self_attention_model {enc.get('self_attention_model')!r}")
    _require(not enc.get("causal_downsampling", False), "causal_downsampling")
    _require(pre.get("normalize", "per_feature") == "per_feature", f"normalize {pre.get('normalize')!r}")
    encoder = {
        "hidden_size": enc["d_model"], "num_hidden_layers": enc["n_layers"], "num_attention_heads": enc["n_heads"],
        "intermediate_size": enc["d_model"] * enc.get("ff_expansion_factor", 4),
        "attention_bias": enc.get("use_bias", True), "convolution_bias": enc.get("use_bias", True),
        "conv_kernel_size": enc["conv_kernel_size"], "subsampling_factor": enc["subsampling_factor"],
        "subsampling_conv_channels": enc["subsampling_conv_channels"], "num_mel_bins": enc["feat_in"],
        "scale_input": bool(enc.get("xscaling", True)),
    }
    sr = int(pre.get("sample_rate", 16000))
    front = {"feature_size": pre.get("features", enc["feat_in"]), "sampling_rate": sr,
             "hop_length": int(round(pre.get("window_stride", 0.01) * sr)),
             "win_length": int(round(pre.get("window_size", 0.025) * sr)), "n_fft": pre.get("n_fft", 512),
             "preemphasis": pre.get("preemph", 0.97)}
    if d.get("target") == NEMO_TARGETS["ctc"] or "joint" not in d:
        vocabulary = list(d["decoder"]["vocabulary"])
        blank = len(vocabulary)
        return ParakeetConfig(model_type="parakeet_ctc", vocab_size=blank + 1, encoder_config=encoder,
                              pad_token_id=blank, preprocessor=front), vocabulary
    joint, prednet = d["joint"], d["decoder"]["prednet"]
    _require(joint["jointnet"]["joint_hidden"] == prednet["pred_hidden"], "joint_hidden != pred_hidden")
    vocabulary = list(joint["vocabulary"])
    blank = len(vocabulary)
    durations = (d.get("model_defaults") or {}).get("tdt_durations") or d.get("decoding", {}).get("durations")
    greedy = (d.get("decoding") or {}).get("greedy") or {}
    cfg = ParakeetConfig(
        model_type="parakeet_tdt" if durations else "parakeet_rnnt", vocab_size=blank + 1, encoder_config=encoder,
        pad_token_id=blank, blank_token_id=blank, decoder_hidden_size=prednet["pred_hidden"],
        num_decoder_layers=prednet["pred_rnn_layers"], hidden_act=joint["jointnet"]["activation"],
        max_symbols_per_step=greedy.get("max_symbols") or 10, durations=list(durations or [0, 1, 2, 3, 4]),
        preprocessor=front)
    return cfg, vocabulary


def to_nemo(cfg: ParakeetConfig, vocabulary: list[str]) -> dict[str, Any]:
    """The NeMo-style `config.json` that mlx-audio's Parakeet reads (`vocabulary` without the blank)."""
    enc, fe = cfg.encoder, cfg.front_end
    if enc.subsampling_conv_kernel_size != 3 or enc.subsampling_conv_stride != 2:
        raise ValueError("the NeMo layout has a fixed 3x3, stride-2 subsampling")
    out: dict[str, Any] = {
        "model_type": cfg.model_type, "target": NEMO_TARGETS[cfg.decoder],
        "preprocessor": {"sample_rate": fe.sampling_rate, "normalize": "per_feature",
                         "window_size": fe.win_length / fe.sampling_rate,
                         "window_stride": fe.hop_length / fe.sampling_rate, "window": "hann",
                         "features": fe.feature_size, "n_fft": fe.n_fft, "dither": 0.0, "pad_to": 0,
                         "pad_value": 0.0, "preemph": fe.preemphasis},
        "encoder": {"feat_in": enc.num_mel_bins, "n_layers": enc.num_hidden_layers, "d_model": enc.hidden_size,
                    "n_heads": enc.num_attention_heads,
                    "ff_expansion_factor": enc.intermediate_size // enc.hidden_size,
                    "subsampling_factor": enc.subsampling_factor, "self_attention_model": "rel_pos",
                    "subsampling": "dw_striding", "conv_kernel_size": enc.conv_kernel_size,
                    "subsampling_conv_channels": enc.subsampling_conv_channels, "pos_emb_max_len": 5000,
                    "causal_downsampling": False, "use_bias": enc.attention_bias, "xscaling": enc.scale_input},
    }
    if cfg.decoder == "ctc":
        out["decoder"] = {"feat_in": enc.hidden_size, "num_classes": len(vocabulary), "vocabulary": vocabulary}
        out["decoding"] = {"greedy": {}}
        return out
    h = cfg.decoder_hidden_size
    out["decoder"] = {"blank_as_pad": True, "vocab_size": len(vocabulary),
                      "prednet": {"pred_hidden": h, "pred_rnn_layers": cfg.num_decoder_layers}}
    out["joint"] = {"num_classes": len(vocabulary), "vocabulary": vocabulary,
                    "num_extra_outputs": len(cfg.durations) if cfg.decoder == "tdt" else 0,
                    "jointnet": {"joint_hidden": h, "activation": cfg.hidden_act, "encoder_hidden": enc.hidden_size,
                                 "pred_hidden": h}}
    out["decoding"] = {"greedy": {"max_symbols": cfg.max_symbols_per_step}}
    if cfg.decoder == "tdt":
        out["decoding"].update(model_type="tdt", durations=list(cfg.durations))
        out["model_defaults"] = {"tdt_durations": list(cfg.durations)}
    return out
