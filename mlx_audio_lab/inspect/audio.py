"""AudioInspector: waveform + spectrogram (linear / log / mel) with a time selection, or two signals compared."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from . import plots
from ._view import Inspector, new_figure

KINDS = ("log", "mel", "linear")


@dataclass
class Spectrogram:
    """(frames, bins) values with the time step and what the bins are."""

    values: np.ndarray
    frame_seconds: float
    kind: str
    ylabel: str
    top_hz: float | None = None  # the frequency of the last bin (linear bins span 0 .. top_hz); None for mel
    unit: str = "dB"  # what the colour means
    mel: plots.MelAxis | None = None  # the filter bank of a mel image (its ticks in Hz)


def spectrogram_data(audio: np.ndarray, sample_rate: int, kind: str = "log", n_fft: int = 512, hop: int = 128,
                     n_mels: int = 64, top_db: float = 80.0) -> Spectrogram:
    """`dsp.stft` magnitudes: "linear" |X|, "log" power in dB, "mel" mel power in dB -> (frames, bins)."""
    from .. import dsp

    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    x = np.asarray(audio, dtype=np.float32)
    if len(x) <= n_fft // 2:  # reflect padding needs more samples than half a window
        x = np.pad(x, (0, n_fft // 2 + 1 - len(x)))
    power = dsp.power_spectrogram(dsp.stft(x, n_fft=n_fft, hop_length=hop))
    if kind == "linear":
        vals, ylabel = np.sqrt(np.array(power)), "frequency (Hz)"
    elif kind == "log":
        vals, ylabel = np.array(dsp.amplitude_to_db(power, top_db=top_db)), "frequency (Hz)"
    else:
        mel = power @ dsp.mel_filters(sample_rate, n_fft, n_mels)
        vals = np.array(dsp.amplitude_to_db(mel, top_db=top_db))
        ylabel = "frequency (Hz, htk mel scale)"
    top = None if kind == "mel" else sample_rate / 2
    mel = plots.MelAxis(sample_rate / 2) if kind == "mel" else None  # dsp.mel_filters' defaults: htk, 0 .. Nyquist
    return Spectrogram(vals.astype(np.float32), hop / sample_rate, kind, ylabel, top,
                       "magnitude |X|" if kind == "linear" else "dB", mel)


def snr_text(snr: float) -> str:
    """`SNR 23.4 dB`, or `SNR > 100 dB (equal to float precision)` where the digits would only show rounding."""
    return "SNR > 100 dB (equal to float precision)" if snr > 100 else f"SNR {snr:.1f} dB"


def snr_db(reference: np.ndarray, test: np.ndarray) -> float:
    """Signal-to-noise ratio of `test` against `reference` in dB (over their common length)."""
    n = min(len(reference), len(test))
    ref = np.asarray(reference[:n], dtype=np.float64)
    noise = ref - np.asarray(test[:n], dtype=np.float64)
    p_sig, p_noise = float(np.sum(ref**2)), float(np.sum(noise**2))
    if p_noise == 0.0:
        return float("inf")
    return 10.0 * np.log10(max(p_sig, 1e-30) / p_noise)


def difference_spectrogram(reference: np.ndarray, test: np.ndarray, sample_rate: int, kind: str = "log",
                           n_fft: int = 512, hop: int = 128) -> Spectrogram:
    """test minus reference, both in dB (`kind` "log" or "mel"), over their common frames."""
    if kind == "linear":
        kind = "log"
    a = spectrogram_data(reference, sample_rate, kind, n_fft, hop, top_db=None)
    b = spectrogram_data(test, sample_rate, kind, n_fft, hop, top_db=None)
    n = min(len(a.values), len(b.values))
    return Spectrogram(b.values[:n] - a.values[:n], a.frame_seconds, f"{kind} difference", a.ylabel, a.top_hz,
                       "difference (dB)", a.mel)


def select(audio: np.ndarray, sample_rate: int, start: float, end: float) -> np.ndarray:
    """Samples between `start` and `end` seconds (clipped to the clip)."""
    i0 = max(0, int(round(start * sample_rate)))
    i1 = min(len(audio), max(i0, int(round(end * sample_rate))))
    return np.asarray(audio[i0:i1])


def wav_bytes(audio: np.ndarray, sample_rate: int) -> bytes:
    """16-bit PCM WAV bytes (for a player widget)."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.clip(np.asarray(audio, dtype=np.float32), -1, 1), int(sample_rate), format="WAV",
             subtype="PCM_16")
    return buf.getvalue()


