"""DeepFilterNet3 speech enhancement (MLX port, checked against onnxruntime on the shipped ONNX graphs)."""

from .config import DeepFilterNetConfig
from .enhance import DeepFilterNet
from .load import load_model
from .model import DfNet

Model = DeepFilterNet

__all__ = ["DeepFilterNet", "DeepFilterNetConfig", "DfNet", "Model", "load_model"]
