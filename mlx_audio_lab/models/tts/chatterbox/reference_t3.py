"""The PyTorch side of T3 (the package's `T3` with a tiny Llama registered by name), its fixture and taps."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .reference_s3gen import TapPoint, stub_perth

T3_SIZES = {  # the Perceiver is hard-coded 1024 wide upstream, so the backbone is too
    "tiny": dict(hidden_size=1024, intermediate_size=256, num_hidden_layers=2, num_attention_heads=16,
                 num_key_value_heads=4, head_dim=64, max_text_tokens=62, max_speech_tokens=124),
}
TOKENIZER_CHARS = " abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.,!?'\"-"
PARITY_TEXT = "The harbor lights flickered."
T3_PARITY_STEPS = 40


def _t3_module(size_or_cfg):
    """The package's T3 with a tiny Llama registered under its own name in `LLAMA_CONFIGS`."""
    stub_perth()
    from chatterbox.models.t3.llama_configs import LLAMA_520M_CONFIG_DICT, LLAMA_CONFIGS
    from chatterbox.models.t3.modules.t3_config import T3Config as HP
    from chatterbox.models.t3.t3 import T3

    sizes = dict(size_or_cfg)
    hp = HP()
    hp.max_text_tokens, hp.max_speech_tokens = sizes.pop("max_text_tokens"), sizes.pop("max_speech_tokens")
    name = "mlx_audio_lab_" + "_".join(str(v) for v in sizes.values())
    LLAMA_CONFIGS[name] = {**LLAMA_520M_CONFIG_DICT, **sizes}
    hp.llama_config_name = name
    return T3(hp)


def build_tokenizer(path: Path) -> None:
    """A character tokenizer.json: [STOP] 0, [UNK] 1, [SPACE] 2, characters, [START] 255 (upstream's ids)."""
    from tokenizers import Tokenizer
    from tokenizers.models import WordPiece

    vocab = {"[STOP]": 0, "[UNK]": 1, "[SPACE]": 2}
    vocab.update({c: 3 + i for i, c in enumerate(TOKENIZER_CHARS.replace(" ", ""))})
    vocab["[START]"] = 255
    tok = Tokenizer(WordPiece(vocab, unk_token="[UNK]", continuing_subword_prefix="", max_input_chars_per_word=10_000))
    tok.add_special_tokens(["[START]", "[STOP]", "[UNK]", "[SPACE]"])
    tok.save(str(path))


def build_t3(size: str = "tiny"):
    """A seeded tiny T3 (reference class) whose greedy speech tokens vary."""
    import torch

    from ....fixtures import randomize_

    torch.manual_seed(0)
    model = _t3_module(T3_SIZES[size]).eval()
    randomize_(model, seed=3, std=0.05)
    return model


def load_t3_reference(folder: Path):
    """The package's T3 at the checkpoint's sizes, weights loaded strictly, fp32 eval."""
    from safetensors.torch import load_file

    from .t3 import T3Config

    state = load_file(str(Path(folder) / "t3_cfg.safetensors"))
    c = T3Config.from_state({k: v.numpy() for k, v in state.items()})
    model = _t3_module(dict(hidden_size=c.hidden_size, intermediate_size=c.intermediate_size,
                            num_hidden_layers=c.num_hidden_layers, num_attention_heads=c.hidden_size // c.head_dim,
                            num_key_value_heads=c.num_key_value_heads, head_dim=c.head_dim,
                            max_text_tokens=c.max_text_positions - 2, max_speech_tokens=c.max_speech_positions - 4))
    model.load_state_dict(state, strict=True)
    return model.float().eval()


def t3_tap_points(n_layers: int) -> list[TapPoint]:
    """T3's taps (the CFG-batched prefill) -> modules of the package's T3."""
    points = [TapPoint("t3.cond_enc", "cond_enc")]
    points += [TapPoint(f"t3.tfmr.layers.{i}", f"tfmr.layers.{i}") for i in range(n_layers)]
    return points + [TapPoint("t3.tfmr.norm", "tfmr.norm"), TapPoint("t3.speech_head", "speech_head")]


def t3_parity_inputs(folder: Path) -> dict[str, np.ndarray]:
    """Text ids of the parity sentence, a speaker vector, prompt speech tokens, exaggeration, CFG weight."""
    from .text import TextTokenizer

    rng = np.random.default_rng(1)
    return {"text_tokens": TextTokenizer(Path(folder) / "tokenizer.json").encode(PARITY_TEXT),
            "speaker": rng.standard_normal((1, 256)).astype(np.float32),
            "t3_prompt_tokens": rng.integers(0, 6561, (1, 20)),
            "exaggeration": np.array([0.5], np.float32), "cfg_weight": np.array([0.5], np.float32)}


def run_t3_reference(model, inputs: dict[str, np.ndarray], max_new_tokens: int = T3_PARITY_STEPS):
    """The package's `T3.inference` with argmax in place of `torch.multinomial` (temperature 1, min-p 0, top-p 1:
    greedy on the guided, penalised logits): prefill taps and the predicted tokens."""
    from unittest import mock

    import torch
    from chatterbox.models.t3 import t3 as t3_module
    from chatterbox.models.t3.modules.cond_enc import T3Cond

    from ...codecs.reference import capture_reference

    hp = model.hp
    ids = np.concatenate([[hp.start_text_token], inputs["text_tokens"], [hp.stop_text_token]])
    text = torch.from_numpy(np.stack([ids, ids])).long()
    cond = T3Cond(speaker_emb=torch.from_numpy(inputs["speaker"]),
                  cond_prompt_speech_tokens=torch.from_numpy(inputs["t3_prompt_tokens"]).long(),
                  emotion_adv=float(inputs["exaggeration"][0]) * torch.ones(1, 1, 1))

    def argmax(probs, num_samples=1, **_):
        return torch.argmax(probs, dim=-1, keepdim=True)

    def run():
        with mock.patch.object(torch, "multinomial", argmax), mock.patch.object(t3_module, "tqdm", lambda x, **_: x):
            return model.inference(t3_cond=cond, text_tokens=text, max_new_tokens=max_new_tokens, temperature=1.0,
                                   cfg_weight=float(inputs["cfg_weight"][0]), repetition_penalty=1.2, min_p=0.0,
                                   top_p=1.0)

    steps = []  # the last position's logits of every call: prefill, then one per token
    hook = model.speech_head.register_forward_hook(lambda _m, _i, out: steps.append(out[:, -1].detach().clone()))
    try:
        acts, tokens = capture_reference(model, t3_tap_points(len(model.tfmr.layers)), run)
    finally:
        hook.remove()
    w = float(inputs["cfg_weight"][0])
    guided = np.stack([(s[0] + w * (s[0] - s[1])).numpy() for s in steps])  # (steps, V), as the loop combines
    return acts, tokens[0].numpy(), guided[: len(tokens[0])]
