"""Spark-TTS: a Qwen2 language model writing BiCodec global (speaker) and semantic tokens (MLX port)."""

from .bicodec import BiCodec
from .load import load_bicodec, load_model
from .model import SparkTTS
from .prompt import clone_prompt, control_prompt

Model = SparkTTS

__all__ = ["BiCodec", "Model", "SparkTTS", "clone_prompt", "control_prompt", "load_bicodec", "load_model"]
