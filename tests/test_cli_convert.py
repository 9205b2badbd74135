"""`mlx-audio-lab convert --quantize 4|8` for every registered model type, loaded back bit for bit."""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn
import pytest
from mlx.utils import tree_flatten

import mlx_audio_lab
from mlx_audio_lab.cli import main
from mlx_audio_lab.fixtures import build


def quantizable(model: nn.Module, group_size: int = 64) -> int:
    """Linear / Embedding layers whose input width divides by the group size (what `quantize_model` takes).

    An LM-driven TTS port's codec (`codec.*`) is not among them: it stays float, saved as its own folder."""
    return sum(isinstance(m, (nn.Linear, nn.Embedding)) and m.weight.shape[-1] % group_size == 0
               and "positional" not in path and "embed_positions" not in path and not path.startswith("codec")
               for path, m in model.named_modules())


@pytest.mark.parametrize("bits", [4, pytest.param(8, marks=pytest.mark.slow)])  # 8 bits: the same path
@pytest.mark.parametrize("model_type", mlx_audio_lab.available_models())
def test_convert_quantized_loads_back(model_type, bits, tmp_path, capsys):
    folder = build(model_type)
    out = tmp_path / "q"
    assert main(["convert", "--model", str(folder), "--out", str(out), "--quantize", str(bits)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    again = mlx_audio_lab.load(out)
    direct = mlx_audio_lab.load(folder, quantize=bits)
    assert again.quantization == direct.quantization == {"bits": bits, "group_size": 64}
    n = quantizable(mlx_audio_lab.load(folder))
    assert sum(isinstance(m, (nn.QuantizedLinear, nn.QuantizedEmbedding)) for _, m in again.named_modules()) == n
    a, b = dict(tree_flatten(again.parameters())), dict(tree_flatten(direct.parameters()))
    assert a.keys() == b.keys()
    assert [k for k in a if a[k].dtype != b[k].dtype or not mx.array_equal(a[k], b[k])] == []
