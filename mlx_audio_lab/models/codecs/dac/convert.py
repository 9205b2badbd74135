"""DAC checkpoints (transformers' DacModel layout, descript/dac_*) -> MLX parameters.

Weight norm is folded first (`weight_g/_v` or `parametrizations.weight.original0/1`; plain `weight` passes),
Snake's `alpha` (1, C, 1) becomes (C,), then the table below renames nothing and re-lays-out the convs.
"""

from __future__ import annotations

import re

import numpy as np

from ....convert.keymap import KeyMap, Rule, apply_keymap, fold_weight_norm
from ..community import add_gains, flat_alphas, fold_gains, reshape_matching
from .config import DacConfig

HF_KEYMAP = KeyMap(
    name="dac/hf",
    rules=[
        Rule(r"(decoder\.block\.\d+\.conv_t1)\.weight", r"\1.weight", "conv_transpose1d"),
        Rule(r"(.+\.(?:conv\d|in_proj|out_proj))\.weight", r"\1.weight", "conv1d"),
        Rule(r"(.+\.(?:conv\d|conv_t1|in_proj|out_proj)\.bias)", r"\1"),
        Rule(r"(.+\.snake\d\.alpha)", r"\1"),
        Rule(r"(quantizer\.quantizers\.\d+\.codebook\.weight)", r"\1"),
    ],
)


