"""Vocos hyper-parameters, read from the upstream `config.yaml` (three `class_path` + `init_args` blocks)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ....convert.validate import checked

MEL = "vocos.feature_extractors.MelSpectrogramFeatures"
ENCODEC = "vocos.feature_extractors.EncodecFeatures"
BACKBONE = "vocos.models.VocosBackbone"
HEAD = "vocos.heads.ISTFTHead"


@dataclass
class FeatureConfig:
    """Mel features (`kind="mel"`) or EnCodec code embeddings (`kind="encodec"`)."""

    kind: str = "mel"
    sample_rate: int = 24_000
    n_fft: int = 1024
    hop_length: int = 256
    n_mels: int = 100
    padding: str = "center"
    encodec_model: str = "encodec_24khz"
    bandwidths: list[float] = field(default_factory=lambda: [1.5, 3.0, 6.0, 12.0])
    codebook_size: int = 1024  # EnCodec's `quantizer.bins`
    num_quantizers: int = 16  # codebooks kept in `codebook_weights` (for the largest bandwidth)


@dataclass
class BackboneConfig:
    """ConvNeXt backbone; `adanorm_num_embeddings` set means LayerNorms conditioned on the bandwidth id."""

    input_channels: int = 100
    dim: int = 512
    intermediate_dim: int = 1536
    num_layers: int = 8
    layer_scale_init_value: float | None = None
    adanorm_num_embeddings: int | None = None


@dataclass
class HeadConfig:
    """ISTFT head: a Linear to n_fft + 2 channels (log-magnitude, phase), then an inverse STFT."""

    dim: int = 512
    n_fft: int = 1024
    hop_length: int = 256
    padding: str = "same"


@dataclass
class VocosConfig:
    """The three blocks of a Vocos `config.yaml` (defaults: charactr/vocos-mel-24khz)."""

    feature_extractor: FeatureConfig = field(default_factory=FeatureConfig)
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    head: HeadConfig = field(default_factory=HeadConfig)
    model_type: str = "vocos"

    @property
    def sample_rate(self) -> int:
        return self.feature_extractor.sample_rate

    @property
    def is_encodec(self) -> bool:
        return self.feature_extractor.kind == "encodec"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> VocosConfig:
        """From an upstream `config.yaml` dict, or this class's own `asdict` (MLX layout)."""
        fe, bb, hd = (_init_args(d[k]) for k in ("feature_extractor", "backbone", "head"))
        for name, block, path in (("backbone", d["backbone"], BACKBONE), ("head", d["head"], HEAD)):
            if "class_path" in block and block["class_path"] != path:
                raise NotImplementedError(f"Vocos {name} {block['class_path']} is not ported (only {path})")
        fpath = d["feature_extractor"].get("class_path")
        if fpath is not None:
            if fpath not in (MEL, ENCODEC):
                raise NotImplementedError(f"Vocos feature extractor {fpath} is not ported")
            fe = {**fe, "kind": "mel" if fpath == MEL else "encodec"}
        if fe.get("kind") == "encodec":
            if fe.get("encodec_model", "encodec_24khz") != "encodec_24khz":
                raise NotImplementedError("only encodec_24khz features are ported")
            fe.setdefault("sample_rate", 24_000)
        return checked(cls(_pick(FeatureConfig, fe), _pick(BackboneConfig, bb), _pick(HeadConfig, hd)))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _init_args(block: dict[str, Any]) -> dict[str, Any]:
    return dict(block.get("init_args", block))


def _pick(cls: type, d: dict[str, Any]) -> Any:
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in d.items() if k in names})
