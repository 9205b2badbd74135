"""Silero VAD's shape: one branch per sample rate, each an STFT-as-conv front end, four convs, an LSTM cell."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ....errors import ConfigError

MODEL_TYPE = "silero_vad"


@dataclass(frozen=True)
class BranchConfig:
    """One sample rate's network: the window it scores, the context it carries, its STFT size."""

    sample_rate: int
    window: int  # samples scored per step (512 at 16 kHz, 256 at 8 kHz)
    context: int  # samples of the previous window prepended to each one (64 / 32)
    n_fft: int  # the STFT conv's kernel (256 / 128); hop = n_fft / 2, right reflect pad = context
    hidden: int = 128  # encoder output = LSTM width
    channels: tuple[int, ...] = (128, 64, 64, 128)  # the four encoder convs (kernel 3, padding 1)
    strides: tuple[int, ...] = (1, 2, 2, 1)

    @property
    def hop(self) -> int:
        return self.n_fft // 2

    @property
    def bins(self) -> int:
        """Magnitude bins of the STFT (n_fft / 2 + 1)."""
        return self.n_fft // 2 + 1

    @property
    def name(self) -> str:
        """The branch's name in parameters and taps: `vad_16k`, `vad_8k`."""
        return f"vad_{self.sample_rate // 1000}k"


BRANCHES = {16000: BranchConfig(16000, 512, 64, 256), 8000: BranchConfig(8000, 256, 32, 128)}


@dataclass
class SileroConfig:
    """Which branches a folder holds (the 16 kHz safetensors alone, or both rates from the TorchScript file)."""

    sample_rates: list[int] = field(default_factory=lambda: [16000, 8000])
    model_type: str = MODEL_TYPE

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SileroConfig:
        rates = d.get("sample_rates", [16000])
        if not isinstance(rates, list) or not all(isinstance(r, int) and not isinstance(r, bool) for r in rates):
            raise ConfigError(f"config: sample_rates is {rates!r:.60}; expected a list of integers (Hz), "
                              f"of {sorted(BRANCHES)}")
        unknown = [r for r in rates if r not in BRANCHES]
        if unknown:
            raise ConfigError(f"config: Silero VAD has branches for {sorted(BRANCHES)} Hz only, not {unknown}")
        return cls(sample_rates=rates)

    @property
    def branches(self) -> list[BranchConfig]:
        return [BRANCHES[r] for r in self.sample_rates]
