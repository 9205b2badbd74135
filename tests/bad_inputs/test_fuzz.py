"""Seeded fuzzing of the readers where bytes enter: audio files, safetensors, CTranslate2 model.bin, codes files.
Each mutated file must be read or refused with the project's own error type; anything else (or a hang) fails."""

from __future__ import annotations

import io
import signal
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from kit import ct2_head, mutate

from mlx_audio_lab.audio import load_audio
from mlx_audio_lab.codes import read_codes
from mlx_audio_lab.convert.ctranslate2 import read_ctranslate2
from mlx_audio_lab.convert.readers import read_safetensors
from mlx_audio_lab.errors import LabError
from mlx_audio_lab.hub import resolve

CASES = {"audio": 1500, "safetensors": 1000, "ctranslate2": 1000, "codes": 1200}
SECONDS_PER_CASE = 5  # a single read taking longer is a hang


class Hang(Exception):
    pass


def _alarm(*_):
    raise Hang


def seeds(tmp: Path) -> dict[str, list[tuple[str, bytes]]]:
    """Valid files of each kind, the starting points of the mutations."""
    rng = np.random.default_rng(0)
    x = (0.3 * rng.standard_normal((1200, 2))).astype(np.float32)
    audio = []
    for fmt, sub in (("WAV", "PCM_16"), ("WAV", "FLOAT"), ("FLAC", "PCM_16"), ("OGG", "VORBIS")):
        buf = io.BytesIO()
        sf.write(buf, x, 16_000, format=fmt, subtype=sub)
        audio.append(("." + fmt.lower(), buf.getvalue()))
    from safetensors.numpy import save

    tensors = save({"a.weight": rng.standard_normal((4, 3)).astype(np.float32), "b.bias": np.arange(5, dtype=np.int64),
                    "c": rng.standard_normal(7).astype(np.float16)})
    codes = []
    for arrays in ([rng.integers(0, 1024, (4, 30))], [rng.integers(0, 64, 8), rng.integers(0, 64, 16)]):
        buf = io.BytesIO()
        np.save(buf, arrays[0]) if len(arrays) == 1 else np.savez(buf, *arrays)
        codes.append((".npy" if len(arrays) == 1 else ".npz", buf.getvalue()))
    model_bin = (resolve("whisper-tiny.en") / "model.bin").read_bytes()
    return {"audio": audio, "safetensors": [(".safetensors", tensors)],
            "ctranslate2": [(".bin", ct2_head(model_bin, 12))], "codes": codes}


READERS: dict[str, Callable[[Path], object]] = {
    "audio": lambda p: load_audio(p, 16_000),
    "safetensors": read_safetensors,
    "ctranslate2": read_ctranslate2,
    "codes": read_codes,
}


@pytest.mark.filterwarnings("ignore::UserWarning")  # downmix / resample notes of the files that read
@pytest.mark.parametrize("kind", list(CASES))
def test_mutated_files_raise_only_project_errors(kind: str, tmp_path: Path):
    start = seeds(tmp_path)[kind]
    for suffix, data in start:  # every seed reads as it is
        (tmp_path / f"seed{suffix}").write_bytes(data)
        READERS[kind](tmp_path / f"seed{suffix}")
    rng = np.random.default_rng(1234 + len(kind))
    old = signal.signal(signal.SIGALRM, _alarm)
    outcomes = {"read": 0, "refused": 0}
    t0 = time.perf_counter()
    try:
        for i in range(CASES[kind]):
            suffix, data = start[i % len(start)]
            bad = mutate(data, rng)
            path = tmp_path / f"case{suffix}"
            path.write_bytes(bad)
            signal.alarm(SECONDS_PER_CASE)
            try:
                READERS[kind](path)
                outcomes["read"] += 1
            except LabError:
                outcomes["refused"] += 1
            except Hang:
                pytest.fail(f"{kind} case {i}: no answer in {SECONDS_PER_CASE} s")
            except Exception as e:  # noqa: BLE001  (the point of the test: name what escaped)
                (tmp_path / "escaped").write_bytes(bad)
                pytest.fail(f"{kind} case {i}: {type(e).__name__} escaped: {e}")
            finally:
                signal.alarm(0)
    finally:
        signal.signal(signal.SIGALRM, old)
    assert outcomes["refused"] > CASES[kind] // 4, outcomes  # the mutations do break files
    print(f"{kind}: {CASES[kind]} cases in {time.perf_counter() - t0:.1f} s, {outcomes}")
