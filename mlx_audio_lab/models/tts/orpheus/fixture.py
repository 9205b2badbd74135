"""The tiny Orpheus fixture: a byte-level BPE tokenizer with the Orpheus tokens, and Llama weights whose
greedy continuation walks valid, varied SNAC frames (a random Llama would write text tokens instead).

How: each token's input embedding is a slot direction u_p plus its own random part v_t; the untied output
row of an audio token in slot p+1 is a * u_p + b * v_s, where s is the slot-p token chosen to precede it
(slot-to-slot permutations whose composition over a frame is one long cycle). After the layers' small,
prompt-dependent perturbations, the top logit is the designed successor: the next slot, a varied code.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .layout import AUDIO_FIRST, SLOTS

LLAMA_SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
                  "<|eot_id|>", "<|finetune_right_pad_id|>"]
CORPUS = [
    "tara: The harbor lights flickered as the night ferry pulled away from the dock.",
    "leo: Hello there, how are you doing today? I am fine, thank you.",
    "zoe: She sells sea shells by the sea shore, and the shells she sells are surely sea shells.",
    "dan: A quick brown fox jumps over the lazy dog <laugh> near the river bank.",
    "mia: Speech synthesis turns written words into sound, one frame at a time.",
]


def build_tokenizer(folder: Path, codebook_size: int, base_vocab: int = 320) -> int:
    """Write tokenizer.json (+ config files) with BPE text tokens, Llama's specials and the custom tokens.

    Returns the vocabulary size. Ids: BPE 0..base_vocab-1, specials, then <custom_token_N> consecutively.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=base_vocab, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(CORPUS * 4, trainer)
    n_custom = AUDIO_FIRST + SLOTS * codebook_size + 2
    tok.add_special_tokens(LLAMA_SPECIALS + [f"<custom_token_{i}>" for i in range(n_custom)])
    bos = tok.token_to_id("<|begin_of_text|>")
    tok.post_processor = processors.TemplateProcessing(single="<|begin_of_text|> $A",
                                                       special_tokens=[("<|begin_of_text|>", bos)])
    folder = Path(folder)
    tok.save(str(folder / "tokenizer.json"))
    specials = {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>", "pad_token": "<|finetune_right_pad_id|>"}
    (folder / "special_tokens_map.json").write_text(json.dumps(specials, indent=2))
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 131072, **specials}, indent=2))
    return tok.get_vocab_size()


def successor_permutations(codebook_size: int, seed: int) -> list[np.ndarray]:
    """perm[p][c]: the slot-(p+1) code that follows code c of slot p; slot 6 -> slot 0 closes one long cycle."""
    rng = np.random.default_rng(seed)
    perms = [rng.permutation(codebook_size) for _ in range(SLOTS - 1)]
    through = np.arange(codebook_size)
    for p in perms:
        through = p[through]  # slot-0 code -> slot-6 code
    cycle = rng.permutation(codebook_size)
    sigma = np.empty(codebook_size, np.int64)
    sigma[cycle] = np.roll(cycle, -1)  # a single cycle over all codes: frame-to-frame map on slot 0
    last = np.empty(codebook_size, np.int64)
    last[through] = sigma  # slot-6 code through(c) -> sigma(c)
    return perms + [last]


def design_embeddings(vocab: int, hidden: int, audio_base: int, codebook_size: int, start_of_speech: int,
                      seed: int = 0, slot_gain: float = 4.0, code_gain: float = 9.0) -> tuple[np.ndarray, np.ndarray]:
    """(embed (vocab, hidden), lm_head (vocab, hidden)) that make the designed successor the top logit."""
    rng = np.random.default_rng(seed)
    u = rng.normal(size=(SLOTS, hidden))
    u /= np.linalg.norm(u, axis=1, keepdims=True) / np.sqrt(hidden)  # |u_p|^2 = hidden
    embed = rng.normal(size=(vocab, hidden))  # v_t
    head = rng.normal(scale=0.1, size=(vocab, hidden))  # text and special tokens: weak logits
    perms = successor_permutations(codebook_size, seed + 1)
    ids = lambda p, c: audio_base + p * codebook_size + np.asarray(c)  # noqa: E731
    for p in range(SLOTS):
        embed[ids(p, np.arange(codebook_size))] += u[p]
        nxt = (p + 1) % SLOTS
        v = embed[ids(p, np.arange(codebook_size))] - u[p]
        head[ids(nxt, perms[p])] = (slot_gain * u[p] + code_gain * v) / hidden
    embed[start_of_speech] = u[SLOTS - 1]  # start of speech acts as a slot 6; the prompt (via attention) picks the code
    return embed.astype(np.float32), head.astype(np.float32)
