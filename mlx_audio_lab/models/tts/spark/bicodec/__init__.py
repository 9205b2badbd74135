"""BiCodec (Spark-TTS's codec): semantic tokens from wav2vec2 features, global (speaker) tokens from a mel
spectrogram, and a Vocos-style decoder with a DAC-style wave generator back to 16 kHz audio."""

from .model import BiCodec

__all__ = ["BiCodec"]
