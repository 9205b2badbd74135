"""AttentionInspector: self- and cross-attention maps per layer and head (or averaged), with token/time labels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from . import plots
from ._view import Inspector, new_figure

AVG = "avg"
ALIGNMENT = "alignment"


@dataclass
class AttentionMaps:
    """Weights of one teacher-forced pass: cross (layers, heads, tokens, positions), self (layers, heads, T, T)."""

    tokens: list[str]
    cross: np.ndarray | None = None
    self_attn: np.ndarray | None = None
    seconds_per_position: float = 0.02
    alignment_heads: list[tuple[int, int]] = field(default_factory=list)
    positions: list[int] | None = None  # the sequence positions kept by `crop` (None: all, in order)
    log_colour: bool = False  # colour self attention on a log scale (a long causal map: weights ~ 1 / position)

    def weights(self, kind: str) -> np.ndarray:
        """The (layers, heads, T, S) array of "cross" or "self" attention."""
        w = self.cross if kind == "cross" else self.self_attn if kind == "self" else None
        if w is None:
            raise ValueError(f"no {kind!r} attention recorded (have: {self.kinds})")
        return w

    @property
    def kinds(self) -> list[str]:
        return [k for k, w in (("cross", self.cross), ("self", self.self_attn)) if w is not None]

    @property
    def n_layers(self) -> int:
        return self.weights(self.kinds[0]).shape[0]

    @property
    def n_heads(self) -> int:
        return self.weights(self.kinds[0]).shape[1]

    def crop(self, positions: Sequence[int]) -> AttentionMaps:
        """Only the tokens at `positions` (a long prompt cut to the part worth reading): self attention keeps those
        queries and keys (rows then sum to the mass on the kept keys), cross attention those query rows."""
        idx = np.asarray(positions, dtype=int)
        selfs = None if self.self_attn is None else self.self_attn[..., idx, :][..., idx]
        cross = None if self.cross is None else self.cross[..., idx, :]
        return AttentionMaps([self.tokens[i] for i in idx], cross, selfs, self.seconds_per_position,
                             self.alignment_heads, [int(i) for i in idx], self.log_colour)


def select_map(weights: np.ndarray, layer: int, head: int | str = AVG,
               alignment_heads: Sequence[tuple[int, int]] = ()) -> np.ndarray:
    """One (T, S) map from (layers, heads, T, S): a head, the mean over heads ("avg") or over alignment heads."""
    w = np.asarray(weights)
    if head == ALIGNMENT:
        if not alignment_heads:
            raise ValueError("no alignment heads given")
        return np.mean([w[layer_, h] for layer_, h in alignment_heads], axis=0)
    if head == AVG:
        return w[layer].mean(axis=0)
    return w[layer, int(head)]


def attention_figure(maps: AttentionMaps, kind: str = "cross", layer: int = 0, head: int | str = AVG):
    """The selected map: tokens on y; time (cross) or tokens (self) on x. One axes."""
    w = select_map(maps.weights(kind), layer, head, maps.alignment_heads)
    fig, ax = new_figure((10, max(2.5, 0.22 * len(maps.tokens) + 1.2)))
    heads = ", ".join(f"{a}.{b}" for a, b in maps.alignment_heads)
    what = f"mean of the alignment heads (layer.head {heads})" if head == ALIGNMENT else f"layer {layer}, " + (
        "mean of heads" if head == AVG else f"head {head}")
    if kind == "cross":
        plots.attention(w, maps.tokens, maps.seconds_per_position, title=f"cross attention: {what}", ax=ax)
    else:
        norm = None
        if maps.log_colour:
            from matplotlib.colors import LogNorm

            norm = LogNorm(vmin=max(float(w[w > 0].min()), 1e-4), vmax=float(w.max()))
            w = np.where(w > 0, w, np.nan)  # the causal mask's zeros: no colour
        im = ax.imshow(w, aspect="auto", interpolation="nearest", cmap="magma", norm=norm)
        fig.colorbar(im, ax=ax, pad=0.01, label="attention weight" + (" (log scale)" if norm else ""))
        ticks = range(len(maps.tokens))
        ax.set_yticks(ticks, maps.tokens, fontsize=8)
        ax.set_xticks(ticks, maps.tokens, fontsize=8, rotation=90)
        ax.set(title=f"self attention: {what}", xlabel="attended token")
        if maps.positions is not None:  # where the crop skips tokens: a dashed line and the count left out
            for i in np.flatnonzero(np.diff(maps.positions) > 1):
                for f in (ax.axvline, ax.axhline):
                    f(i + 0.5, color="c", ls="--", lw=1)
                gap = maps.positions[i + 1] - maps.positions[i] - 1
                ax.annotate(f"{gap} token{'s' * (gap > 1)} left out", (i + 0.5, 0),
                            xytext=(3, -3), textcoords="offset points", color="c", fontsize=8, va="top")
    return fig


def token_labels(tokenizer, tokens: Sequence[int]) -> list[str]:
    """A short readable label per token id (control tokens by name, text tokens quoted)."""
    out = []
    for t in tokens:
        t = int(t)
        if tokenizer is None:
            out.append(str(t))
        elif t < tokenizer.eot:
            out.append(repr(tokenizer.decode([t])))
        elif t >= tokenizer.timestamp_begin:
            out.append(f"<|{(t - tokenizer.timestamp_begin) * 0.02:.2f}|>")
        else:
            raw = getattr(tokenizer, "_tok", None)
            out.append((raw.id_to_token(t) if raw is not None else None) or f"<{t}>")
    return out


def whisper_attention(model, audio_or_mel: np.ndarray, tokens: Sequence[int],
                      positions: int | None = None) -> AttentionMaps:
    """Teacher-forced Whisper pass over `tokens` (the model's own decoder), keeping the self and cross attention
    of every decoder layer through attention taps (`layers.attention.tap_attention_weights`).

    `audio_or_mel`: 16 kHz audio (T,) or a log-mel (frames, n_mels) / (1, frames, n_mels). Cross attention is
    cut to the audio's own positions (`positions`, or the clip length for audio input).
    """
    import mlx.core as mx

    from ..layers.attention import tap_attention_weights
    from ..models.stt.whisper.transcribe import HOP, features, window
    from ..taps import capture

    x = np.asarray(audio_or_mel, dtype=np.float32)
    if x.ndim == 1:
        positions = positions or -(-len(x) // (2 * HOP))
        x = features(x, model.config.num_mel_bins)
    mel = x if x.ndim == 3 else window(x, 0, model.config.n_frames)
    tap_attention_weights(model.decoder, "weights")
    n = len(model.decoder.layers)
    names = {kind: [f"layers.{i}.{kind}.weights" for i in range(n)] for kind in ("self_attn", "encoder_attn")}
    audio = model.embed_audio(mx.array(mel))
    with capture(names["self_attn"] + names["encoder_attn"]) as got:
        model.decoder(mx.array([list(map(int, tokens))]), audio)
    selfs, cross = (np.array(mx.stack([got[k][0] for k in names[kind]]).astype(mx.float32))
                    for kind in ("self_attn", "encoder_attn"))
    if positions:
        cross = cross[..., :positions]
    return AttentionMaps(token_labels(getattr(model, "tokenizer", None), tokens), cross, selfs, 0.02,
                         [tuple(map(int, p)) for p in model.alignment_heads])


class AttentionInspector(Inspector):
    """Layer / head / kind selectors over `AttentionMaps`; `from_whisper(model, audio, tokens)` builds one."""

    css_class = "mal-attention-inspector"

    @classmethod
    def from_llama(cls, lm, tokens: list[int], labels: list[str] | None = None, keep: Sequence[int] | None = None,
                   log_colour: bool = False) -> AttentionInspector:
        """Self-attention of every block of an mlx-lm Llama (e.g. Orpheus's `model.lm`) over token ids; `keep`
        shows only those positions (the whole sequence still runs), `log_colour` a log colour scale."""
        import mlx.core as mx

        from ..generation.backbone import llama_self_attention

        w = np.array(llama_self_attention(lm, mx.array([tokens])))
        maps = AttentionMaps(labels or [str(t) for t in tokens], self_attn=w, seconds_per_position=1.0,
                             log_colour=log_colour)
        return cls(maps if keep is None else maps.crop(keep))

    def __init__(self, maps: AttentionMaps, kind: str | None = None, layer: int | None = None,
                 head: int | str = AVG):
        super().__init__()
        self.maps = maps
        self.kind = kind or maps.kinds[0]
        self.layer = maps.n_layers - 1 if layer is None else int(layer)
        self.head = head

    @classmethod
    def from_whisper(cls, model, audio_or_mel: np.ndarray, tokens: Sequence[int], **kw) -> AttentionInspector:
        """Whisper's attention over a transcript (prompt + tokens); see `whisper_attention`."""
        return cls(whisper_attention(model, audio_or_mel, tokens, kw.pop("positions", None)), **kw)

    def map(self) -> np.ndarray:
        """The (T, S) map selected now."""
        return select_map(self.maps.weights(self.kind), self.layer, self.head, self.maps.alignment_heads)

    def figure(self):
        return attention_figure(self.maps, self.kind, self.layer, self.head)

    def summary(self) -> str:
        m = self.maps
        w = m.weights(m.kinds[0])
        return (f"AttentionInspector: {'+'.join(m.kinds)} attention, {m.n_layers} layers x {m.n_heads} heads, "
                f"{len(m.tokens)} tokens x {w.shape[-1]} positions, {len(m.alignment_heads)} alignment heads")

    def status(self) -> str:
        head = "alignment heads" if self.head == ALIGNMENT else (
            "mean of heads" if self.head == AVG else f"head {self.head}")
        return f"{self.kind} attention, layer {self.layer}, {head}"

    def _controls(self) -> list:
        import ipywidgets as W

        kind = W.Dropdown(options=self.maps.kinds, value=self.kind, description="attention")
        layer = W.Dropdown(options=list(range(self.maps.n_layers)), value=self.layer, description="layer")
        heads = [("mean", AVG), *[(f"head {h}", h) for h in range(self.maps.n_heads)]]
        if self.maps.alignment_heads:
            heads.append(("alignment heads", ALIGNMENT))
        head = W.Dropdown(options=heads, value=self.head, description="head")
        for w, cls in ((kind, "mal-kind"), (layer, "mal-layer"), (head, "mal-head")):
            w.add_class(cls)

        def on_change(_):
            self.kind, self.layer, self.head = kind.value, int(layer.value), head.value
            self.refresh()

        def on_layer(change):  # the alignment heads span layers: picking a layer shows that layer's mean
            if head.value == ALIGNMENT:
                head.value = AVG  # -> on_change with the new layer
            else:
                on_change(change)

        for w in (kind, head):
            w.observe(on_change, names="value")
        layer.observe(on_layer, names="value")
        return [kind, layer, head]

    def _extra(self) -> list:
        return []


def alignment_figure(maps: AttentionMaps, ax=None):
    """Mean of the alignment heads' cross attention (Whisper's word-timing view)."""
    fig, ax = (ax.figure, ax) if ax is not None else new_figure((10, 4))
    plots.attention(select_map(maps.cross, 0, ALIGNMENT, maps.alignment_heads), maps.tokens,
                    maps.seconds_per_position, ax=ax, title="mean of the alignment heads (layer.head "
                    + ", ".join(f"{a}.{b}" for a, b in maps.alignment_heads) + ")")
    return fig
