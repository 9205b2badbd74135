"""Affine group quantization of a model's large linear and embedding layers (MLX `nn.quantize`)."""

from __future__ import annotations

import mlx.nn as nn

# Tables that are sliced and added (positions), not looked up or multiplied, stay in float.
SKIP = ("embed_positions", "positional")


def quantize_model(model: nn.Module, bits: int = 8, group_size: int = 64) -> nn.Module:
    """Quantize in place every Linear/token Embedding whose input width divides by `group_size`."""
    if bits not in (2, 3, 4, 5, 6, 8):
        raise ValueError(f"bits must be one of 2, 3, 4, 5, 6, 8 (got {bits})")

    def wanted(path: str, module: nn.Module) -> bool:
        if any(s in path for s in SKIP) or not isinstance(module, (nn.Linear, nn.Embedding)):
            return False
        w = module.weight
        return w.shape[-1] % group_size == 0

    nn.quantize(model, group_size=group_size, bits=bits, class_predicate=wanted)
    return model
