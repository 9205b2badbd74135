"""Whisper checkpoints -> MLX parameters. Each upstream layout is a key-map table (data).

Layouts: Hugging Face (`model.safetensors` / `pytorch_model.bin`), MLX community (`weights.safetensors` /
`weights.npz`, openai names, convs already channels-last) and CTranslate2 (`model.bin`, via `ct2.py` to HF).
"""

from __future__ import annotations

from ....convert.keymap import KeyMap, Rule

# transformers' WhisperForConditionalGeneration / WhisperModel.
HF = KeyMap(
    name="whisper/hf",
    rules=[
        Rule(r"(?:model\.)?(encoder\.conv[12])\.weight", r"\1.weight", "conv1d"),
        Rule(r"proj_out\.weight", None),  # tied to decoder.embed_tokens
        Rule(r"(?:model\.)?((?:en|de)coder\..+)", r"\1"),
    ],
)

# mlx-examples / mlx-community Whisper (openai names; conv weights already (out, k, in)).
_BLOCK = r"(en|de)coder\.blocks\.(\d+)\."
MLX_COMMUNITY = KeyMap(
    name="whisper/mlx-community",
    rules=[
        Rule(r"encoder\.(conv[12])\.(weight|bias)", r"encoder.\1.\2"),
        Rule(r"encoder\.positional_embedding", r"encoder.embed_positions.weight"),
        Rule(r"encoder\.ln_post\.(weight|bias)", r"encoder.layer_norm.\1"),
        Rule(r"decoder\.token_embedding\.weight", r"decoder.embed_tokens.weight"),
        Rule(r"decoder\.positional_embedding", r"decoder.embed_positions.weight"),
        Rule(r"decoder\.ln\.(weight|bias)", r"decoder.layer_norm.\1"),
        Rule(_BLOCK + r"attn\.query\.(weight|bias)", r"\1coder.layers.\2.self_attn.q_proj.\3"),
        Rule(_BLOCK + r"attn\.key\.weight", r"\1coder.layers.\2.self_attn.k_proj.weight"),
        Rule(_BLOCK + r"attn\.value\.(weight|bias)", r"\1coder.layers.\2.self_attn.v_proj.\3"),
        Rule(_BLOCK + r"attn\.out\.(weight|bias)", r"\1coder.layers.\2.self_attn.out_proj.\3"),
        Rule(_BLOCK + r"attn_ln\.(weight|bias)", r"\1coder.layers.\2.self_attn_layer_norm.\3"),
        Rule(_BLOCK + r"cross_attn\.query\.(weight|bias)", r"\1coder.layers.\2.encoder_attn.q_proj.\3"),
        Rule(_BLOCK + r"cross_attn\.key\.weight", r"\1coder.layers.\2.encoder_attn.k_proj.weight"),
        Rule(_BLOCK + r"cross_attn\.value\.(weight|bias)", r"\1coder.layers.\2.encoder_attn.v_proj.\3"),
        Rule(_BLOCK + r"cross_attn\.out\.(weight|bias)", r"\1coder.layers.\2.encoder_attn.out_proj.\3"),
        Rule(_BLOCK + r"cross_attn_ln\.(weight|bias)", r"\1coder.layers.\2.encoder_attn_layer_norm.\3"),
        Rule(_BLOCK + r"mlp1\.(weight|bias)", r"\1coder.layers.\2.fc1.\3"),
        Rule(_BLOCK + r"mlp2\.(weight|bias)", r"\1coder.layers.\2.fc2.\3"),
        Rule(_BLOCK + r"mlp_ln\.(weight|bias)", r"\1coder.layers.\2.final_layer_norm.\3"),
        Rule(r"alignment_heads", None),
    ],
)

# The port's parameter names -> the mlx-examples layout (to run mlx-whisper on the same weights).
_OURS = r"(en|de)coder\.layers\.(\d+)\."
TO_MLX_COMMUNITY = KeyMap(
    name="whisper/to-mlx-community",
    rules=[
        Rule(r"encoder\.embed_positions\.weight", None),  # mlx-whisper computes the sinusoids
        Rule(r"encoder\.(conv[12])\.(weight|bias)", r"encoder.\1.\2"),
        Rule(r"encoder\.layer_norm\.(weight|bias)", r"encoder.ln_post.\1"),
        Rule(r"decoder\.embed_tokens\.weight", r"decoder.token_embedding.weight"),
        Rule(r"decoder\.embed_positions\.weight", r"decoder.positional_embedding"),
        Rule(r"decoder\.layer_norm\.(weight|bias)", r"decoder.ln.\1"),
        Rule(_OURS + r"self_attn\.q_proj\.(weight|bias)", r"\1coder.blocks.\2.attn.query.\3"),
        Rule(_OURS + r"self_attn\.k_proj\.weight", r"\1coder.blocks.\2.attn.key.weight"),
        Rule(_OURS + r"self_attn\.v_proj\.(weight|bias)", r"\1coder.blocks.\2.attn.value.\3"),
        Rule(_OURS + r"self_attn\.out_proj\.(weight|bias)", r"\1coder.blocks.\2.attn.out.\3"),
        Rule(_OURS + r"self_attn_layer_norm\.(weight|bias)", r"\1coder.blocks.\2.attn_ln.\3"),
        Rule(_OURS + r"encoder_attn\.q_proj\.(weight|bias)", r"\1coder.blocks.\2.cross_attn.query.\3"),
        Rule(_OURS + r"encoder_attn\.k_proj\.weight", r"\1coder.blocks.\2.cross_attn.key.weight"),
        Rule(_OURS + r"encoder_attn\.v_proj\.(weight|bias)", r"\1coder.blocks.\2.cross_attn.value.\3"),
        Rule(_OURS + r"encoder_attn\.out_proj\.(weight|bias)", r"\1coder.blocks.\2.cross_attn.out.\3"),
        Rule(_OURS + r"encoder_attn_layer_norm\.(weight|bias)", r"\1coder.blocks.\2.cross_attn_ln.\3"),
        Rule(_OURS + r"fc1\.(weight|bias)", r"\1coder.blocks.\2.mlp1.\3"),
        Rule(_OURS + r"fc2\.(weight|bias)", r"\1coder.blocks.\2.mlp2.\3"),
        Rule(_OURS + r"final_layer_norm\.(weight|bias)", r"\1coder.blocks.\2.mlp_ln.\3"),
    ],
)
