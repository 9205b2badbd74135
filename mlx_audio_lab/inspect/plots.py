"""Static matplotlib views used by notebooks and inspectors (each returns its Figure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

_ROUND_HZ = (100, 250, 500, 1000, 2000, 4000, 8000, 16000)  # octaves: even steps where mel is log


@dataclass(frozen=True)
class MelAxis:
    """What the bins of a mel image are: a filter bank from `f_min` to `f_max` Hz on the `scale` ("htk", "kaldi"
    or "slaney") mel scale, as the model's front end builds it."""

    f_max: float
    f_min: float = 0.0
    scale: str = "htk"


def mel_ticks(n_mels: int, axis: MelAxis, max_ticks: int = 9) -> tuple[np.ndarray, list[str]]:
    """(positions, labels) of round-Hz ticks on a mel image whose band i spans [i, i + 1] on y: band centres sit at
    equal mel steps between f_min and f_max (n_mels + 2 edges), so a frequency f lands at
    (mel(f) - mel(f_min)) / step - 0.5; only values inside the bands, at least n_mels / max_ticks apart."""
    from ..dsp import hz_to_mel

    lo, hi = float(hz_to_mel(axis.f_min, axis.scale)), float(hz_to_mel(axis.f_max, axis.scale))
    step = (hi - lo) / (n_mels + 1)
    pos, labels = [], []
    for f in _ROUND_HZ:
        y = (float(hz_to_mel(f, axis.scale)) - lo) / step - 0.5
        if 0 <= y <= n_mels and (not pos or y - pos[-1] >= n_mels / max_ticks):
            pos.append(y)
            labels.append(f"{f:g}")
    return np.asarray(pos), labels


def _fig(figsize, ax=None):
    """(figure, axes): a new pyplot figure, or the figure of `ax` when the caller gives one to draw into."""
    if ax is not None:
        return ax.figure, ax
    import matplotlib.pyplot as plt  # the backend stays the caller's (inline in notebooks, Agg headless)

    return plt.subplots(figsize=figsize)


def _finish(fig, own: bool) -> None:
    """tight_layout only for figures made here (a caller's layout is its own business)."""
    if own and fig.get_layout_engine() is None:
        fig.tight_layout()


def spectrogram(features: np.ndarray, frame_seconds: float = 0.01, title: str = "log-mel spectrogram",
                ylabel: str = "mel bin", figsize=(10, 3), ax=None, top: float | None = None, unit: str = "",
                mel: MelAxis | None = None, **imshow_kw):
    """Plot (frames, bins) features as an image with time in seconds on x; with `top` (Hz of the last bin, linear
    bins) the y axis is frequency in Hz, with `mel` the bands are labelled with their centre frequency in Hz;
    `unit` labels the colorbar."""
    own = ax is None
    fig, ax = _fig(figsize, ax)
    f = np.asarray(features)
    y_top = f.shape[1] if top is None else top
    im = ax.imshow(f.T, origin="lower", aspect="auto", interpolation="nearest",
                   extent=(0, f.shape[0] * frame_seconds, 0, y_top), **imshow_kw)
    ax.set(xlabel="time (s)", ylabel=ylabel, title=title)
    if mel is not None:
        pos, labels = mel_ticks(f.shape[1], mel)
        ax.set_yticks(pos, labels)
        ax.set_ylabel(f"frequency (Hz, {mel.scale} mel scale)" if ylabel == "mel bin" else ylabel)
    fig.colorbar(im, ax=ax, pad=0.01, label=unit or None)
    _finish(fig, own)
    return fig


def attention(weights: np.ndarray, labels: Sequence[str], seconds_per_position: float = 0.02,
              title: str = "cross attention", figsize=(10, 4), ax=None):
    """Plot (tokens, positions) attention with token labels on y and time on x."""
    own = ax is None
    fig, ax = _fig(figsize, ax)
    w = np.asarray(weights)
    im = ax.imshow(w, aspect="auto", interpolation="nearest", cmap="magma",
                   extent=(0, w.shape[1] * seconds_per_position, len(labels) - 0.5, -0.5))
    fig.colorbar(im, ax=ax, pad=0.01, label="attention weight")
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels(labels, fontsize=8)
    ax.set(xlabel="time (s)", title=title)
    _finish(fig, own)
    return fig


