"""The PyTorch reference of Spark-TTS: `spark_tts_lib` (BiCodec, BiCodecTokenizer, SparkTTS's prompt builders)
with transformers' `Qwen2ForCausalLM` and `Wav2Vec2Model`; parity, stage by stage.
"""

from __future__ import annotations

from .fixture import build_fixture  # noqa: F401  (fixtures.build looks for it here)
