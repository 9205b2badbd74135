"""A tiny seeded transformers Llama and the same weights in mlx-lm's Llama: both sides of the generation tests."""

from __future__ import annotations

import mlx.core as mx
import numpy as np
import pytest

TINY = {"vocab_size": 300, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 256, "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0, "tie_word_embeddings": False, "bos_token_id": 1, "eos_token_id": 2}


@pytest.fixture(scope="module")
def llama_pair():
    """(torch LlamaForCausalLM, mlx-lm Llama) with identical random weights (std 0.3: peaked, varied logits)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from mlx_audio_lab.generation.backbone import llama_model

    torch.manual_seed(0)
    ref = LlamaForCausalLM(LlamaConfig(**TINY)).eval()
    with torch.no_grad():
        for name, p in ref.named_parameters():
            if "norm" not in name:
                p.normal_(0, 0.3)
    mlx = llama_model(TINY)
    mlx.load_weights([(k, mx.array(v.numpy())) for k, v in ref.state_dict().items()], strict=True)
    return ref, mlx


@pytest.fixture
def prompt() -> np.ndarray:
    return np.array([[1, 17, 40, 99, 5, 250, 3]], dtype=np.int64)
