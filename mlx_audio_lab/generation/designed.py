"""Designed fixtures for LM-driven TTS: a tiny BPE tokenizer with a port's special tokens, and Llama
embeddings whose greedy continuation walks valid, varied audio codes (a random Llama writes text instead).

How: each audio token's input embedding is its slot's direction u_p plus its own random part v_t; the output
row of a slot-(p+1) token is a * u_p + b * v_s, where s is the slot-p token chosen to precede it (slot-to-slot
permutations whose composition over a frame is one long cycle). After the layers' small, prompt-dependent
perturbations, the top logit is the designed successor: the next slot, a varied code.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def bpe_tokenizer(folder: Path, corpus: list[str], specials: list[str], bos: str, eos: str, pad: str,
                  base_vocab: int = 320, prepend_bos: bool = True) -> int:
    """Write tokenizer.json (+ config files): byte-level BPE trained on `corpus`, then `specials` in order.

    Returns the vocabulary size. Ids: BPE 0..base_vocab-1, then the specials consecutively.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=base_vocab, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(corpus * 4, trainer)
    tok.add_special_tokens(specials)
    if prepend_bos:
        tok.post_processor = processors.TemplateProcessing(single=f"{bos} $A",
                                                           special_tokens=[(bos, tok.token_to_id(bos))])
    folder = Path(folder)
    tok.save(str(folder / "tokenizer.json"))
    named = {"bos_token": bos, "eos_token": eos, "pad_token": pad}
    (folder / "special_tokens_map.json").write_text(json.dumps(named, indent=2))
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 131072, **named}, indent=2))
    return tok.get_vocab_size()


def successor_permutations(codebook_size: int, slots: int, seed: int) -> list[np.ndarray]:
    """perm[p][c]: the slot-(p+1) code after code c of slot p; the last slot -> slot 0 closes one long cycle."""
    rng = np.random.default_rng(seed)
    perms = [rng.permutation(codebook_size) for _ in range(slots - 1)]
    through = np.arange(codebook_size)
    for p in perms:
        through = p[through]  # slot-0 code -> last-slot code
    cycle = rng.permutation(codebook_size)
    sigma = np.empty(codebook_size, np.int64)
    sigma[cycle] = np.roll(cycle, -1)  # a single cycle over all codes: frame-to-frame map on slot 0
    last = np.empty(codebook_size, np.int64)
    last[through] = sigma  # last-slot code through(c) -> sigma(c)
    return perms + [last]


def design_embeddings(vocab: int, hidden: int, slot_ids: list[np.ndarray], starters: list[int], seed: int = 0,
                      slot_gain: float = 4.0, code_gain: float = 9.0) -> tuple[np.ndarray, np.ndarray]:
    """(embed (vocab, hidden), lm_head (vocab, hidden)) making the designed successor the top logit.

    `slot_ids[p]` (codebook,): the token id of each code of slot p; `starters`: tokens that act as the last
    slot (the prompt, through attention, then picks the first code).
    """
    slots, codebook_size = len(slot_ids), len(slot_ids[0])
    rng = np.random.default_rng(seed)
    u = rng.normal(size=(slots, hidden))
    u /= np.linalg.norm(u, axis=1, keepdims=True) / np.sqrt(hidden)  # |u_p|^2 = hidden
    embed = rng.normal(size=(vocab, hidden))  # v_t
    head = rng.normal(scale=0.1, size=(vocab, hidden))  # text and special tokens: weak logits
    perms = successor_permutations(codebook_size, slots, seed + 1)
    for p in range(slots):
        embed[slot_ids[p]] += u[p]
        nxt = (p + 1) % slots
        v = embed[slot_ids[p]] - u[p]
        head[np.asarray(slot_ids[nxt])[perms[p]]] = (slot_gain * u[p] + code_gain * v) / hidden
    for t in starters:
        embed[t] = u[slots - 1]
    return embed.astype(np.float32), head.astype(np.float32)
