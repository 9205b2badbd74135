"""The tiny Orpheus fixture: a byte-level BPE tokenizer with the Orpheus tokens, and Llama weights whose
greedy continuation walks valid, varied SNAC frames (the design: `generation.designed`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ....generation import designed
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
    n_custom = AUDIO_FIRST + SLOTS * codebook_size + 2
    return designed.bpe_tokenizer(folder, CORPUS, LLAMA_SPECIALS + [f"<custom_token_{i}>" for i in range(n_custom)],
                                  "<|begin_of_text|>", "<|eot_id|>", "<|finetune_right_pad_id|>", base_vocab)


def design_embeddings(vocab: int, hidden: int, audio_base: int, codebook_size: int, start_of_speech: int,
                      seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(embed, lm_head): slot p's codes are the contiguous ids audio_base + p * codebook_size + code."""
    slot_ids = [audio_base + p * codebook_size + np.arange(codebook_size) for p in range(SLOTS)]
    return designed.design_embeddings(vocab, hidden, slot_ids, [start_of_speech], seed)
