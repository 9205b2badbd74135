"""IndexTTS 2's semantic front end (MLX): SeamlessM4T features, w2v-BERT 2.0's hidden state 17 normalised with the
stats file, and MaskGCT's semantic codec (codes, vq2emb); checked against transformers and `indextts2-inference`."""

from .codec import SemanticCodec
from .config import HIDDEN_LAYER, FeatureConfig, SemanticCodecConfig, W2VBertConfig
from .features import seamless_features
from .frontend import SemanticFrontEnd
from .load import load_codec, load_semantic, load_w2vbert
from .w2vbert import W2VBert

__all__ = ["HIDDEN_LAYER", "FeatureConfig", "SemanticCodec", "SemanticCodecConfig", "SemanticFrontEnd", "W2VBert",
           "W2VBertConfig", "load_codec", "load_semantic", "load_w2vbert", "seamless_features"]
