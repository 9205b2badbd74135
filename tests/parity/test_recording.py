"""`parity record` then `parity --recording`: the recorded reference gives the same report as running it."""

from pathlib import Path

import numpy as np

from mlx_audio_lab.parity import core


def test_zero_dim_inputs_stay_zero_dim() -> None:
    # CSM's recorded speaker ids are 0-d; np.ascontiguousarray alone made them (1,) and `int()` then failed
    assert core._contiguous(np.array(3)).shape == ()
    assert core._contiguous(np.arange(6).reshape(2, 3).T).flags.c_contiguous


def test_recording_round_trip(tmp_path: Path) -> None:
    from mlx_audio_lab.fixtures import build

    path = core.record("silero_vad", build("silero_vad"), tmp_path / "silero.safetensors")
    inputs, taps, outputs = core.load_recording(path)
    assert inputs and taps and outputs
    live = core.run("silero_vad")
    replay = core.run("silero_vad", recording=path)
    assert replay.ok and live.ok
    assert [r.name for r in replay.layers] == [r.name for r in live.layers]
    for a, b in zip(replay.layers, live.layers):
        assert abs(a.max_abs - b.max_abs) <= 1e-7
