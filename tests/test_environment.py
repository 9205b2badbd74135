"""The environment that .ci/setup builds: light package import, OpenBLAS on every entry point, the
reference stack at its pinned versions, and the registered Jupyter kernel."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

from mlx_audio_lab import _blas

LINUX = platform.system() == "Linux"
OPENBLAS = _blas.openblas_path() if LINUX else None
KERNEL_NAME = "mlx-audio-lab"
REPO = Path(__file__).resolve().parents[1]


def _env(ld_preload: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "MLX_AUDIO_LAB_NO_OPENBLAS")}
    if ld_preload:
        env["LD_PRELOAD"] = ld_preload
    return env


def _run(code: str, env: dict[str, str] | None = None, timeout: float = 300) -> str:
    """Run `code` in a fresh interpreter of this environment (cwd outside the repo); return stdout."""
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True, text=True, env=env if env is not None else _env(None),
        cwd=str(REPO.parent), timeout=timeout,
    )
    assert proc.returncode == 0, f"subprocess failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout.strip()


def test_package_import_is_light():
    out = _run("""
        import sys, mlx_audio_lab
        heavy = [m for m in ("torch", "transformers", "torchaudio") if m in sys.modules]
        print(",".join(heavy) or "none")
    """)
    assert out.splitlines()[-1] == "none", f"`import mlx_audio_lab` imported {out}"


# The check inside every subprocess: which BLAS MLX's cblas_sgemm resolves to, and a matmul that agrees
# with numpy (proves the symbol binding works, not only that the library is loaded).
_BLAS_CHECK = """
    import numpy as np
    import mlx.core as mx
    from mlx_audio_lab import _blas
    rng = np.random.default_rng(0)
    a = rng.standard_normal((64, 48), dtype=np.float32)
    b = rng.standard_normal((48, 32), dtype=np.float32)
    c = np.array(mx.matmul(mx.array(a), mx.array(b)))
    assert np.allclose(c, a @ b, atol=1e-4), float(np.abs(c - a @ b).max())
    print(_blas.status())
