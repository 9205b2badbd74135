"""S3Gen's token-to-mel flow (CausalMaskedDiffWithXvec + CausalConditionalCFM): speech tokens -> mel (B, 2T, 80).

Prompt and new tokens are embedded and encoded together (2 mel frames per token); the estimator then carries
Gaussian noise to a mel along the flow-matching ODE, solved with Euler steps on a cosine time grid and
classifier-free guidance (velocity = (1 + w) v(cond) - w v(uncond), w = 0.7). The prompt's mel frames are the
condition; the frames after them are the result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import mlx.core as mx
import mlx.nn as nn

from ....taps import tap
from .flow_decoder import Estimator
from .flow_encoder import UpsampleEncoder


@dataclass
class FlowConfig:
    """Sizes (read off the weights, see `from_state`) and the solver's constants."""

    vocab_size: int = 6561
    dims: int = 512  # encoder width
    heads: int = 8
    hidden: int = 2048  # encoder feed-forward
    blocks: int = 6
    up_blocks: int = 4
    mel_bins: int = 80
    spk_embed_dim: int = 192  # CAMPPlus x-vector
    channels: int = 256  # estimator width
    est_blocks: int = 4
    mid_blocks: int = 12
    est_heads: int = 8
    head_dim: int = 64
    n_timesteps: int = 10
    cfg_rate: float = 0.7

    @classmethod
    def from_state(cls, state: dict, prefix: str = "flow.") -> FlowConfig:
        """Widths and depths from `s3gen.safetensors` (the estimator's head count is upstream's 8)."""
        def count(stem: str) -> int:
            return len({k[len(stem):].split(".")[0] for k in state if k.startswith(stem)})

        enc, est = f"{prefix}encoder.", f"{prefix}decoder.estimator."
        heads = state[f"{enc}encoders.0.self_attn.pos_bias_u"].shape[0]
        inner = state[f"{est}down_blocks.0.1.0.attn1.to_q.weight"].shape[0]
        return cls(vocab_size=state[f"{prefix}input_embedding.weight"].shape[0],
                   dims=state[f"{prefix}input_embedding.weight"].shape[1], heads=heads,
                   hidden=state[f"{enc}encoders.0.feed_forward.w_1.weight"].shape[0],
                   blocks=count(f"{enc}encoders."), up_blocks=count(f"{enc}up_encoders."),
                   mel_bins=state[f"{prefix}encoder_proj.weight"].shape[0],
                   spk_embed_dim=state[f"{prefix}spk_embed_affine_layer.weight"].shape[1],
                   channels=state[f"{est}down_blocks.0.0.res_conv.weight"].shape[0],
                   est_blocks=count(f"{est}down_blocks.0.1."), mid_blocks=count(f"{est}mid_blocks."),
                   est_heads=8, head_dim=inner // 8)


class Decoder(nn.Module):
    """CausalConditionalCFM: holds the `estimator`; `solve` runs the Euler ODE with CFG."""

    def __init__(self, cfg: FlowConfig):
        super().__init__()
        self.estimator = Estimator(4 * cfg.mel_bins, cfg.mel_bins, cfg.channels, cfg.est_blocks, cfg.mid_blocks,
                                   cfg.est_heads, cfg.head_dim)

    @staticmethod
    def time_grid(n_timesteps: int) -> mx.array:
        """Cosine schedule: t_k = 1 - cos(pi / 2 * k / n), k = 0..n."""
        t = mx.linspace(0, 1, n_timesteps + 1)
        return 1 - mx.cos(t * 0.5 * math.pi)

    def solve(self, noise: mx.array, mu: mx.array, spks: mx.array, cond: mx.array, n_timesteps: int,
              cfg_rate: float, trajectory: list | None = None) -> mx.array:
        """Euler from noise (B, T, 80) at t = 0 to the mel at t = 1; each step's x appended to `trajectory`."""
        b = noise.shape[0]
        mask = mx.ones((2 * b, noise.shape[1], 1))
        mu_in = mx.concatenate([mu, mx.zeros_like(mu)])  # the second half: unconditional
        spks_in = mx.concatenate([spks, mx.zeros_like(spks)])
        cond_in = mx.concatenate([cond, mx.zeros_like(cond)])
        t_span = self.time_grid(n_timesteps)
        x = noise
        for k in range(n_timesteps):
            t, r = t_span[k], t_span[k + 1]
            v = self.estimator(mx.concatenate([x, x]), mask, mu_in, mx.broadcast_to(t, (2 * b,)), spks_in,
                               cond_in)
            v_cond, v_uncond = v[:b], v[b:]
            x = x + (r - t) * ((1.0 + cfg_rate) * v_cond - cfg_rate * v_uncond)
            if trajectory is not None:
                mx.eval(x)
                trajectory.append(x)
        return x


class Flow(nn.Module):
    """CausalMaskedDiffWithXvec: tokens + prompt (tokens, mel) + x-vector -> mel of the new tokens."""

    def __init__(self, cfg: FlowConfig):
        super().__init__()
        self.config = cfg
        self.input_embedding = nn.Embedding(cfg.vocab_size, cfg.dims)
        self.spk_embed_affine_layer = nn.Linear(cfg.spk_embed_dim, cfg.mel_bins)
        self.encoder = UpsampleEncoder(cfg.dims, cfg.heads, cfg.hidden, cfg.blocks, cfg.up_blocks)
        self.encoder_proj = nn.Linear(cfg.dims, cfg.mel_bins)
        self.decoder = Decoder(cfg)

    def condition(self, tokens: mx.array, prompt_tokens: mx.array, prompt_mel: mx.array,
                  xvector: mx.array) -> tuple[mx.array, mx.array, mx.array]:
        """(mu (B, 2(Tp + T), 80), speaker (B, 80), cond (B, 2(Tp + T), 80): the prompt mel, then zeros)."""
        spk = xvector / mx.maximum(mx.linalg.norm(xvector, axis=-1, keepdims=True), 1e-12)  # F.normalize
        spk = tap("flow.spk_embed_affine_layer", self.spk_embed_affine_layer(spk))
        ids = mx.concatenate([prompt_tokens, tokens], axis=1)
        h = self.encoder(self.input_embedding(ids))
        mu = tap("flow.encoder_proj", self.encoder_proj(h))
        n_prompt = prompt_mel.shape[1]
        cond = mx.concatenate([prompt_mel, mx.zeros((mu.shape[0], mu.shape[1] - n_prompt, mu.shape[2]))], axis=1)
        return mu, spk, cond

    def __call__(self, tokens: mx.array, prompt_tokens: mx.array, prompt_mel: mx.array, xvector: mx.array,
                 noise: mx.array | None = None, n_timesteps: int | None = None,
                 trajectory: list | None = None) -> mx.array:
        """tokens (B, T), prompt_tokens (B, Tp), prompt_mel (B, 2 Tp, 80), xvector (B, 192) -> mel (B, 2T, 80).

        noise (B, 2(Tp + T), 80): the ODE's starting point (standard normal; drawn here when not given).
        """
        cfg = self.config
        mu, spk, cond = self.condition(tokens, prompt_tokens, prompt_mel, xvector)
        if noise is None:
            noise = mx.random.normal(mu.shape)
        mel = self.decoder.solve(noise, mu, spk, cond, n_timesteps or cfg.n_timesteps, cfg.cfg_rate, trajectory)
        return tap("flow.mel", mel[:, prompt_mel.shape[1]:])
