"""CSM (Sesame, 2025): a Llama backbone over text and audio frames predicts codebook 0 of each Mimi frame, and a
small Llama "depth decoder" predicts codebooks 1..N-1 of that frame from the backbone's last hidden state.

Module names follow transformers' CsmForConditionalGeneration (`embed_text_tokens`, `backbone_model.layers.N`,
`lm_head`, `depth_decoder.model.layers.N`, `depth_decoder.codebooks_head`); the transformer blocks are
mlx-lm's Llama `TransformerBlock`s. The codec is the project's Mimi port (`codec_model`).
Shapes: text ids (B, T); audio codes per frame (B, T, codebooks); hidden states (B, T, width).
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx_lm.models import llama
from mlx_lm.models.base import create_attention_mask
from mlx_lm.models.cache import KVCache

from ....taps import tap
from .config import CsmConfig


class BackboneEmbeddings(nn.Module):
    """One table for every codebook's ids (codebook k's id c sits at row k * vocab + c); a frame's embedding is
    the sum over its codebooks."""

    def __init__(self, num_codebooks: int, vocab_size: int, hidden: int):
        super().__init__()
        self.num_codebooks, self.vocab_size = num_codebooks, vocab_size
        self.embed_audio_tokens = nn.Embedding(num_codebooks * vocab_size, hidden)

    def __call__(self, codes: mx.array) -> mx.array:
        """codes (B, T, codebooks) -> (B, T, hidden)."""
        offsets = mx.arange(codes.shape[-1]) * self.vocab_size
        return self.embed_audio_tokens(codes + offsets).sum(axis=-2)


class Stack(nn.Module):
    """Llama blocks + final RMSNorm, tapped as `<name>.layers.N` and `<name>.norm`."""

    def __init__(self, args: llama.ModelArgs, name: str):
        super().__init__()
        self.name = name
        self.layers = [llama.TransformerBlock(args) for _ in range(args.num_hidden_layers)]
        self.norm = nn.RMSNorm(args.hidden_size, eps=args.rms_norm_eps)

    def run(self, x: mx.array, cache: list | None = None) -> mx.array:
        """Embeddings (B, T, width) after `cache`'s positions -> normed hidden states (B, T, width)."""
        mask = create_attention_mask(x, cache[0] if cache else None)
        for i, layer in enumerate(self.layers):
            x = tap(f"{self.name}.layers.{i}", layer(x, mask, cache[i] if cache else None))
        return tap(f"{self.name}.norm", self.norm(x))

    def make_cache(self) -> list:
        return [KVCache() for _ in self.layers]


class Backbone(Stack):
    """The backbone over text and audio frames (`backbone_model`)."""

    def __init__(self, cfg: CsmConfig):
        args = cfg.backbone_args
        super().__init__(args, "backbone")
        self.embed_tokens = BackboneEmbeddings(cfg.num_codebooks, cfg.vocab_size, args.hidden_size)


class DepthDecoderModel(Stack):
    """The depth decoder's transformer (`depth_decoder.model`): backbone-width inputs projected to its width."""

    def __init__(self, cfg: CsmConfig):
        args = cfg.depth_args
        super().__init__(args, "depth")
        self.inputs_embeds_projector = nn.Linear(cfg.depth["backbone_hidden_size"], args.hidden_size, bias=False)


class DepthDecoder(nn.Module):
    """Depth decoder + one output head per codebook 1..N-1 (`codebooks_head.weight`: (N-1, width, vocab))."""

    def __init__(self, cfg: CsmConfig):
        super().__init__()
        self.model = DepthDecoderModel(cfg)
        width = cfg.depth["hidden_size"]
        self.codebooks_head = CodebooksHead(cfg.num_codebooks - 1, width, cfg.vocab_size)


class CodebooksHead(nn.Module):
    """Position-specific output heads: hidden state at depth position k (1..N-1) x weight[k - 1] -> logits."""

    def __init__(self, heads: int, width: int, vocab: int):
        super().__init__()
        self.weight = mx.zeros((heads, width, vocab))

    def __call__(self, h: mx.array, first: int) -> mx.array:
        """h (B, L, width) at depth positions first..first+L-1 (first >= 1) -> logits (B, L, vocab)."""
        w = self.weight[first - 1 : first - 1 + h.shape[1]]  # (L, width, vocab)
        return mx.einsum("bld,ldv->blv", h, w)


