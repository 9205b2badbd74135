"""IndexTTS 2's s2mel configuration: the `s2mel:` section of the upstream `config.yaml` (names as upstream)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from .....convert.validate import checked


def _pick(cls, d: dict[str, Any]):
    names = {f.name for f in fields(cls)}
    return checked(cls(**{k: v for k, v in d.items() if k in names}))


@dataclass
class MelConfig:
    """`preprocess_params`: the prompt's log-mel (BigVGAN v2 22 kHz 80 band's front end)."""

    sr: int = 22050
    n_fft: int = 1024
    win_length: int = 1024
    hop_length: int = 256
    n_mels: int = 80
    fmin: float = 0.0
    fmax: float | None = None  # infer_v2 reads "None" as None and any other value as 8000

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MelConfig:
        spect = dict(d.get("spect_params", {}))
        fmax = spect.pop("fmax", "None")
        spect["fmax"] = None if fmax in (None, "None") else 8000.0
        return _pick(cls, {"sr": d.get("sr", 22050), **spect})


@dataclass
class LengthRegulatorConfig:
    """`length_regulator`: continuous content (w2v-BERT semantic embedding) -> `channels` at the mel frame rate."""

    channels: int = 512
    in_channels: int = 1024
    sampling_ratios: list[int] = field(default_factory=lambda: [1, 1, 1, 1])
    is_discrete: bool = False
    vector_quantize: bool = False
    f0_condition: bool = False
    n_codebooks: int = 1


@dataclass
class DiTConfig:
    """`DiT`: the flow-matching estimator's transformer (gpt-fast blocks with adaptive RMSNorm)."""

    hidden_dim: int = 512
    num_heads: int = 8
    depth: int = 13
    in_channels: int = 80
    content_dim: int = 512
    style_condition: bool = True
    final_layer_type: str = "wavenet"
    long_skip_connection: bool = True
    uvit_skip_connection: bool = True
    time_as_token: bool = False
    style_as_token: bool = False
    is_causal: bool = False
    zero_prompt_speech_token: bool = False


@dataclass
class WaveNetConfig:
    """`wavenet`: the DiT's WaveNet head (gated dilated convs conditioned on a second time embedding)."""

    hidden_dim: int = 512
    num_layers: int = 8
    kernel_size: int = 5
    dilation_rate: int = 1


@dataclass
class S2MelConfig:
    """The s2mel stage: `gpt_layer` (GPT latent -> semantic width), length regulator, CFM with its DiT."""

    mel: MelConfig = field(default_factory=MelConfig)
    length_regulator: LengthRegulatorConfig = field(default_factory=LengthRegulatorConfig)
    dit: DiTConfig = field(default_factory=DiTConfig)
    wavenet: WaveNetConfig = field(default_factory=WaveNetConfig)
    style_dim: int = 192  # CAMPPlus speaker embedding
    gpt_dim: int = 1280  # the GPT's width: gpt_layer's input (upstream hard-codes 1280 = model_dim)
    dit_type: str = "DiT"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> S2MelConfig:
        """From the whole config.yaml mapping (`s2mel:` and `gpt.model_dim`) or from the `s2mel:` mapping."""
        s = d.get("s2mel", d)
        gpt_dim = d.get("gpt", {}).get("model_dim", s.get("gpt_dim", 1280))
        c = cls(mel=MelConfig.from_dict(s.get("preprocess_params", {})),
                length_regulator=_pick(LengthRegulatorConfig, s.get("length_regulator", {})),
                dit=_pick(DiTConfig, s.get("DiT", {})), wavenet=_pick(WaveNetConfig, s.get("wavenet", {})),
                style_dim=s.get("style_encoder", {}).get("dim", 192), gpt_dim=gpt_dim,
                dit_type=s.get("dit_type", "DiT"))
        lr, dit = c.length_regulator, c.dit
        unported = [name for name, on in (("length_regulator.is_discrete", lr.is_discrete),
                                          ("length_regulator.vector_quantize", lr.vector_quantize),
                                          ("length_regulator.f0_condition", lr.f0_condition),
                                          ("DiT.time_as_token", dit.time_as_token),
                                          ("DiT.style_as_token", dit.style_as_token),
                                          ("DiT.is_causal", dit.is_causal),
                                          ("DiT.zero_prompt_speech_token", dit.zero_prompt_speech_token),
                                          ("DiT.final_layer_type != 'wavenet'", dit.final_layer_type != "wavenet"),
                                          ("dit_type != 'DiT'", c.dit_type != "DiT")) if on]
        if unported:
            raise ValueError(f"s2mel options not ported (IndexTTS 2 uses none of them): {', '.join(unported)}")
        return checked(c)
