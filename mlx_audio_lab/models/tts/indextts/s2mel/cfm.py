"""Conditional flow matching at inference (`BASECFM.solve_euler`): from noise at t = 0 to a mel at t = 1 by fixed
Euler steps of the DiT's velocity, with classifier-free guidance against a pass without prompt, style and content.
The prompt's frames are given as `prompt_x` and held at zero in the trajectory."""

from __future__ import annotations

from collections.abc import Callable

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from .....taps import tap
from .config import S2MelConfig
from .dit import DiT


def time_grid(steps: int) -> np.ndarray:
    """`torch.linspace(0, 1, steps + 1)` in float32 (it fills the first half from 0, the second from 1)."""
    n = steps + 1
    step = np.float32(1.0) / np.float32(steps)
    i = np.arange(n, dtype=np.float32)
    return np.where(i < n // 2, i * step, np.float32(1.0) - (np.float32(steps) - i) * step).astype(np.float32)


class CFM(nn.Module):
    """Holds the estimator (`cfm.estimator` upstream) and integrates its ODE."""

    def __init__(self, config: S2MelConfig):
        super().__init__()
        self.estimator = DiT(config)

    def solve_euler(self, noise: mx.array, prompt: mx.array, mu: mx.array, style: mx.array, steps: int,
                    cfg_rate: float = 0.7, trajectory: Callable[[int, float, mx.array], None] | None = None
                    ) -> mx.array:
        """noise (B, T, 80), prompt mel (B, P, 80) with P <= T, content mu (B, T, C), style (B, 192) -> (B, T, 80)
        mel; the first P frames of the result are zero (upstream's). `trajectory(step, t, x)` sees every step."""
        P = prompt.shape[1]
        keep = (mx.arange(noise.shape[1]) >= P)[None, :, None]  # frames the ODE moves
        prompt_x = mx.where(keep, 0.0, mx.pad(prompt, [(0, 0), (0, noise.shape[1] - P), (0, 0)]))
        x = mx.where(keep, noise, 0.0)
        grid = time_grid(steps)
        t = np.float32(grid[0])
        for step in range(1, steps + 1):
            dt = np.float32(grid[step] - grid[step - 1])  # float32, as torch's t_span
            tt = mx.array(np.array([t], np.float32))
            if cfg_rate > 0:
                v = self.estimator(mx.concatenate([x, x]), mx.concatenate([prompt_x, mx.zeros_like(prompt_x)]),
                                   mx.concatenate([tt, tt]), mx.concatenate([style, mx.zeros_like(style)]),
                                   mx.concatenate([mu, mx.zeros_like(mu)]))
                cond, uncond = mx.split(v, 2, axis=0)
                v = (1.0 + cfg_rate) * cond - cfg_rate * uncond
            else:
                v = self.estimator(x, prompt_x, tt, style, mu)
            x = mx.where(keep, x + float(dt) * v, 0.0)
            t = np.float32(t + dt)
            if trajectory is not None:
                trajectory(step, float(t), x)
            mx.eval(x)
        return tap("s2mel.cfm", x)
