"""Orpheus checkpoints -> MLX parameters: `LlamaForCausalLM` names are mlx-lm's, so the table only drops keys."""

from __future__ import annotations

from ....generation.backbone import LLAMA_HF, TIED_HEAD

HF = LLAMA_HF

__all__ = ["HF", "TIED_HEAD"]