class Csm(nn.Module):
    """Text + context audio -> Mimi codes, frame by frame (backbone: codebook 0; depth decoder: the rest)."""

    samples_tokens = True  # `speak` passes the sampling flags and writes --codes-out

    def __init__(self, cfg: CsmConfig):
        super().__init__()
        self.config = cfg
        width = cfg.backbone["hidden_size"]
        self.embed_text_tokens = nn.Embedding(cfg.text_vocab_size, width)
        self.backbone_model = Backbone(cfg)
        self.lm_head = nn.Linear(width, cfg.vocab_size, bias=False)
        self.depth_decoder = DepthDecoder(cfg)
        self.codec_model = None  # the Mimi port, attached by `load_model`
        self.tokenizer = None

    # -- embeddings -------------------------------------------------------------------------------------------
    def embed_frames(self, codes: mx.array) -> mx.array:
        """Audio frames (B, T, codebooks) -> backbone inputs (B, T, width)."""
        return self.backbone_model.embed_tokens(codes)

    def embed_prompt(self, ids: mx.array, context_codes: mx.array | None = None) -> mx.array:
        """Prompt ids (B, T) -> embeddings (B, T, width): text rows, `<|AUDIO|>` rows taking the context frames
        (F, codebooks) in order, `<|audio_eos|>` rows taking the all-EOS frame."""
        x = self.embed_text_tokens(ids)
        cfg = self.config
        eos_frame = mx.full((1, 1, cfg.num_codebooks), cfg.codebook_eos_token_id, dtype=mx.int32)
        is_eos = (ids == cfg.audio_eos_token_id)[..., None]
        x = mx.where(is_eos, self.embed_frames(eos_frame).astype(x.dtype), x)
        is_audio = (ids == cfg.audio_token_id).reshape(-1)
        n = int(is_audio.sum().item())
        if n == 0:
            return x
        if context_codes is None or context_codes.shape[0] != n:
            got = 0 if context_codes is None else context_codes.shape[0]
            raise ValueError(f"the prompt has {n} audio positions but the context gives {got} frames")
        frames = self.embed_frames(context_codes[None])[0].astype(x.dtype)  # (n, width)
        index = mx.maximum(mx.cumsum(is_audio.astype(mx.int32)) - 1, 0)  # k-th audio position -> frame k
        flat = mx.where(is_audio[:, None], frames[index], x.reshape(-1, x.shape[-1]))
        return flat.reshape(x.shape)

    # -- the two transformers ----------------------------------------------------------------------------------
    def backbone(self, x: mx.array, cache: list | None = None) -> tuple[mx.array, mx.array]:
        """Backbone inputs (B, T, width) -> (last hidden states (B, T, width), codebook-0 logits (B, T, vocab))."""
        h = self.backbone_model.run(x, cache)
        return h, tap("backbone.logits", self.lm_head(h))

    def depth(self, x: mx.array, first: int, cache: list | None = None) -> mx.array:
        """Depth inputs (B, L, backbone width) at depth positions first..first+L-1 -> logits of the codebooks
        predicted there (positions >= 1 only; position 0 is the backbone state): (B, L', vocab)."""
        dd = self.depth_decoder
        h = dd.model.run(dd.model.inputs_embeds_projector(x), cache)
        if first == 0:
            h, first = h[:, 1:], 1
        return tap("depth.logits", dd.codebooks_head(h, first))

    def depth_inputs(self, hidden: mx.array, codes: mx.array) -> mx.array:
        """Teacher-forced depth inputs: backbone state (B, width) then codebooks 0..n-1 (B, n) -> (B, n+1, width)."""
        offsets = mx.arange(codes.shape[-1]) * self.config.vocab_size
        emb = self.backbone_model.embed_tokens.embed_audio_tokens(codes + offsets)
        return mx.concatenate([hidden[:, None].astype(emb.dtype), emb], axis=1)

    def embed_code(self, code: mx.array, codebook: int) -> mx.array:
        """Codebook `codebook`'s ids (B,) -> depth inputs (B, 1, backbone width)."""
        return self.backbone_model.embed_tokens.embed_audio_tokens(code + codebook * self.config.vocab_size)[:, None]

    def __call__(self, prompt: mx.array, codes: mx.array, context_codes: mx.array | None = None
                 ) -> tuple[mx.array, mx.array]:
        """Teacher forcing on a prompt (1, T) and its frames (F, codebooks): codebook-0 logits (F, vocab) of every
        frame, and the depth decoder's logits (F, codebooks - 1, vocab) for codebooks 1..N-1."""
        x = mx.concatenate([self.embed_prompt(prompt, context_codes), self.embed_frames(codes[None, :-1])], axis=1)
        h, logits = self.backbone(x)
        T = prompt.shape[1]
        hidden = h[0, T - 1 :]  # (F, width): the state that predicted each frame
        depth_logits = self.depth(self.depth_inputs(hidden, codes[:, :-1]), first=0)
        return logits[0, T - 1 :], depth_logits

    def make_cache(self) -> list:
        """An empty KV cache per backbone layer (mlx-lm's)."""
        return self.backbone_model.make_cache()

    @property
    def sample_rate(self) -> int:
        return self.codec_model.sample_rate

    def decode(self, codes) -> np.ndarray:
        """Codes (codebooks, frames), e.g. a `--codes-out` file -> 24 kHz audio through the Mimi codec."""
        return self.codec_model.decode(codes)

    def generate(self, text: str, voice=None, **kwargs):
        """Speech for `text`, yielded as `AudioResult` chunks; see `generate.generate` for the options."""
        from .generate import generate

        yield from generate(self, text, voice=voice, **kwargs)