def flat_note(audio: np.ndarray, floor: float = 1e-3) -> str:
    """A title line when the signal barely moves (99 % of its samples within a range below `floor`, -60 dB of
    full scale; an edge click does not count): its spectrogram is empty, and the figure must say so rather than
    look broken. "" otherwise."""
    a = np.asarray(audio, dtype=np.float64)
    if a.size == 0:
        return ""
    lo, hi = np.percentile(a, [0.5, 99.5])
    if hi - lo >= floor:
        return ""
    return f"\nnearly constant ({np.median(a):.3g} +- {(hi - lo) / 2:.0e}): no sound, an empty spectrogram"


def _waveform(ax, audio: np.ndarray, sample_rate: int, label: str | None = None, alpha: float = 1.0) -> None:
    t = np.arange(len(audio)) / sample_rate
    step = max(1, len(audio) // 4000)  # decimate the line for speed; the envelope stays visible
    ax.plot(t[::step], np.asarray(audio)[::step], lw=0.6, label=label, alpha=alpha)
    ax.set(ylabel="amplitude", xlim=(0, len(audio) / sample_rate))


def audio_figure(audio: np.ndarray, sample_rate: int, kind: str = "log", n_fft: int = 512, hop: int = 128,
                 span: tuple[float, float] | None = None, title: str = "audio"):
    """Waveform over spectrogram, both zoomed to `span` (seconds) when given; 2 axes."""
    fig, (ax_w, ax_s) = new_figure((10, 4.5), 2, 1, sharex=True)
    _waveform(ax_w, audio, sample_rate)
    ax_w.set_title(title + flat_note(audio))
    s = spectrogram_data(audio, sample_rate, kind, n_fft, hop)
    plots.spectrogram(s.values, s.frame_seconds, title=f"{kind} spectrogram (n_fft {n_fft}, hop {hop})",
                      ylabel=s.ylabel, ax=ax_s, cmap="magma", top=s.top_hz, unit=s.unit, mel=s.mel)
    if span is not None:
        ax_w.axvspan(*span, color="tab:orange", alpha=0.15)
        ax_s.set_xlim(*span)
    return fig


def compare_figure(reference: np.ndarray, test: np.ndarray, sample_rate: int, kind: str = "log", n_fft: int = 512,
                   hop: int = 128, span: tuple[float, float] | None = None,
                   labels: tuple[str, str] = ("reference", "port")):
    """Both waveforms, both spectrograms and their difference (test - reference, dB), SNR in the title; 4 axes."""
    fig, axes = new_figure((9, 7), 4, 1, sharex=True)
    _waveform(axes[0], reference, sample_rate, labels[0])
    _waveform(axes[0], test, sample_rate, labels[1], alpha=0.7)
    axes[0].legend(fontsize=8, loc="upper right")
    note = flat_note(reference) and flat_note(test)  # both flat: the spectrograms below are empty
    axes[0].set_title(f"{labels[1]} vs {labels[0]}: {snr_text(snr_db(reference, test))}{note}")
    for ax, x, name in zip(axes[1:3], (reference, test), labels):
        s = spectrogram_data(x, sample_rate, kind, n_fft, hop)
        plots.spectrogram(s.values, s.frame_seconds, title=f"{name}: {kind} spectrogram", ylabel=s.ylabel, ax=ax,
                          cmap="magma", top=s.top_hz, unit=s.unit, mel=s.mel)
    d = difference_spectrogram(reference, test, sample_rate, kind, n_fft, hop)
    lim = float(np.percentile(np.abs(d.values), 99)) or 1.0
    plots.spectrogram(d.values, d.frame_seconds, title=f"{labels[1]} - {labels[0]}: {d.kind}", ylabel=d.ylabel,
                      ax=axes[3], cmap="coolwarm", vmin=-lim, vmax=lim, top=d.top_hz, unit=d.unit, mel=d.mel)
    if span is not None:
        axes[0].set_xlim(*span)
    return fig


class AudioInspector(Inspector):
    """Waveform + spectrogram with kind / n_fft / hop controls, a time selection (zoom) and its player.

    `AudioInspector(clip, 16000)`; compare mode: `AudioInspector(reference, sr, other=port_output)`.
    """

    css_class = "mal-audio-inspector"

    def __init__(self, audio: np.ndarray, sample_rate: int, other: np.ndarray | None = None, kind: str = "log",
                 n_fft: int = 512, hop: int = 128, labels: tuple[str, str] = ("reference", "port"),
                 title: str = "audio"):
        super().__init__()
        self.audio = np.asarray(audio, dtype=np.float32)
        self.other = None if other is None else np.asarray(other, dtype=np.float32)
        self.sample_rate = int(sample_rate)
        self.kind, self.n_fft, self.hop = kind, int(n_fft), int(hop)
        self.labels, self.title = labels, title
        self.duration = len(self.audio) / self.sample_rate
        self.span = (0.0, self.duration)
        self._player = None

    @property
    def snr(self) -> float | None:
        """SNR (dB) of `other` against `audio` in compare mode, else None."""
        return None if self.other is None else snr_db(self.audio, self.other)

    def selection(self) -> np.ndarray:
        """The selected samples of the (first) signal."""
        return select(self.audio, self.sample_rate, *self.span)

    def set_span(self, start: float, end: float) -> None:
        """Select [start, end] seconds: both plots zoom there and the player plays it."""
        start, end = max(0.0, float(start)), min(self.duration, float(end))
        self.span = (start, max(start, end))
        if self._player is not None and self._player.value:
            self._player.value = wav_bytes(self.selection(), self.sample_rate)
        self.refresh()

    def figure(self):
        span = None if self.span == (0.0, self.duration) else self.span
        if self.other is None:
            return audio_figure(self.audio, self.sample_rate, self.kind, self.n_fft, self.hop, span, self.title)
        return compare_figure(self.audio, self.other, self.sample_rate, self.kind, self.n_fft, self.hop, span,
                              self.labels)

    def summary(self) -> str:
        head = f"AudioInspector: {self.duration:.2f} s at {self.sample_rate} Hz"
        if self.other is not None:
            head += f", compare {self.labels[1]} vs {self.labels[0]}: {snr_text(self.snr)}"
        return head + f"; {self.kind} spectrogram, n_fft {self.n_fft}, hop {self.hop}"

    def status(self) -> str:
        return f"selection {self.span[0]:.2f}-{self.span[1]:.2f} s; {self.kind}, n_fft {self.n_fft}, hop {self.hop}"

    def _controls(self) -> list:
        import ipywidgets as W

        kind = W.Dropdown(options=list(KINDS), value=self.kind, description="kind")
        ffts = sorted({256, 512, 1024, 2048, self.n_fft})
        n_fft = W.Dropdown(options=ffts, value=self.n_fft, description="n_fft")
        hop = W.Dropdown(options=sorted({64, 128, 256, 512, self.hop}), value=self.hop, description="hop")
        span = W.FloatRangeSlider(value=list(self.span), min=0.0, max=round(self.duration, 2), step=0.01,
                                  description="select (s)", readout_format=".2f", continuous_update=False)
        for w in (kind, n_fft, hop, span):
            w.add_class("mal-" + w.description.split()[0].replace("_", "-"))

        def on_setting(_):
            self.kind, self.n_fft, self.hop = kind.value, int(n_fft.value), int(hop.value)
            self.refresh()

        for w in (kind, n_fft, hop):
            w.observe(on_setting, names="value")
        span.observe(lambda ch: self.set_span(*ch["new"]), names="value")
        self._span_slider = span
        return [W.VBox([kind, n_fft, hop]), span]

    def _extra(self) -> list:
        import ipywidgets as W

        self._player = W.Audio(value=b"", format="wav", autoplay=True)  # filled on demand: notebooks stay small
        self._player.add_class("mal-player")
        button = W.Button(description="play selection", icon="play")
        button.add_class("mal-play")
        button.on_click(lambda _: self.play())
        return [W.HBox([button, self._player])]

    def play(self) -> None:
        """Load the selection into the widget's player (it starts playing in the browser)."""
        if self._player is not None:
            self._player.value = wav_bytes(self.selection(), self.sample_rate)
