"""IndexTTS 2's s2mel stage in MLX (`MyModel(cfg.s2mel, use_gpt_latent=True)`): GPT latents -> `gpt_layer` ->
added to the semantic embedding of the codes -> length regulator (1.72 mel frames per code) -> flow matching
(DiT + WaveNet, Euler, classifier-free guidance) continuing the prompt's mel, conditioned on a speaker style.

Shapes are channels-last: content (B, N, 1024), mel (B, frames, 80), style (B, 192).
"""

from __future__ import annotations

from collections.abc import Callable

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from .....taps import tap
from .cfm import CFM
from .config import S2MelConfig
from .length_regulator import LengthRegulator

FRAMES_PER_CODE = 1.72  # infer_v2: target_lengths = (code_lens * 1.72).long()


def target_frames(n_codes: int) -> int:
    """Mel frames for `n_codes` GPT codes, as upstream computes it (float32 product, truncated)."""
    return int(np.float32(n_codes) * np.float32(FRAMES_PER_CODE))


class S2Mel(nn.Module):
    """`models["gpt_layer"]`, `models["length_regulator"]` and `models["cfm"]` of upstream's `MyModel`."""

    def __init__(self, config: S2MelConfig):
        super().__init__()
        self.config = c = config
        semantic = c.length_regulator.in_channels
        self.gpt_layer = [nn.Linear(c.gpt_dim, 256), nn.Linear(256, 128), nn.Linear(128, semantic)]
        self.length_regulator = LengthRegulator(c.length_regulator)
        self.cfm = CFM(c)

    def content(self, latent: mx.array, semantic: mx.array) -> mx.array:
        """GPT latents (B, N, gpt_dim) through `gpt_layer`, added to the codes' semantic embedding (B, N, 1024)."""
        x = latent
        for layer in self.gpt_layer:
            x = layer(x)
        return semantic + tap("s2mel.gpt_layer", x)

    def conditions(self, latent: mx.array, semantic: mx.array, prompt_semantic: mx.array, prompt_frames: int
                   ) -> mx.array:
        """The ODE's content (B, prompt_frames + target_frames(N), channels): prompt condition, then the target's."""
        prompt = tap("s2mel.prompt_condition", self.length_regulator(prompt_semantic, prompt_frames))
        cond = tap("s2mel.cond", self.length_regulator(self.content(latent, semantic),
                                                       target_frames(semantic.shape[1])))
        return mx.concatenate([prompt, cond], axis=1)

    def __call__(self, latent: mx.array, semantic: mx.array, prompt_semantic: mx.array, prompt_mel: mx.array,
                 style: mx.array, noise: mx.array | None = None, steps: int = 25, cfg_rate: float = 0.7,
                 seed: int = 0, trajectory: Callable[[int, float, mx.array], None] | None = None) -> mx.array:
        """The target's mel (B, target_frames(N), 80) after the prompt mel (B, P, 80); `noise` (B, P + target, 80)
        is the ODE's start (seeded standard normal if None), `steps` / `cfg_rate` as infer_v2 (25, 0.7)."""
        mu = self.conditions(latent, semantic, prompt_semantic, prompt_mel.shape[1])
        B, T = mu.shape[:2]
        if noise is None:
            noise = mx.random.normal((B, T, self.config.dit.in_channels), key=mx.random.key(seed))
        mel = self.cfm.solve_euler(noise, prompt_mel, mu, style, steps, cfg_rate, trajectory)
        return tap("s2mel.mel", mel[:, prompt_mel.shape[1]:])
