"""Spark-TTS prompts (as `cli/SparkTTS.py` builds them), one string tokenized with no BOS:

- voice cloning: <|task_tts|><|start_content|>{text}<|end_content|><|start_global_token|>{32 x
  <|bicodec_global_N|>}<|end_global_token|>; with the clip's transcript, the transcript is put before the
  text and the clip's semantic tokens follow: ...<|end_global_token|><|start_semantic_token|>{<|bicodec_semantic_N|>...}
- voice creation: <|task_controllable_tts|><|start_content|>{text}<|end_content|><|start_style_label|>
  <|gender_G|><|pitch_label_P|><|speed_label_S|><|end_style_label|>; the model writes the global tokens too.
The audio is every <|bicodec_semantic_N|> the model writes (and, for voice creation, <|bicodec_global_N|>).
"""

from __future__ import annotations

import re

import numpy as np

GENDERS = {"female": 0, "male": 1}
LEVELS = {"very_low": 0, "low": 1, "moderate": 2, "high": 3, "very_high": 4}
TASK_TTS, TASK_CONTROL = "<|task_tts|>", "<|task_controllable_tts|>"
START_CONTENT, END_CONTENT = "<|start_content|>", "<|end_content|>"
START_GLOBAL, END_GLOBAL = "<|start_global_token|>", "<|end_global_token|>"
START_SEMANTIC, END_SEMANTIC = "<|start_semantic_token|>", "<|end_semantic_token|>"
START_STYLE, END_STYLE = "<|start_style_label|>", "<|end_style_label|>"
EOS = "<|im_end|>"


def global_text(tokens) -> str:
    return "".join(f"<|bicodec_global_{int(i)}|>" for i in np.asarray(tokens).reshape(-1))


def semantic_text(tokens) -> str:
    return "".join(f"<|bicodec_semantic_{int(i)}|>" for i in np.asarray(tokens).reshape(-1))


def clone_prompt(text: str, global_tokens, semantic_tokens=None, prompt_text: str | None = None) -> str:
    """Voice cloning from a clip's BiCodec tokens; `prompt_text` (its transcript) adds its semantic tokens."""
    if prompt_text is None:
        return (f"{TASK_TTS}{START_CONTENT}{text}{END_CONTENT}{START_GLOBAL}{global_text(global_tokens)}"
                f"{END_GLOBAL}")
    return (f"{TASK_TTS}{START_CONTENT}{prompt_text}{text}{END_CONTENT}{START_GLOBAL}{global_text(global_tokens)}"
            f"{END_GLOBAL}{START_SEMANTIC}{semantic_text(semantic_tokens)}")


def check_level(name: str, value: str, table: dict[str, int]) -> int:
    if value not in table:
        raise ValueError(f"{name} must be one of {', '.join(table)}; got {value!r}")
    return table[value]


def control_prompt(text: str, gender: str, pitch: str = "moderate", speed: str = "moderate") -> str:
    """Voice creation from style labels: gender female | male; pitch and speed very_low .. very_high."""
    g = check_level("gender", gender, GENDERS)
    p, s = check_level("pitch", pitch, LEVELS), check_level("speed", speed, LEVELS)
    return (f"{TASK_CONTROL}{START_CONTENT}{text}{END_CONTENT}{START_STYLE}<|gender_{g}|><|pitch_label_{p}|>"
            f"<|speed_label_{s}|>{END_STYLE}")


def parse_tokens(decoded: str, kind: str) -> np.ndarray:
    """The N of every <|bicodec_{kind}_N|> in decoded text, in order (int64)."""
    return np.array([int(n) for n in re.findall(rf"bicodec_{kind}_(\d+)", decoded)], dtype=np.int64)


def readable(ids: list[int], tokenizer, width: int = 8) -> str:
    """The prompt as text with runs of global / semantic tokens folded: 'G[12 34 ... x32]'."""
    pieces, run, kind = [], [], None

    def flush():
        if run:
            shown = " ".join(map(str, run[:width])) + (" ..." if len(run) > width else "")
            pieces.append(f"{kind}[{shown} x{len(run)}]")
            run.clear()

    for t in ids:
        s = tokenizer.id_to_token(int(t)) or ""
        m = re.fullmatch(r"<\|bicodec_(global|semantic)_(\d+)\|>", s)
        k = None if m is None else ("G" if m.group(1) == "global" else "S")
        if k != kind:
            flush()
            kind = k
        if m:
            run.append(int(m.group(2)))
        else:
            pieces.append(tokenizer.decode([int(t)], skip_special_tokens=False))
    flush()
    return "".join(pieces)
