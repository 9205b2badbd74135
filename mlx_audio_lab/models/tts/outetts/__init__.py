"""OuteTTS 1.0: a Llama language model writing DAC codes word by word after a speaker profile (MLX port)."""

from .clone import create_speaker, save_speaker
from .config import OuteTTSConfig
from .load import load_model
from .model import OuteTTS
from .prompt import completion_prompt
from .speakers import load_speaker

Model = OuteTTS

__all__ = ["Model", "OuteTTS", "OuteTTSConfig", "completion_prompt", "create_speaker", "load_model", "load_speaker",
           "save_speaker"]
