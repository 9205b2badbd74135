"""IndexTTS 2's GPT stage: Conformer + perceiver conditioning and a GPT-2 over mel codes (MLX port, checked
against `indextts2-inference`'s `UnifiedVoice`)."""

from .config import IndexTTSConfig
from .load import load_model
from .model import IndexTTS

Model = IndexTTS

__all__ = ["IndexTTS", "IndexTTSConfig", "Model", "load_model"]
