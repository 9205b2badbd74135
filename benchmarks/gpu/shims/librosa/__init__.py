"""A stand-in for librosa on the GPU machine, which lacks it (librosa needs numba, not carried there).

Only what the BigVGAN and IndexTTS references call while a benchmark builds them: `filters.mel`, Slaney mel
filters computed with the project's mel scale (equal to librosa's to float32 rounding; `check()` compares them
where librosa is installed). Anything else raises. Never on the path of a test or of the library.
"""

from . import filters, util  # noqa: F401


def __getattr__(name: str):
    raise AttributeError(f"librosa.{name} is not in the GPU machine's librosa shim (benchmarks/gpu/shims)")