def codes(grid: np.ndarray, frame_seconds: float | None, title: str = "codes (codebook x time)", figsize=(10, 3),
          ax=None):
    """Plot a (codebooks, frames) integer code grid: code index as colour (a colorbar, no repeating palette),
    integer codebook ticks; time in seconds, or in frames when `frame_seconds` is None (rate unknown)."""
    from matplotlib.ticker import MaxNLocator

    own = ax is None
    fig, ax = _fig(figsize, ax)
    g = np.asarray(grid)
    im = ax.imshow(g, aspect="auto", interpolation="nearest", cmap="viridis",
                   extent=(0, g.shape[1] * (frame_seconds or 1), g.shape[0] - 0.5, -0.5))
    ax.set(xlabel="time (s)" if frame_seconds else "frame", ylabel="codebook", title=title)
    if g.shape[0] <= 16:
        ax.set_yticks(range(g.shape[0]))  # every codebook, integers only (one row gets one tick, not -0.5 .. 0.5)
    else:
        ax.yaxis.set_major_locator(MaxNLocator(nbins=16, integer=True))
    fig.colorbar(im, ax=ax, pad=0.01, label="code index")
    _finish(fig, own)
    return fig


def parity_bars(report, figsize=(10, 3), ax=None, highlight: str | None = None):
    """Max-abs error per layer against its tolerance (log scale): first divergence red, later failures orange;
    a layer whose shapes differ (or with non-finite values) gets a hatched full-height bar saying so."""
    own = ax is None
    if own:  # the rotated layer names take height of their own: keep the bars as tall as asked
        figsize = (figsize[0], figsize[1] + 0.055 * max((len(r.name) for r in report.layers), default=0))
    fig, ax = _fig(figsize, ax)
    names = [r.name for r in report.layers]
    finite = [np.isfinite(r.max_abs) for r in report.layers]
    known = [max(r.max_abs, 1e-12) for r, f in zip(report.layers, finite) if f] + [r.tol for r in report.layers]
    top = 10 ** np.ceil(np.log10(max(known) * 10))
    errs = [max(r.max_abs, 1e-12) if f else top for r, f in zip(report.layers, finite)]
    first = report.first_divergence
    colors = ["tab:red" if r.name == first else "tab:blue" if r.ok else "tab:orange" for r in report.layers]
    bars = ax.bar(range(len(names)), errs, color=colors)
    for i, (bar, f) in enumerate(zip(bars, finite)):
        if not f:
            bar.set_hatch("//")
            bar.set_alpha(0.5)
            why = "shape differs" if report.layers[i].ref_shape is not None else "not finite"
            ax.text(i, top ** 0.5 * min(errs) ** 0.5, why, rotation=90, ha="center", va="center", fontsize=7)
    ax.plot(range(len(names)), [r.tol for r in report.layers], "k_", markersize=14, label="tolerance")
    ax.set_yscale("log")
    ax.set_ylim(top=top)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=60, ha="right", fontsize=8)
    ax.set(ylabel="max |MLX - PyTorch|", title=f"parity: {report.model}")
    if first is not None:
        ax.get_xticklabels()[names.index(first)].set_color("tab:red")
    if highlight in names:
        ax.get_xticklabels()[names.index(highlight)].set_fontweight("bold")
        ax.axvspan(names.index(highlight) - 0.5, names.index(highlight) + 0.5, color="0.85", zorder=0)
    ax.legend(fontsize=8)
    _finish(fig, own)
    return fig


def png(fig, dpi: int = 72, colors: int | None = None):
    """A figure as an IPython PNG image (for figures made without pyplot, which notebooks do not auto-display);
    with `colors`, a palette PNG of that many colours (several times smaller for noise-like images)."""
    import io

    from IPython.display import Image

    if colors is not None:
        from ._view import png_bytes

        return Image(png_bytes(fig, dpi=dpi, colors=colors))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return Image(buf.getvalue())


