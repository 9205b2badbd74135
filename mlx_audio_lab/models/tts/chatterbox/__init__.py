"""Chatterbox (Resemble AI) in MLX, checked against `chatterbox-tts`: T3, S3Gen (CAMPPlus, flow, HiFT), VoiceEncoder."""

from .config import HiFTConfig
from .flow import FlowConfig
from .generate import Conditionals
from .load import load_model, load_s3gen, load_t3, load_voice_encoder
from .model import Chatterbox
from .s3gen import S3Gen
from .t3 import T3, T3Config

Model = Chatterbox

__all__ = ["Chatterbox", "Conditionals", "FlowConfig", "HiFTConfig", "Model", "S3Gen", "T3", "T3Config", "load_model",
           "load_s3gen", "load_t3", "load_voice_encoder"]
