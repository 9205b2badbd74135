"""IndexTTS 2 `gpt.pth` (`UnifiedVoice.state_dict()`) -> MLX names: GPT-2's Conv1D weights are (in, out), torch
convolutions become channels-last, the perceiver's Sequential indices get names; unused heads are dropped."""

from __future__ import annotations

from ....convert.keymap import KeyMap, Rule

_P = r"((?:emo_)?perceiver_encoder)"
KEYMAP = KeyMap(
    name="indextts/gpt.pth",
    rules=[
        Rule(r"(text_head|inference_model)\..*", None),  # the text head trains only; the wrapper shares weights
        Rule(r".+\.embed\.pos_enc\.pe", None),  # sinusoids, recomputed
        Rule(r"gpt\.h\.\d+\.attn\.(?:bias|masked_bias)", None),
        Rule(r"(gpt\.h\.\d+\.(?:attn|mlp)\.c_\w+)\.weight", r"\1.weight", "transpose"),
        Rule(r"(mel|text)_pos_embedding\.emb\.weight", r"\1_pos.weight"),
        Rule(_P + r"\.layers\.(\d+)\.0\.(\w+)\.weight", r"\1.attn.\2.\3.weight"),
        Rule(_P + r"\.layers\.(\d+)\.1\.0\.(weight|bias)", r"\1.ff.\2.proj_in.\3"),
        Rule(_P + r"\.layers\.(\d+)\.1\.2\.(weight|bias)", r"\1.ff.\2.proj_out.\3"),
        Rule(_P + r"\.norm\.gamma", r"\1.gamma"),
        Rule(r"(.+\.embed\.conv\.0\.weight)", r"\1", "conv2d"),
        Rule(r"(.+\.conv_module\.(?:pointwise_conv1|depthwise_conv|pointwise_conv2)\.weight)", r"\1", "conv1d"),
        Rule(r"(.+)", r"\1"),
    ],
)
