"""Kokoro's configuration, read from the upstream hexgrad `config.json` (no `model_type` there)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ....convert.validate import checked


@dataclass
class AlbertConfig:
    """The PL-BERT phoneme encoder (`plbert` block): an ALBERT with one shared layer."""

    vocab_size: int = 178
    hidden_size: int = 768
    num_attention_heads: int = 12
    intermediate_size: int = 2048
    max_position_embeddings: int = 512
    num_hidden_layers: int = 12
    embedding_size: int = 128
    layer_norm_eps: float = 1e-12


@dataclass
class ISTFTNetConfig:
    """The decoder's generator (`istftnet` block)."""

    upsample_kernel_sizes: list[int] = field(default_factory=lambda: [20, 12])
    upsample_rates: list[int] = field(default_factory=lambda: [10, 6])
    gen_istft_hop_size: int = 5
    gen_istft_n_fft: int = 20
    resblock_dilation_sizes: list[list[int]] = field(default_factory=lambda: [[1, 3, 5]] * 3)
    resblock_kernel_sizes: list[int] = field(default_factory=lambda: [3, 7, 11])
    upsample_initial_channel: int = 512


_BLOCKS = ("plbert", "istftnet", "extra", "mlx_audio_lab")


@dataclass
class KokoroConfig:
    """The whole model; `vocab` maps phoneme symbols to ids."""

    vocab: dict[str, int]
    n_token: int = 178
    hidden_dim: int = 512
    style_dim: int = 128
    n_layer: int = 3
    max_dur: int = 50
    n_mels: int = 80
    text_encoder_kernel_size: int = 5
    dropout: float = 0.2
    sample_rate: int = 24000
    plbert: AlbertConfig = field(default_factory=AlbertConfig)
    istftnet: ISTFTNetConfig = field(default_factory=ISTFTNetConfig)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> KokoroConfig:
        """Build from the hexgrad `config.json` (unknown keys are kept in `extra`)."""
        known = {k for k in cls.__dataclass_fields__ if k not in ("plbert", "istftnet", "extra")}
        pl = {k: v for k, v in d.get("plbert", {}).items() if k in AlbertConfig.__dataclass_fields__}
        ist = {k: v for k, v in d.get("istftnet", {}).items() if k in ISTFTNetConfig.__dataclass_fields__}
        return checked(cls(
            **{k: v for k, v in d.items() if k in known},
            plbert=AlbertConfig(**{"vocab_size": d.get("n_token", 178), **pl}),
            istftnet=ISTFTNetConfig(**ist),
            extra={k: v for k, v in d.items() if k not in known and k not in _BLOCKS},
        ))

    def to_hexgrad(self) -> dict[str, Any]:
        """The hexgrad `config.json` schema (what `from_dict` reads, and mlx-audio's `ModelConfig`), with
        `model_type` "kokoro"; the PL-BERT block leaves out `vocab_size` (it is `n_token`)."""
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k not in _BLOCKS}
        plbert = {k: v for k, v in asdict(self.plbert).items() if k != "vocab_size"}
        defaults = {"dim_in": 64, "max_conv_dim": 512, "multispeaker": True}
        return {"model_type": "kokoro", **defaults, **self.extra, **d, "plbert": plbert,
                "istftnet": asdict(self.istftnet)}


def is_kokoro_config(d: dict[str, Any]) -> bool:
    """The hexgrad layout has no `model_type`: it is recognised by its `istftnet` and `plbert` blocks."""
    return d.get("model_type") == "kokoro" or {"istftnet", "plbert", "vocab"} <= set(d)
