"""Parakeet's encoder, decoder and front-end settings, read from a Hugging Face `config.json`
(`parakeet_ctc`, `parakeet_rnnt`, `parakeet_tdt`) and `preprocessor_config.json`."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

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
        return cls(**{k: v for k, v in d.items() if k in names})


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
        return cls(**{k: v for k, v in d.items() if k in names and v is not None})


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
