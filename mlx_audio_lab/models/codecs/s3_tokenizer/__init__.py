"""S3TokenizerV2: 25 Hz speech tokens of 16 kHz audio (MLX port, checked against the `s3tokenizer` package)."""

from .config import S3TokenizerConfig
from .frontend import log_mel_spectrogram
from .load import load_model
from .model import S3TokenizerV2

Model = S3TokenizerV2

__all__ = ["Model", "S3TokenizerConfig", "S3TokenizerV2", "load_model", "log_mel_spectrogram"]
