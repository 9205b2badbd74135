"""TokenInspector: codec code grids (usage, entropy, decode a span) and decoder steps with top-k probabilities."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from . import plots
from ._view import Inspector, new_figure

# ----------------------------------------------------------------------------------------------- codecs


def code_usage(codes: np.ndarray, codebook_size: int | None = None) -> np.ndarray:
    """(codebooks, codebook_size) count of each code in each codebook's row of a (codebooks, frames) grid."""
    c = np.asarray(codes, dtype=np.int64)
    size = int(codebook_size or (c.max() + 1 if c.size else 1))
    return np.stack([np.bincount(row, minlength=size)[:size] for row in c])


def code_entropy(codes: np.ndarray, codebook_size: int | None = None) -> np.ndarray:
    """Entropy in bits of each codebook's code distribution (log2(codebook_size) when all codes are equally used)."""
    usage = code_usage(codes, codebook_size).astype(np.float64)
    p = usage / np.maximum(usage.sum(axis=1, keepdims=True), 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return 0.0 - np.sum(np.where(p > 0, p * np.log2(p), 0.0), axis=1)


def decode_span(codec, codes: np.ndarray, start: int, end: int) -> np.ndarray:
    """Audio of frames [start, end) only: the codec decodes that slice of the grid."""
    c = np.asarray(codes)[:, int(start) : int(end)]
    if c.shape[1] == 0:
        raise ValueError(f"empty frame span [{start}, {end})")
    return np.asarray(codec.decode(c), dtype=np.float32)


def codes_figure(codes: np.ndarray, frame_seconds: float | None, codebook_size: int | None = None,
                 span: tuple[int, int] | None = None):
    """Code grid (codebook x time) over per-codebook usage histograms with their entropy; 2 axes."""
    c = np.asarray(codes)
    size = int(codebook_size or c.max() + 1)
    fig, (ax_g, ax_u) = new_figure((10, 5.5), 2, 1, height_ratios=[1.2, 1])
    plots.codes(c, frame_seconds, title=f"codes: {c.shape[0]} codebooks x {c.shape[1]} frames", ax=ax_g)
    if span is not None:
        step = frame_seconds or 1  # seconds per frame, or frames when the rate is unknown
        ax_g.axvspan(span[0] * step, span[1] * step, color="white", alpha=0.35, ec="k")
    usage, ent = code_usage(c, size), code_entropy(c, size)
    if len(usage) > 8:  # too many curves to tell apart: the entropy of each codebook as a bar
        ax_u.bar(np.arange(len(ent)), ent, color="tab:blue")
        ax_u.axhline(np.log2(size), color="k", ls="--", lw=1, label=f"max {np.log2(size):.2f} bits")
        ax_u.set(xlabel="codebook", ylabel="entropy (bits)",
                 title=f"usage per codebook: entropy of its codes (max entropy {np.log2(size):.2f} bits)")
        ax_u.xaxis.get_major_locator().set_params(integer=True)
    else:
        for q in range(len(usage)):
            ax_u.step(np.arange(size), usage[q], where="mid", lw=1, label=f"codebook {q}: {ent[q]:.2f} bits")
        ax_u.set(xlabel="code", ylabel="count", title=f"usage per codebook (max entropy {np.log2(size):.2f} bits)")
    ax_u.legend(fontsize=7, ncol=2)
    return fig


# ----------------------------------------------------------------------------------------------- decoders


@dataclass
class DecodeStep:
    """One decoding step: the chosen token, the k most likely tokens with probabilities, its cost."""

    step: int
    token: int
    label: str
    top_ids: list[int]
    top_probs: list[float]
    top_labels: list[str]
    seconds: float = float("nan")
    memory_mb: float = float("nan")


def softmax(x: np.ndarray) -> np.ndarray:
    """Probabilities along the last axis (float64, -inf allowed)."""
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def topk_steps(logits: np.ndarray, tokens: Sequence[int], k: int = 5,
               label: Callable[[int], str] = str) -> list[DecodeStep]:
    """Steps from (steps, vocab) logits and the tokens chosen at each step."""
    out = []
    for i, (row, tok) in enumerate(zip(np.asarray(logits), tokens)):
        p = softmax(row)
        top = np.argsort(-p, kind="stable")[:k]
        out.append(DecodeStep(i, int(tok), label(int(tok)), [int(t) for t in top], [float(p[t]) for t in top],
                              [label(int(t)) for t in top]))
    return out


def whisper_steps(model, audio_or_mel: np.ndarray, k: int = 5, max_new_tokens: int = 32,
                  prompt: Sequence[int] | None = None) -> list[DecodeStep]:
    """Greedy Whisper decoding (as `decoding.greedy`, no timestamps) recording top-k, time and memory per step."""
    import mlx.core as mx

    from ..models.stt.whisper.decoding import LogitRules
    from ..models.stt.whisper.transcribe import features, window
    from .attention import token_labels

    x = np.asarray(audio_or_mel, dtype=np.float32)
    mel = features(x, model.config.num_mel_bins) if x.ndim == 1 else x
    mel = mel if mel.ndim == 3 else window(mel, 0, model.config.n_frames)
    tok = getattr(model, "tokenizer", None)
    if prompt is None:
        prompt = tok.sot_sequence(None if not tok.multilingual else "en", "transcribe", False) if tok else \
            [model.config.decoder_start_token_id]
    audio = model.embed_audio(mx.array(mel))
    rules = LogitRules.for_model(model, False)
    state, eot = model.new_state(), model.config.eos_token_id
    feed, out, steps = mx.array([list(prompt)]), [], []
    for i in range(max_new_tokens):
        t0 = time.perf_counter()
        logits = np.array(model.logits(feed, audio, state)[:, -1].astype(mx.float32))
        scores = rules(logits, [out])[0]
        token = int(scores.argmax())
        p = softmax(scores)
        top = np.argsort(-p, kind="stable")[:k]
        labels = token_labels(tok, [token, *top.tolist()])
        steps.append(DecodeStep(i, token, labels[0], [int(t) for t in top], [float(p[t]) for t in top], labels[1:],
                                time.perf_counter() - t0, mx.get_active_memory() / 2**20))
        out.append(token)
        if token == eot or len(prompt) + len(out) >= model.config.max_target_positions:
            break
        feed = mx.array([[token]])
    return steps


def steps_figure(steps: Sequence[DecodeStep], selected: int | None = None):
    """Top-k probability grid (rank x step, chosen token labelled) and the selected step's top-k bars; 2 axes."""
    k = max(len(s.top_probs) for s in steps)
    grid = np.zeros((k, len(steps)))
    for j, s in enumerate(steps):
        grid[: len(s.top_probs), j] = s.top_probs
    fig, (ax_g, ax_b) = new_figure((10, 5.5), 2, 1, height_ratios=[1.3, 1])
    im = ax_g.imshow(grid, aspect="auto", cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
    fig.colorbar(im, ax=ax_g, pad=0.01, label="probability")
    ax_g.set_xticks(range(len(steps)), [s.label for s in steps], rotation=70, fontsize=7)
    ax_g.set_yticks(range(k), [f"#{r + 1}" for r in range(k)])
    ax_g.set(ylabel="rank", title=f"top-{k} probabilities at each decoding step (x: the token chosen)")
    sel = steps[len(steps) - 1 if selected is None else selected]
    ax_g.axvline(sel.step, color="w", lw=1)
    ax_b.barh(range(len(sel.top_probs))[::-1], sel.top_probs, color="tab:blue")
    ax_b.set_yticks(range(len(sel.top_probs))[::-1], sel.top_labels, fontsize=8)
    for r, p in enumerate(sel.top_probs):
        ax_b.text(min(p + 0.01, 0.9), len(sel.top_probs) - 1 - r, f"{p:.2f}", va="center", fontsize=8)
    ax_b.set(xlim=(0, 1), xlabel="probability", title=f"step {sel.step}: the top-{k} candidates; chose {sel.label}")
    return fig


# ----------------------------------------------------------------------------------------------- view


class TokenInspector(Inspector):
    """`TokenInspector.for_codec(codec, codes)` (grid, usage, decode a span) or `.for_steps(steps)` (top-k)."""

    css_class = "mal-token-inspector"

    def __init__(self, codes: np.ndarray | None = None, steps: Sequence[DecodeStep] | None = None, codec=None,
                 frame_seconds: float | None = None, codebook_size: int | None = None,
                 sample_rate: int | None = None):
        super().__init__()
        if (codes is None) == (steps is None):
            raise ValueError("give either codes (codec) or steps (decoder)")
        self.codes = None if codes is None else np.asarray(codes)
        self.steps = None if steps is None else list(steps)
        self.codec, self.frame_seconds, self.codebook_size = codec, frame_seconds, codebook_size
        self.sample_rate = sample_rate
        self.span = (0, self.codes.shape[1]) if self.codes is not None else None
        self.selected = len(self.steps) - 1 if self.steps else 0
        self._player = None

    @classmethod
    def for_codec(cls, codec, codes: np.ndarray, codebook_size: int | None = None) -> TokenInspector:
        """A codec's (codebooks, frames) codes; frame rate, codebook size and sample rate read from `codec.config`."""
        cfg = getattr(codec, "config", None)
        rate = getattr(codec, "sample_rate", None) or getattr(cfg, "sampling_rate", None)
        fps = getattr(cfg, "frame_rate", None) or getattr(codec, "frame_rate", None)
        rates = getattr(cfg, "frame_rates", None)  # multi-scale (SNAC): a grid has one column per coarsest frame
        if fps is None and rates and np.shape(codes)[0] == sum(round(r / rates[0]) for r in rates):
            fps = rates[0]
        size = codebook_size or getattr(cfg, "codebook_size", None)
        return cls(codes=codes, codec=codec, frame_seconds=1.0 / fps if fps else None, codebook_size=size,
                   sample_rate=rate)

    @classmethod
    def for_steps(cls, steps: Sequence[DecodeStep]) -> TokenInspector:
        """Decoder steps (`whisper_steps`, `topk_steps`)."""
        return cls(steps=steps)

    @classmethod
    def from_whisper(cls, model, audio_or_mel: np.ndarray, k: int = 5, max_new_tokens: int = 32) -> TokenInspector:
        """Greedy Whisper decoding with the top-k at every step."""
        return cls(steps=whisper_steps(model, audio_or_mel, k, max_new_tokens))

    def figure(self):
        if self.codes is not None:
            full = self.span == (0, self.codes.shape[1])
            return codes_figure(self.codes, self.frame_seconds, self.codebook_size, None if full else self.span)
        return steps_figure(self.steps, self.selected)

    def summary(self) -> str:
        if self.codes is not None:
            ent = code_entropy(self.codes, self.codebook_size)
            return (f"TokenInspector: {self.codes.shape[0]} codebooks x {self.codes.shape[1]} frames, entropy "
                    + " ".join(f"{e:.2f}" for e in ent) + " bits")
        text = "".join(s.label.strip("'\"") for s in self.steps if s.label.startswith(("'", '"')))
        return f"TokenInspector: {len(self.steps)} decoding steps, k={len(self.steps[0].top_probs)}: {text!r}"

    def status(self) -> str:
        if self.codes is not None:
            a, b = self.span
            if not self.frame_seconds:
                return f"frames {a}-{b}"
            return f"frames {a}-{b} ({a * self.frame_seconds:.2f}-{b * self.frame_seconds:.2f} s)"
        s = self.steps[self.selected]
        p = s.top_probs[s.top_ids.index(s.token)] if s.token in s.top_ids else 0.0
        return f"step {s.step}: {s.label} p={p:.2g}"

    def decode_selection(self) -> np.ndarray:
        """Audio of the selected frame span (codec mode)."""
        if self.codec is None:
            raise ValueError("no codec given: use TokenInspector.for_codec(codec, codes)")
        return decode_span(self.codec, self.codes, *self.span)

    def _controls(self) -> list:
        import ipywidgets as W

        if self.codes is not None:
            n = self.codes.shape[1]
            span = W.IntRangeSlider(value=list(self.span), min=0, max=n, description="frames",
                                    continuous_update=False)
            span.add_class("mal-span")

            def on_span(ch):
                self.span = (int(ch["new"][0]), int(ch["new"][1]))
                self.refresh()

            span.observe(on_span, names="value")
            return [span]
        return [self._step_slider(len(self.steps))]

    def _extra(self) -> list:
        import ipywidgets as W

        if self.codes is None or self.codec is None or not self.sample_rate:
            return []
        from .audio import wav_bytes

        self._player = W.Audio(value=b"", format="wav", autoplay=False)
        button = W.Button(description="decode selection")
        button.add_class("mal-decode")

        def on_click(_):
            self._player.value = wav_bytes(self.decode_selection(), self.sample_rate)

        button.on_click(on_click)
        return [W.HBox([button, self._player])]
