"""`librosa.util` of the GPU machine's shim: nothing the benchmarks call."""


def __getattr__(name: str):
    raise AttributeError(f"librosa.util.{name} is not in the GPU machine's librosa shim")
