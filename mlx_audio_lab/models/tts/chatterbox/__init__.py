"""Chatterbox (Resemble AI), MLX port checked against `chatterbox-tts`: S3Gen (flow + HiFT) so far."""

from .config import HiFTConfig
from .flow import FlowConfig
from .load import load_model, load_s3gen
from .s3gen import S3Gen

Model = S3Gen

__all__ = ["FlowConfig", "HiFTConfig", "Model", "S3Gen", "load_model", "load_s3gen"]
