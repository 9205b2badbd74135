"""Vocos (Siuzdak, 2023): features -> ConvNeXt backbone -> ISTFT head that predicts STFT magnitude and phase.

Module names follow the upstream checkpoints (`feature_extractor`, `backbone.embed`, `backbone.convnext.N`,
`backbone.final_layer_norm`, `head.out`) so weights load by name. Channels-last: features (B, frames, C),
hidden states (B, frames, dim), spectra (B, frames, n_fft // 2 + 1), audio (B, T).

A vocoder's "codes" are its features: `encode(audio)` gives the log-mel (n_mels, frames) that the mel
variant decodes; the EnCodec variant encodes audio to EnCodec codes (codebooks, frames) with the project's
EnCodec port (as `vocos`' EncodecFeatures does with the `encodec` package) and decodes them, embedded with
EnCodec's own codebooks.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from .... import dsp
from ....codes import check_codes
from ....errors import ArgumentError, CodesError
from ....layers import chunked, quantizers_for_bandwidth
from ....layers.conv import Conv1d
from ....layers.convnext import ConvNeXtBlock, apply_norm, make_norm
from ....layers.cpu.elementwise import polar
from ....layers.fast_math import fast_math_active
from ....taps import tap
from .config import FeatureConfig, HeadConfig, VocosConfig

if TYPE_CHECKING:
    from ..encodec import Encodec

class MelSpectrogramFeatures(nn.Module):
    """log(max(mel, 1e-7)) of the magnitude (power 1) STFT; HTK mel scale without norm (torchaudio's)."""

    def __init__(self, cfg: FeatureConfig):
        super().__init__()
        self.cfg = cfg
        if cfg.padding not in ("center", "same"):
            raise ValueError(f"padding must be 'center' or 'same', got {cfg.padding!r}")
        self._fb = dsp.mel_filters(cfg.sample_rate, cfg.n_fft, cfg.n_mels, 0.0, None, "htk", None)

    def __call__(self, audio: mx.array) -> mx.array:
        """audio (B, T) -> log-mel (B, frames, n_mels)."""
        c = self.cfg
        if c.padding == "same":  # reflect-pad (win - hop) / 2 each side, no centring: T / hop frames
            pad = (c.n_fft - c.hop_length) // 2
            audio = mx.concatenate([audio[:, 1:pad + 1][:, ::-1], audio, audio[:, -pad - 1:-1][:, ::-1]], 1)
        spec = dsp.stft(audio, c.n_fft, c.hop_length, window="hann", center=c.padding == "center")
        mel = dsp.magnitude(spec) @ self._fb  # (B, frames, n_mels)
        return mx.log(mx.maximum(mel, 1e-7))


class EncodecFeatures(nn.Module):
    """EnCodec codes -> the sum of their codewords, from all codebooks stacked in `codebook_weights`."""

    def __init__(self, cfg: FeatureConfig, dim: int):
        super().__init__()
        self.cfg = cfg
        self.codebook_weights = mx.zeros((cfg.num_quantizers * cfg.codebook_size, dim))

    def __call__(self, codes: mx.array) -> mx.array:
        """codes (n_q, B, frames) -> features (B, frames, dim)."""
        n_q = codes.shape[0]
        if n_q > self.cfg.num_quantizers:
            raise ValueError(f"{n_q} codebooks given, this model embeds at most {self.cfg.num_quantizers}")
        offsets = (mx.arange(n_q) * self.cfg.codebook_size).reshape(-1, 1, 1)
        return self.codebook_weights[codes + offsets].sum(axis=0)


class VocosBackbone(nn.Module):
    """Conv embed (k=7), LayerNorm, ConvNeXt blocks, final LayerNorm; norms optionally bandwidth-conditioned."""

    def __init__(self, input_channels: int, dim: int, intermediate_dim: int, num_layers: int,
                 layer_scale_init_value: float | None = None, adanorm_num_embeddings: int | None = None):
        super().__init__()
        scale = layer_scale_init_value or 1 / num_layers
        self.embed = Conv1d(input_channels, dim, 7, padding=3)
        self.norm = make_norm(dim, adanorm_num_embeddings)
        self.convnext = [ConvNeXtBlock(dim, intermediate_dim, scale, adanorm_num_embeddings)
                         for _ in range(num_layers)]
        self.final_layer_norm = nn.LayerNorm(dim, eps=1e-6)

    def __call__(self, x: mx.array, bandwidth_id: mx.array | None = None) -> mx.array:
        """features (B, frames, C) -> hidden (B, frames, dim)."""
        x = tap("backbone.embed", self.embed(x))
        x = tap("backbone.norm", apply_norm(self.norm, x, bandwidth_id))
        for i, block in enumerate(self.convnext):
            x = tap(f"backbone.convnext.{i}", block(x, bandwidth_id))
        return tap("backbone.final_layer_norm", self.final_layer_norm(x))


class ISTFTHead(nn.Module):
    """Linear to (log-magnitude, phase) per bin, spectrum = min(exp(m), 100) * e^{i p}, then iSTFT."""

    def __init__(self, cfg: HeadConfig):
        super().__init__()
        if cfg.padding not in ("center", "same"):
            raise ValueError(f"padding must be 'center' or 'same', got {cfg.padding!r}")
        self.cfg = cfg
        self.out = nn.Linear(cfg.dim, cfg.n_fft + 2)

    def spectrum(self, x: mx.array) -> tuple[mx.array, mx.array]:
        """hidden (B, frames, dim) -> (magnitude, phase), each (B, frames, n_fft // 2 + 1)."""
        return self._polar(tap("head.out", self.out(x)))

    @staticmethod
    def _polar(h: mx.array) -> tuple[mx.array, mx.array]:
        log_mag, phase = mx.split(h, 2, axis=-1)
        return mx.minimum(mx.exp(log_mag), 1e2), phase

    def __call__(self, x: mx.array) -> mx.array:
        """hidden (B, frames, dim) -> audio (B, frames * hop) ("same") or (B, (frames - 1) * hop) ("center")."""
        c = self.cfg
        h = tap("head.out", self.out(x))
        mag, phase = self._polar(h)  # lazy: evaluated only where used (the plain path, taps)
        tap("head.magnitude", mag)
        tap("head.phase", mx.arctan2(mx.sin(phase), mx.cos(phase)))  # wrapped to (-pi, pi], as angle(S)
        if h.dtype == mx.float32 and fast_math_active(h.size):  # on NumPy's SIMD exp / cos / sin
            hs = np.asarray(h)
            spec = polar(hs[..., : hs.shape[-1] // 2], hs[..., hs.shape[-1] // 2 :], max_mag=1e2)
        else:
            spec = mag * mx.cos(phase) + 1j * (mag * mx.sin(phase))
        if c.padding == "center":
            return dsp.istft(spec, c.n_fft, c.hop_length, window="hann", center=True)
        # "same": overlap-add from the first frame (no centring), then trim (win - hop) / 2 each side;
        # dsp.istft divides by the overlap-added SQUARED window, as vocos' own ISTFT does
        pad = (c.n_fft - c.hop_length) // 2
        y = dsp.istft(spec, c.n_fft, c.hop_length, window="hann", center=False)
        return y[:, pad:-pad]


class Vocos(nn.Module):
    """The vocoder: `encode(audio) -> features` (mel variant), `decode(features or codes) -> audio`."""

    def __init__(self, cfg: VocosConfig):
        super().__init__()
        self.config = cfg
        fe, bb = cfg.feature_extractor, cfg.backbone
        if cfg.is_encodec:
            self.feature_extractor = EncodecFeatures(fe, bb.input_channels)
        else:
            self.feature_extractor = MelSpectrogramFeatures(fe)
        self.backbone = VocosBackbone(bb.input_channels, bb.dim, bb.intermediate_dim, bb.num_layers,
                                      bb.layer_scale_init_value, bb.adanorm_num_embeddings)
        self.head = ISTFTHead(cfg.head)

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    @property
    def decodes_features(self) -> bool:
        """The mel variant decodes float features (its "codes"); the Encodec variant decodes integer codes."""
        return not self.config.is_encodec

    @property
    def hop_length(self) -> int:
        return self.config.head.hop_length

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.hop_length

    def bandwidth_id(self, bandwidth: float | None) -> int:
        """Index of `bandwidth` kbps in the EnCodec variant's list (None: as many codebooks as given)."""
        bws = self.config.feature_extractor.bandwidths
        if bandwidth not in bws:
            raise ArgumentError(f"bandwidth {bandwidth} kbps is not one of this model's {bws}")
        return bws.index(bandwidth)

    def _bandwidth_for(self, n_q: int) -> float:
        """The bandwidth whose codebook count is `n_q` (EnCodec: log2(bins) bits per codebook per frame)."""
        fe = self.config.feature_extractor
        for bw in fe.bandwidths:
            if quantizers_for_bandwidth(bw, fe.codebook_size, self.frame_rate, fe.num_quantizers) == n_q:
                return bw
        raise CodesError(f"codes have {n_q} codebooks, which match none of the bandwidths {fe.bandwidths}")

    def decode_batch(self, features: mx.array, bandwidth_id: int | None = None) -> mx.array:
        """features (B, frames, C) -> audio (B, T)."""
        cond = None if bandwidth_id is None else mx.array([bandwidth_id])
        x = self.backbone(features.astype(self.head.out.weight.dtype), cond)
        return tap("head.istft", self.head(x).astype(mx.float32))

    def codes_to_features(self, codes: np.ndarray | mx.array) -> mx.array:
        """EnCodec codes (n_q, frames) or (n_q, B, frames) -> features (B, frames, input_channels)."""
        if not self.config.is_encodec:
            raise TypeError("only the EnCodec variant embeds codes; the mel variant decodes features")
        codes = mx.array(codes).astype(mx.int32)
        codes = codes[:, None] if codes.ndim == 2 else codes
        return tap("feature_extractor", self.feature_extractor(codes))

    @property
    def encodec(self) -> Encodec:
        """The EnCodec port whose codes the EnCodec variant embeds: the one given to `use_encodec`, else the one
        `encodec_from`'s loader gives on first use (`load_model` hands in its folder's). Not a parameter."""
        if not self.config.is_encodec:
            raise TypeError("only the EnCodec variant has an EnCodec; the mel variant's features are log-mels")
        if self.__dict__.get("_encodec") is None:
            loader = self.__dict__.get("_encodec_loader")
            if loader is None:
                raise RuntimeError("this Vocos was given no EnCodec: pass one to use_encodec (or load the model "
                                   "with load_model, which finds it beside the weights or on the hub)")
            self.use_encodec(loader())
        return self.__dict__["_encodec"]

    def encodec_from(self, loader: Callable[[], Encodec]) -> Vocos:
        """Get the EnCodec from `loader` when it is first needed (encoding only); returns self."""
        object.__setattr__(self, "_encodec_loader", loader)  # a plain attribute, like `_encodec`
        return self

    def use_encodec(self, model: Encodec) -> Vocos:
        """Encode with `model` (a 24 kHz mono EnCodec port whose codebooks are this model's); returns self."""
        if not self.config.is_encodec:
            raise TypeError("only the EnCodec variant embeds EnCodec codes")
        fe = self.config.feature_extractor
        cfg = model.config
        if model.chunked or cfg.sampling_rate != fe.sample_rate or cfg.audio_channels != 1:
            raise ValueError(f"Vocos embeds codes of a {fe.sample_rate} Hz mono EnCodec that encodes the whole clip "
                             f"({fe.encodec_model}); got {cfg.sampling_rate} Hz, {cfg.audio_channels} channel(s)"
                             f"{', chunked' if model.chunked else ''}")
        books = [layer.codebook.embed for layer in model.quantizer.layers[: fe.num_quantizers]]
        stacked = self.feature_extractor.codebook_weights  # compared in its dtype (a float16 Vocos rounds them)
        if len(books) < fe.num_quantizers or not mx.array_equal(mx.concatenate(books).astype(stacked.dtype),
                                                                stacked).item():
            raise ValueError("this EnCodec's codebooks are not the ones stacked in feature_extractor.codebook_weights")
        object.__setattr__(self, "_encodec", model)  # a plain attribute: not part of this model's parameters
        return self

    def save_extras(self, folder: Path) -> None:
        """`save_model` hook: an EnCodec-variant folder keeps its `encodec/` (else encoding would need the hub)."""
        source = getattr(self, "source", None)
        if self.config.is_encodec and source is not None and (Path(source) / "encodec").is_dir():
            import shutil

            if Path(source).resolve() != Path(folder).resolve():
                shutil.copytree(Path(source) / "encodec", Path(folder) / "encodec", dirs_exist_ok=True)

    def encode(self, audio: np.ndarray | mx.array, bandwidth: float | None = None,
               bandwidth_id: int | None = None) -> np.ndarray:
        """Mono audio (T,) at `sample_rate` -> what `decode` takes: log-mel features (n_mels, frames) for the
        mel variant, EnCodec codes (codebooks, frames) for the EnCodec variant.

        Laid out like codes (channels x frames) and like upstream's features, for the codec CLI contract. The
        EnCodec variant encodes at `bandwidth` kbps or `bandwidth_id` (default: the largest bandwidth).
        Long clips stream: the EnCodec variant through EnCodec's causal chunks (codes equal to one shot); the mel
        variant above `chunked.STREAM_SECONDS` in chunks with one STFT window of audio each side (features equal
        to one shot within float rounding, ~1e-6: tests/models/codecs/test_chunked_encode.py).
        """
        x = mx.array(audio, dtype=mx.float32)
        if x.ndim != 1:
            raise ValueError(f"Vocos encodes mono audio shaped (T,); got shape {tuple(x.shape)}")
        if self.config.is_encodec:
            bws = self.config.feature_extractor.bandwidths
            if bandwidth_id is None:
                bandwidth_id = len(bws) - 1 if bandwidth is None else self.bandwidth_id(bandwidth)
            elif not 0 <= bandwidth_id < len(bws):
                raise ValueError(f"bandwidth_id {bandwidth_id} is not an index of this model's bandwidths {bws}")
            return self.encodec.encode(x, bandwidth=bws[bandwidth_id])
        if bandwidth is not None or bandwidth_id is not None:
            raise TypeError("the mel variant has no bandwidths")
        if x.shape[0] > chunked.STREAM_SECONDS * self.sample_rate:
            fe = self.config.feature_extractor
            chunk = max(1, chunked.CHUNK_SECONDS * self.sample_rate // fe.hop_length)
            context = math.ceil(fe.n_fft / fe.hop_length)  # the STFT window, and its padding at a chunk's edges
            return chunked.overlapped_encode(lambda a: [self._mels(mx.array(a))], np.array(x), fe.hop_length, [1],
                                             chunk, context)[0]
        return self._mels(x)

    def _mels(self, audio: mx.array) -> np.ndarray:
        """(T,) -> log-mel (n_mels, frames), the whole clip at once."""
        return np.array(tap("feature_extractor", self.feature_extractor(audio.reshape(1, -1)))[0]).T

    def decode(self, features_or_codes: np.ndarray | mx.array, bandwidth: float | None = None,
               bandwidth_id: int | None = None) -> np.ndarray:
        """Mel features (n_mels, frames) or EnCodec codes (n_q, frames) -> float32 audio (T,).

        The EnCodec variant conditions on the bandwidth: by id, by kbps, or (default) from the codebook count.
        """
        x = features_or_codes
        if self.config.is_encodec:
            fe = self.config.feature_extractor
            x = check_codes(x, fe.codebook_size, fe.num_quantizers)
            if bandwidth_id is None:
                bandwidth_id = self.bandwidth_id(bandwidth if bandwidth is not None
                                                 else self._bandwidth_for(x.shape[0]))
            feats = self.codes_to_features(x)
        else:
            x = np.asarray(x)
            n_mels = self.config.backbone.input_channels
            if x.dtype.kind not in "fiu" or x.ndim not in (2, 3) or x.shape[-2] != n_mels or x.shape[-1] == 0:
                raise CodesError(f"features are {x.dtype} {x.shape}; this model decodes ({n_mels} mels, frames)")
            if not np.isfinite(x).all():
                raise CodesError(f"features hold {int((~np.isfinite(x)).sum())} NaN or inf values")
            feats = mx.array(x, dtype=mx.float32)
            feats = tap("feature_extractor", mx.swapaxes(feats[None] if feats.ndim == 2 else feats, 1, 2))
        return np.array(self.decode_batch(feats, bandwidth_id)[0])