def frequency_response(freqs_hz: np.ndarray, gain_db: dict[str, np.ndarray] | np.ndarray,
                       marks_hz: dict[str, float] | None = None, title: str = "filter frequency response",
                       floor_db: float = -120.0, figsize=(10, 3), ax=None):
    """Gain in dB over frequency in Hz (one curve, or one per label), vertical lines at the marked frequencies."""
    own = ax is None
    fig, ax = _fig(figsize, ax)
    curves_db = gain_db if isinstance(gain_db, dict) else {"gain": gain_db}
    for label, g in curves_db.items():
        ax.plot(freqs_hz, np.maximum(np.asarray(g), floor_db), label=label)
    for i, (label, f) in enumerate((marks_hz or {}).items()):
        ax.axvline(f, color=f"C{len(curves_db) + i}", linestyle="--", label=f"{label} ({f:,.0f} Hz)")
    ax.set(xlabel="frequency (Hz)", ylabel="gain (dB)", title=title, ylim=(floor_db, None))
    ax.legend(fontsize=8)
    _finish(fig, own)
    return fig


def words_on_waveform(audio: np.ndarray, sample_rate: int, words: Sequence, title: str = "words on the waveform",
                      figsize=(10, 3), ax=None):
    """Waveform with each word's span (objects with .word, .start, .end in seconds) shaded and labelled."""
    own = ax is None
    fig, ax = _fig(figsize, ax)
    a = np.asarray(audio)
    t = np.arange(len(a)) / sample_rate
    ax.plot(t, a, color="0.35", linewidth=0.5)
    top = float(np.abs(a).max()) or 1.0
    for i, w in enumerate(words):
        ax.axvspan(w.start, w.end, color=f"C{i % 2}", alpha=0.18)
        ax.text((w.start + w.end) / 2, top * (1.05 if i % 2 == 0 else 0.85), w.word.strip(), ha="center",
                va="bottom", fontsize=8)
    ax.set(xlabel="time (s)", ylabel="amplitude", title=title, xlim=(0, t[-1] if len(t) else 1),
           ylim=(-top * 1.1, top * 1.3))
    _finish(fig, own)
    return fig


def curves(x: np.ndarray, ys: dict[str, np.ndarray], xlabel: str, ylabel: str, title: str, figsize=(10, 3),
           ax=None):
    """Labelled curves y(x) on shared axes (activation shapes, responses)."""
    own = ax is None
    fig, ax = _fig(figsize, ax)
    for label, y in ys.items():
        ax.plot(x, y, label=label)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.legend(fontsize=8)
    _finish(fig, own)
    return fig


def alignment_path(matrix: np.ndarray, path: tuple[np.ndarray, np.ndarray], labels: Sequence[str],
                   seconds_per_position: float = 0.02, title: str = "alignment matrix and DTW path",
                   figsize=(10, 4), ax=None):
    """(tokens, positions) alignment matrix with the DTW path over it; tokens on y, time on x, a colorbar."""
    own = ax is None
    fig, ax = _fig(figsize, ax)
    m = np.asarray(matrix)
    im = ax.imshow(m, aspect="auto", interpolation="nearest", cmap="viridis",
                   extent=(0, m.shape[1] * seconds_per_position, len(labels) - 0.5, -0.5))
    rows, cols = path
    ax.plot((np.asarray(cols) + 0.5) * seconds_per_position, rows, color="red", linewidth=1.2, label="DTW path")
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels(labels, fontsize=8)
    ax.set(xlabel="time (s)", ylabel="token (input)", title=title)
    ax.legend(fontsize=8, loc="upper right")
    fig.colorbar(im, ax=ax, pad=0.01, label="normalised attention (z)")
    _finish(fig, own)
    return fig


def token_kinds(kinds: np.ndarray, names: Sequence[str], frame_seconds: float, title: str, figsize=(10, 3),
                ax=None, ylabel: str = "codebook"):
    """Plot a (rows, frames) grid of kind indices (code / BOS / PAD / EOS ...) in categorical colours, with a legend."""
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    own = ax is None
    fig, ax = _fig(figsize, ax)
    k = np.asarray(kinds)
    colours = ["#4c72b0", "#55a868", "#dddddd", "#c44e52", "#8172b2", "#ccb974"][: len(names)]
    ax.imshow(k, aspect="auto", interpolation="nearest", cmap=ListedColormap(colours), vmin=-0.5,
              vmax=len(names) - 0.5, extent=(0, k.shape[1] * frame_seconds, k.shape[0] - 0.5, -0.5))
    ax.set(xlabel="time (s)", ylabel=ylabel, title=title)
    ax.legend(handles=[Patch(color=c, label=n) for c, n in zip(colours, names)], loc="upper left",
              bbox_to_anchor=(1.01, 1), fontsize=8)
    _finish(fig, own)
    return fig
