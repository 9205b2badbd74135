"""Prosody figure core: the hard alignment implied by durations, and the figure's time axis."""

from __future__ import annotations

import numpy as np
import pytest

from mlx_audio_lab.inspect.prosody import alignment_matrix, prosody_figure


def test_alignment_matrix_covers_each_frame_once():
    a = alignment_matrix([2, 1, 3])
    np.testing.assert_array_equal(a, [[1, 1, 0, 0, 0, 0], [0, 0, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1]])
    assert (a.sum(axis=0) == 1).all()


def test_figure_spans_the_durations_in_seconds_and_blanks_unvoiced_f0():
    f0 = np.array([0.0, 120, 130, 0, 0, 140, 150, 0, 0, 0, 0, 0])  # 2x the frame rate of the 6 frames
    fig = prosody_figure([2, 1, 3], f0, np.ones(12), ["a", "b", "c"], frame_seconds=0.025)
    ax_d, _, ax_f, _ = fig.axes
    assert ax_d.get_xlim() == pytest.approx((0, 0.15))
    assert [p.get_height() for p in ax_d.patches] == pytest.approx([50, 25, 75])  # ms
    y = ax_f.lines[0].get_ydata()
    assert np.isnan(y[[0, 3, 4]]).all() and y[1] == 120
    assert "voiced 33%" in ax_f.get_title()


def test_energy_is_not_given_a_physical_unit():
    fig = prosody_figure([2, 1], np.zeros(6), np.ones(6), ["a", "b"], frame_seconds=0.025)
    ax_e = fig.axes[3]
    assert ax_e.get_ylabel() == "energy (model units)" and "(N)" not in ax_e.get_ylabel()
