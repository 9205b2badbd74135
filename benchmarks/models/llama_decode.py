"""The decode step of a Llama-backbone TTS (Orpheus, OuteTTS) in two engines: the port's KV-cached forward and
transformers' `LlamaForCausalLM` with a DynamicCache; and the bytes a decode step reads (the bandwidth bound)."""

from __future__ import annotations

from typing import Any

from .. import harness as h


def engines(ref, port, prompt: list[int], steps: int, device: str) -> dict[str, Any]:
    import mlx.core as mx
    import torch
    from transformers.cache_utils import DynamicCache

    def mlx_prefill():
        forward = port.forward()
        logits = forward(mx.array([prompt]))
        mx.eval(logits)
        return forward, logits

    def mlx_decode(args):
        forward, logits = args
        out = []
        for _ in range(steps):
            tok = mx.argmax(logits, axis=-1)
            out.append(tok.item())
            logits = forward(tok[:, None])
        return out

    ids = torch.tensor([prompt], device=device)

    @torch.inference_mode()
    def torch_prefill():
        cache = DynamicCache()
        return cache, ref(input_ids=ids, past_key_values=cache, use_cache=True).logits[:, -1]

    @torch.inference_mode()
    def torch_decode(args):
        cache, logits = args
        out = []
        for _ in range(steps):
            tok = logits.argmax(-1, keepdim=True)
            out.append(int(tok.item()))
            logits = ref(input_ids=tok, past_key_values=cache, use_cache=True).logits[:, -1]
        return out

    return {"mlx_audio_lab": {"prefill": mlx_prefill, "decode": mlx_decode},
            "torch": {"prefill": torch_prefill, "decode": torch_decode}}


def decode_bytes(c: dict, dtype: str, context: int) -> float:
    """Weight + KV bytes read per decode step (every layer, the norm, the vocab x hidden head, one embedding row)."""
    d, ffn, kv = c["hidden_size"], c["intermediate_size"], c["num_key_value_heads"] * c["head_dim"]
    q = c["num_attention_heads"] * c["head_dim"]
    layer = d * (q + 2 * kv) + q * d + 3 * d * ffn + 2 * d
    return (c["num_hidden_layers"] * (layer + 2 * context * kv) + d + c["vocab_size"] * d) * h.dtype_bytes(dtype)
