"""TokenInspector core: code usage and entropy, decoding a span, top-k steps."""

from __future__ import annotations

import numpy as np
import pytest

from mlx_audio_lab.inspect import TokenInspector, code_entropy, code_usage, decode_span, topk_steps
from mlx_audio_lab.inspect.tokens import codes_figure, steps_figure


class FakeCodec:
    """decode: 10 samples per frame, the value = the frame's first code."""

    sample_rate = 100

    def decode(self, codes):
        return np.repeat(np.asarray(codes)[0].astype(np.float32), 10)


GRID = np.array([[0, 1, 2, 3] * 4, [5] * 16, [0, 0, 1, 1] * 4])


def test_usage_and_entropy_of_a_known_grid():
    usage = code_usage(GRID, 8)
    assert usage.shape == (3, 8)
    assert usage[0].tolist() == [4, 4, 4, 4, 0, 0, 0, 0] and usage[1, 5] == 16
    np.testing.assert_allclose(code_entropy(GRID, 8), [2.0, 0.0, 1.0])  # uniform over 4, constant, 2 codes


def test_decode_span_decodes_only_the_slice():
    out = decode_span(FakeCodec(), GRID, 2, 6)
    assert out.shape == (40,) and out[:10].tolist() == [2.0] * 10 and out[-1] == 1.0
    with pytest.raises(ValueError):
        decode_span(FakeCodec(), GRID, 3, 3)


def test_codec_inspector_span_and_figure():
    insp = TokenInspector(codes=GRID, codec=FakeCodec(), frame_seconds=0.1, codebook_size=8, sample_rate=100)
    assert insp.summary() == "TokenInspector: 3 codebooks x 16 frames, entropy 2.00 0.00 1.00 bits"
    insp.span = (4, 8)
    assert insp.status() == "frames 4-8 (0.40-0.80 s)" and insp.decode_selection().shape == (40,)
    titles = [a.get_title() for a in codes_figure(GRID, 0.1, 8).axes if a.get_title()]
    assert titles == ["codes: 3 codebooks x 16 frames", "usage per codebook (max entropy 3.00 bits)"]
    assert "mal-token-inspector" in insp.widget._dom_classes


def test_topk_steps_of_known_logits():
    logits = np.log(np.array([[0.1, 0.6, 0.3], [0.5, 0.2, 0.3]]))
    steps = topk_steps(logits, [1, 0], k=2, label=lambda t: "abc"[t])
    assert [s.top_ids for s in steps] == [[1, 2], [0, 2]]
    np.testing.assert_allclose(steps[0].top_probs, [0.6, 0.3])
    assert steps[1].label == "a" and steps[1].top_labels == ["a", "c"]
    insp = TokenInspector.for_steps(steps)
    assert insp.status() == "step 1: a p=0.5"
    fig = steps_figure(steps, 0)
    assert len(fig.axes) == 3 and fig.axes[2].get_ylabel() == "probability"  # grid, bars, colorbar
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["#1", "#2"]


def test_for_codec_reads_the_frame_rate_or_draws_frames():
    from types import SimpleNamespace

    snac = SimpleNamespace(config=SimpleNamespace(frame_rates=[12.0, 24.0, 48.0], codebook_size=8),
                           sample_rate=24000)
    grid7 = np.zeros((7, 10), int)  # SNAC's grid: 1 + 2 + 4 rows per coarsest frame
    assert TokenInspector.for_codec(snac, grid7).frame_seconds == pytest.approx(1 / 12)
    unknown = TokenInspector.for_codec(SimpleNamespace(config=SimpleNamespace(codebook_size=8)), GRID)
    assert unknown.frame_seconds is None and unknown.status() == "frames 0-16"
    ax = unknown.figure().axes[0]
    assert ax.get_xlabel() == "frame" and ax.get_xlim()[1] == 16  # never "time (s)" at 1 s per frame
    one = codes_figure(GRID[:1], 0.1, 8).axes[0]
    assert [t.get_text() for t in one.get_yticklabels()] == ["0"]  # one codebook: one integer tick
