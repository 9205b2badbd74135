"""IndexTTS 2's s2mel stage (semantic codes + GPT latents -> mel by flow matching), checked against
`indextts.s2mel.modules` of `indextts2-inference`."""

from .config import S2MelConfig
from .load import load_s2mel, read_s2mel_config
from .mel import prompt_mel
from .model import S2Mel, target_frames

__all__ = ["S2Mel", "S2MelConfig", "load_s2mel", "prompt_mel", "read_s2mel_config", "target_frames"]
