"""AudioInspector core: spectrogram kinds, SNR, difference spectrogram, selection, figures, widget state."""

from __future__ import annotations

import numpy as np
import pytest

from mlx_audio_lab.inspect import AudioInspector, difference_spectrogram, snr_db, spectrogram_data
from mlx_audio_lab.inspect.audio import audio_figure, compare_figure, select

SR = 16000


@pytest.fixture(scope="module")
def tone():
    t = np.arange(SR) / SR
    return (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def test_snr_of_known_pairs(tone):
    assert snr_db(tone, 0.9 * tone) == pytest.approx(20.0, abs=1e-4)  # noise = 0.1 x signal
    assert snr_db(tone, 0.99 * tone) == pytest.approx(40.0, abs=1e-3)
    assert snr_db(tone, tone) == float("inf")
    assert snr_db(tone, tone[:8000] * 0.9) == pytest.approx(20.0, abs=1e-4)  # common length only


def test_spectrogram_kinds_shapes_and_peak(tone):
    lin = spectrogram_data(tone, SR, "linear", n_fft=512, hop=128)
    assert lin.values.shape == (SR // 128 + 1, 257) and lin.frame_seconds == 128 / SR
    assert int(lin.values[10].argmax()) == round(440 * 512 / SR)  # the tone's bin
    log = spectrogram_data(tone, SR, "log", n_fft=512, hop=128)
    assert log.values.max() - log.values.min() <= 80.0 + 1e-3  # top_db floor
    mel = spectrogram_data(tone, SR, "mel", n_fft=512, hop=256, n_mels=40)
    assert mel.values.shape == (SR // 256 + 1, 40) and mel.ylabel == "frequency (Hz, htk mel scale)"
    assert lin.top_hz == SR / 2 and mel.top_hz is None and lin.ylabel == "frequency (Hz)"
    from mlx_audio_lab.inspect.audio import audio_figure

    ax_s = audio_figure(tone, SR, "log").axes[1]  # frequency axis in Hz, up to Nyquist
    assert ax_s.get_ylabel() == "frequency (Hz)" and ax_s.get_ylim() == pytest.approx((0, SR / 2))
    with pytest.raises(ValueError):
        spectrogram_data(tone, SR, "cqt")


def test_difference_spectrogram(tone):
    same = difference_spectrogram(tone, tone, SR)
    assert np.abs(same.values).max() == 0.0
    half = difference_spectrogram(tone, 0.5 * tone, SR)  # -6.02 dB in the tone's bin
    assert np.median(half.values[:, 14]) == pytest.approx(20 * np.log10(0.5), abs=1e-3)
    assert half.top_hz == SR / 2 and half.ylabel == "frequency (Hz)"  # drawn in Hz, like the spectrograms above it


def test_select_clips_to_the_clip(tone):
    assert len(select(tone, SR, 0.25, 0.5)) == 4000
    assert len(select(tone, SR, 0.9, 5.0)) == 1600
    assert len(select(tone, SR, 0.5, 0.2)) == 0


def test_figures_have_expected_axes(tone):
    titles = [ax.get_title() for ax in audio_figure(tone, SR, span=(0.2, 0.4)).axes if ax.get_title()]
    assert titles == ["audio", "log spectrogram (n_fft 512, hop 128)"]
    fig = compare_figure(tone, 0.9 * tone, SR)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles[0] == "port vs reference: SNR 20.0 dB" and len(titles) == 4
    assert titles[3] == "port - reference: log difference"  # the unit (dB) is on the colorbar, no nested brackets
    assert fig.axes[1].get_xlim() == pytest.approx(fig.axes[0].get_xlim())


def test_inspector_selection_zooms_and_plays(tone):
    insp = AudioInspector(tone, SR, other=0.9 * tone)
    assert insp.summary().startswith("AudioInspector: 1.00 s at 16000 Hz, compare port vs reference: SNR 20.0 dB")
    box = insp.widget
    assert "mal-audio-inspector" in box._dom_classes
    assert insp._player.value == b""  # nothing stored until asked
    insp.set_span(0.25, 0.5)
    assert insp.status().startswith("selection 0.25-0.50 s")
    insp.play()
    assert len(insp.selection()) == 4000 and len(insp._player.value) == 44 + 2 * 4000  # 16-bit WAV
    assert insp._image.value  # refresh drew the plot
    assert insp.figure().axes[0].get_xlim() == pytest.approx((0.25, 0.5))
    bundle = insp._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "image/png", "application/vnd.jupyter.widget-view+json"}
    assert bundle["text/plain"] == insp.summary()  # deterministic: no widget ids in the text


def test_a_flat_signal_says_so_in_the_title():
    from mlx_audio_lab.inspect.audio import flat_note

    dc = np.full(SR, 0.0155) + 1e-7 * np.sin(np.arange(SR))
    dc[:20] = 0.5  # a click at the start (a window edge) does not make it sound
    assert "nearly constant (0.0155" in flat_note(dc) and flat_note(0.1 * np.sin(np.arange(SR))) == ""
    assert "nearly constant" in audio_figure(dc, SR).axes[0].get_title()
    assert "nearly constant" in compare_figure(dc, dc + 1e-6, SR).axes[0].get_title()


def test_mel_ticks_sit_on_the_band_whose_centre_is_that_frequency():
    from mlx_audio_lab.dsp import hz_to_mel, mel_filters, mel_to_hz
    from mlx_audio_lab.inspect.flow import mel_centers_hz
    from mlx_audio_lab.inspect.plots import MelAxis, mel_ticks

    for axis, n in [(MelAxis(8000, scale="slaney"), 80), (MelAxis(12000), 100), (MelAxis(11025, 50, "htk"), 40)]:
        pos, labels = mel_ticks(n, axis)
        centres = mel_centers_hz(n, axis.f_max, axis.f_min, axis.scale)
        # band i is drawn over [i, i + 1]: a tick at y is the centre frequency interpolated at band y - 0.5
        # (band centres are equally spaced in mel, so interpolate in mel; below the first centre it extrapolates)
        m = hz_to_mel(centres, axis.scale)
        mel = m[0] + (pos - 0.5) * (m[1] - m[0])
        assert np.allclose(mel_to_hz(mel, axis.scale), [float(x) for x in labels], rtol=1e-6)
        assert 4 <= len(pos) <= 9 and np.all(np.diff(pos) >= n / 9) and 0 <= pos[0] and pos[-1] <= n
    # the same centres as the filter bank itself: each band's peak frequency (htk, no norm: triangle apex)
    fb = np.array(mel_filters(16000, 2048, 40, 0.0, 8000.0, "htk"))  # (freqs, 40)
    peaks = fb.argmax(0) * 16000 / 2048
    assert np.allclose(peaks, mel_centers_hz(40, 8000.0, 0.0, "htk"), atol=16000 / 2048)
    pos, labels = mel_ticks(80, MelAxis(8000, scale="slaney"))  # 1 kHz is mel 15 on the slaney scale (by hand)
    assert pos[labels.index("1000")] == pytest.approx(15.0 / ((15.0 + 27.0 * np.log(8.0) / np.log(6.4)) / 81) - 0.5)


def test_mel_image_has_hz_ticks(tone):
    ax = audio_figure(tone, SR, "mel").axes[1]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert "1000" in labels and ax.get_ylabel() == "frequency (Hz, htk mel scale)"