def prepare_hf(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Fold weight norm (dim 0 for both conv kinds, torch's default) and flatten Snake's alpha to (C,)."""
    out = fold_weight_norm(state, dim=0)
    return {k: v.reshape(-1) if k.endswith(".alpha") else v for k, v in out.items()}


# mlx-community/descript-audio-codec-* (descript-mlx's conversion, read by mlx-audio's `DAC.from_pretrained`):
# `config.json` of the DAC constructor's arguments, `model.safetensors` with the `descript-audio-codec` module
# tree (`nn.Sequential` as `.layers.N`), weight norm kept as `weight_g` / `weight_v` channels-last (transposed
# convs: v (out, k, in), g (1, 1, in)), Snake's alpha as (1, 1, C). The tables below pair each community module
# with the port's; the Sequential indices depend on the number of strides, hence a function of the config.
_RESIDUAL = (("0", "snake1"), ("1", "conv1"), ("2", "snake2"), ("3", "conv2"))
_CONV_T = r"decoder\.model\.layers\.\d+\.block\.layers\.1\.weight_v"  # a decoder block's transposed conv
COMMUNITY_CONFIG = {  # DAC constructor argument -> transformers' DacConfig field
    "encoder_dim": "encoder_hidden_size", "encoder_rates": "downsampling_ratios",
    "decoder_dim": "decoder_hidden_size", "n_codebooks": "n_codebooks", "codebook_size": "codebook_size",
    "codebook_dim": "codebook_dim", "sample_rate": "sampling_rate",
}


def _community_modules(n: int) -> list[tuple[str, str]]:
    """(community module, port module) pairs for a codec with `n` strides."""
    enc, dec = "encoder.block.layers", "decoder.model.layers"
    pairs = [(f"{enc}.0", "encoder.conv1"), (f"{enc}.{n + 1}", "encoder.snake1"), (f"{enc}.{n + 2}", "encoder.conv2"),
             (f"{dec}.0", "decoder.conv1"), (f"{dec}.{n + 1}", "decoder.snake1"), (f"{dec}.{n + 2}", "decoder.conv2")]
    for i in range(n):
        e, d = f"{enc}.{i + 1}.block.layers", f"{dec}.{i + 1}.block.layers"
        pairs += [(f"{e}.3", f"encoder.block.{i}.snake1"), (f"{e}.4", f"encoder.block.{i}.conv1"),
                  (f"{d}.0", f"decoder.block.{i}.snake1"), (f"{d}.1", f"decoder.block.{i}.conv_t1")]
        for u in range(3):
            for src, dst in _RESIDUAL:
                pairs += [(f"{e}.{u}.block.layers.{src}", f"encoder.block.{i}.res_unit{u + 1}.{dst}"),
                          (f"{d}.{u + 2}.block.layers.{src}", f"decoder.block.{i}.res_unit{u + 1}.{dst}")]
    return pairs


def mlx_community_keymap(cfg: DacConfig) -> KeyMap:
    """Community names -> the port's, once `prepare_mlx_community` has folded the gains."""
    modules = _community_modules(len(cfg.downsampling_ratios))
    rules = [Rule(re.escape(c) + r"\.(weight|bias|alpha)", p + r".\1") for c, p in modules]
    rules.append(Rule(r"(quantizer\.quantizers\.\d+\.(?:in_proj|out_proj|codebook)\.(?:weight|bias))", r"\1"))
    return KeyMap(name="dac/mlx-community", rules=rules)


def to_mlx_community_keymap(cfg: DacConfig) -> KeyMap:
    """The port's names -> community names; conv weights become the direction `weight_v`."""
    modules = _community_modules(len(cfg.downsampling_ratios))
    rules = [Rule(re.escape(p) + r"\.weight", c + ".weight_v") for c, p in modules]
    rules += [Rule(re.escape(p) + r"\.(bias|alpha)", c + r".\1") for c, p in modules]
    rules += [Rule(r"(quantizer\.quantizers\.\d+\.(?:in|out)_proj)\.weight", r"\1.weight_v"),
              Rule(r"(quantizer\.quantizers\.\d+\.(?:in_proj\.bias|out_proj\.bias|codebook\.weight))", r"\1")]
    return KeyMap(name="dac/to-mlx-community", rules=rules)


def is_community_config(config: dict) -> bool:
    """True for the DAC constructor's arguments (mlx-community) rather than transformers' DacConfig."""
    return "encoder_dim" in config and "encoder_hidden_size" not in config


def config_from_community(config: dict) -> dict:
    """transformers' DacConfig fields from a community `config.json`; a layout the port cannot build is refused."""
    out = {hf: config[c] for c, hf in COMMUNITY_CONFIG.items() if c in config}
    rates = list(config.get("encoder_rates", []))
    if "decoder_rates" in config and list(config["decoder_rates"]) != rates[::-1]:
        raise ValueError(f"DAC decoder_rates {config['decoder_rates']} are not the encoder_rates {rates} reversed; "
                         "the port only builds mirrored codecs")
    latent = config.get("latent_dim")
    if latent is not None and latent != config["encoder_dim"] * 2 ** len(rates):
        raise ValueError(f"DAC latent_dim {latent} is not encoder_dim * 2^len(encoder_rates) "
                         f"({config['encoder_dim'] * 2 ** len(rates)}); the port derives it")
    if isinstance(config.get("codebook_dim"), list):
        raise ValueError("DAC codebook_dim given per codebook is not supported (one width for all)")
    return {**out, "model_type": "dac"}


def community_config(cfg: DacConfig) -> dict:
    """The DAC constructor's arguments for a DacConfig (what mlx-audio's `DAC(**config)` takes)."""
    return {**{c: getattr(cfg, hf) for c, hf in COMMUNITY_CONFIG.items()}, "latent_dim": cfg.hidden_size,
            "decoder_rates": list(cfg.upsampling_ratios), "model_type": "dac"}


def prepare_mlx_community(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Fold the gains (each conv's kept axis read from its gain's shape) and flatten Snake's alpha to (C,)."""
    return flat_alphas(fold_gains(state))


def to_mlx_community(params: dict[str, np.ndarray], cfg: DacConfig) -> dict[str, np.ndarray]:
    """The port's parameters in the community layout (directions = the folded weights, gains = their norms)."""
    out = apply_keymap(params, to_mlx_community_keymap(cfg), source="MLX DAC")
    return add_gains(reshape_matching(out, r".+\.alpha", (1, 1, -1)), keep={_CONV_T: 2})
