"""Silero VAD checkpoints -> MLX names, as tables.

Two upstream files, both in the `silero-vad` wheel:
- `silero_vad_16k.safetensors`: the 16 kHz branch with plain names (`stft_conv`, `conv1`..`conv4`,
  `lstm_cell`, `final_conv`); read first, as safetensors.
- `silero_vad.jit` (TorchScript): both branches, `_model.*` (16 kHz) and `_model_8k.*` (8 kHz), named after the
  modules (`stft.forward_basis_buffer`, `encoder.N.reparam_conv`, `decoder.rnn`, `decoder.decoder.2`). Its
  tensors are read by `convert.torchscript` (a restricted unpickler: no code from the archive runs); the 8 kHz
  branch exists only there.
In silero-vad 6.2.3 the two 16 kHz weight sets differ (the safetensors file is another checkpoint than the
TorchScript model and the ONNX exports); the bundled asset names its files per branch in `config.json`.
Convs go channels-last ((out, in, k) -> (out, k, in)); the LSTM cell keeps torch's names and gate order.
"""

from __future__ import annotations

from ....convert.keymap import KeyMap, Rule

SAFETENSORS_16K = "silero_vad_16k.safetensors"
TORCHSCRIPT = "silero_vad.jit"

_UPSTREAM = r"(stft_conv|conv[1-4]|lstm_cell|final_conv)"
_BRANCH = {"_model": "vad_16k", "_model_8k": "vad_8k"}

KEYMAP = KeyMap(
    name="silero_vad",
    rules=[
        # silero_vad_16k.safetensors
        Rule(r"(stft_conv|conv[1-4]|final_conv)\.weight", r"vad_16k.\1.weight", "conv1d"),
        Rule(_UPSTREAM + r"\.(weight_ih|weight_hh|bias_ih|bias_hh|bias)", r"vad_16k.\1.\2"),
        # silero_vad.jit, either branch
        *[r for src, dst in _BRANCH.items() for r in (
            Rule(rf"{src}\.stft\.forward_basis_buffer", f"{dst}.stft_conv.weight", "conv1d"),
            *[Rule(rf"{src}\.encoder\.{i}\.reparam_conv\.weight", f"{dst}.conv{i + 1}.weight", "conv1d")
              for i in range(4)],
            *[Rule(rf"{src}\.encoder\.{i}\.reparam_conv\.bias", f"{dst}.conv{i + 1}.bias") for i in range(4)],
            Rule(rf"{src}\.decoder\.rnn\.(weight_ih|weight_hh|bias_ih|bias_hh)", rf"{dst}.lstm_cell.\1"),
            Rule(rf"{src}\.decoder\.decoder\.2\.weight", f"{dst}.final_conv.weight", "conv1d"),
            Rule(rf"{src}\.decoder\.decoder\.2\.bias", f"{dst}.final_conv.bias"),
        )],
        Rule(r"_state|_context", None),  # the wrapper's carried streaming state (empty in the file)
    ],
)