"""


@pytest.mark.skipif(not LINUX, reason="OpenBLAS is only needed on Linux")
@pytest.mark.skipif(OPENBLAS is None, reason="libopenblas0-pthread not installed (run .ci/setup)")
@pytest.mark.parametrize(
    "how",
    ["ld_preload", "import_order", "pth_hook"],
)
def test_mlx_uses_openblas_on_linux(how):
    if how == "ld_preload":  # what the Jupyter kernel, .ci/test and the Makefile do
        out = _run("import mlx_audio_lab\n" + textwrap.dedent(_BLAS_CHECK), env=_env(OPENBLAS))
    elif how == "import_order":  # no preload: `import mlx_audio_lab` before `import mlx.core`
        out = _run("import mlx_audio_lab\n" + textwrap.dedent(_BLAS_CHECK), env=_env(None))
    else:  # no preload and mlx.core first: only the .pth hook installed by .ci/setup can help
        purelib = Path(sysconfig.get_paths()["purelib"])
        if not (purelib / "mlx_audio_lab_openblas.pth").is_file():
            pytest.skip("mlx_audio_lab_openblas.pth not in this environment (run .ci/setup)")
        code = "import sys; assert 'mlx_audio_lab._blas' in sys.modules\n" + textwrap.dedent(_BLAS_CHECK)
        out = _run(code, env=_env(None))
    assert out.splitlines()[-1] == "openblas"


@pytest.mark.skipif(platform.system() != "Darwin", reason="macOS only")
def test_openblas_not_needed_on_macos():
    assert _run("import mlx_audio_lab, mlx.core; print(mlx_audio_lab._blas.status())") == "not-needed"


@pytest.mark.reference
def test_reference_stack_imports_at_pinned_versions():
    # transformers must keep importing (torchaudio pulled in by a codec package breaks it: see
    # shared assets "Traps"); torch is the CPU build pinned in constraints.txt.
    out = _run("""
        import numpy as np
        import torch, transformers
        from transformers import AlbertConfig, AlbertModel, WhisperFeatureExtractor
        from transformers import WhisperConfig, WhisperForConditionalGeneration  # noqa: F401
        fe = WhisperFeatureExtractor()
        feats = fe(np.zeros(16000, dtype=np.float32), sampling_rate=16000, return_tensors="np")
        assert feats["input_features"].shape == (1, 80, 3000), feats["input_features"].shape
        AlbertModel(AlbertConfig(vocab_size=32, embedding_size=8, hidden_size=16, num_hidden_layers=1,
                                 num_attention_heads=2, intermediate_size=32))
        print(torch.__version__, transformers.__version__, torch.version.cuda)
    """)
    torch_version, _transformers_version, cuda = out.splitlines()[-1].split()
    assert torch_version.startswith("2.13.0"), f"torch {torch_version}: expected the 2.13.0 pin"
    assert cuda == "None", f"a CUDA build of torch is installed (CUDA {cuda})"


def _kernel_json() -> Path:
    path = Path(sys.prefix) / "share" / "jupyter" / "kernels" / KERNEL_NAME / "kernel.json"
    if not path.is_file():
        pytest.skip(f"Jupyter kernel '{KERNEL_NAME}' not registered in {sys.prefix} (run .ci/setup)")
    return path


def test_kernel_spec_registered():
    spec = json.loads(_kernel_json().read_text())
    assert spec["display_name"] == "Python (mlx_audio_lab)"
    assert Path(spec["argv"][0]).resolve() == Path(sys.executable).resolve()
    if LINUX and OPENBLAS:
        assert spec.get("env", {}).get("LD_PRELOAD") == OPENBLAS
    # Jupyter itself finds it (the name notebooks store in their kernelspec metadata).
    from jupyter_client.kernelspec import KernelSpecManager

    found = KernelSpecManager().get_kernel_spec(KERNEL_NAME)
    assert Path(found.resource_dir).resolve() == _kernel_json().parent.resolve()


def test_kernel_runs_on_openblas():
    """Start the registered kernel as Jupyter does and ask it which BLAS MLX uses."""
    _kernel_json()
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name=KERNEL_NAME, env=_env(None), startup_timeout=120)
    outputs: list[str] = []

    def hook(msg):
        if msg["msg_type"] == "stream":
            outputs.append(msg["content"]["text"])

    try:
        code = "import os, mlx.core, mlx_audio_lab._blas as b; print(b.status(), os.getenv('LD_PRELOAD'))"
        reply = kc.execute_interactive(code, timeout=120, output_hook=hook)
        assert reply["content"]["status"] == "ok", reply["content"]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    status, preload = "".join(outputs).split()
    if LINUX and OPENBLAS:
        assert (status, preload) == ("openblas", OPENBLAS)
    else:
        assert status == ("reference" if LINUX else "not-needed")


@pytest.mark.skipif(OPENBLAS is None, reason="libopenblas0-pthread not installed (run .ci/setup)")
@pytest.mark.skipif(platform.machine() != "x86_64" or not _blas.AVX512 <= _blas.cpu_flags(),
                    reason="the forced kernel family concerns AVX-512 x86 CPUs")
def test_openblas_runs_avx512_kernels():
    """The .pth hook names OPENBLAS_CORETYPE before loading (Debian's 0.3.21 falls back to SSE3 "Prescott" on
    CPUs newer than it, e.g. Sapphire Rapids); a value the user set is kept."""
    env = {k: v for k, v in _env(None).items() if k != "OPENBLAS_CORETYPE"}
    code = "import mlx.core, mlx_audio_lab._blas as b; print(b.status(), b.corename())"
    assert _run(code, env).splitlines()[-1] == "openblas SkylakeX"
    assert _run(code, {**env, "OPENBLAS_CORETYPE": "Haswell"}).splitlines()[-1] == "openblas Haswell"
