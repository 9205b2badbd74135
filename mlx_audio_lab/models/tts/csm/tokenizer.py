"""CSM's text side: the Llama-3 tokenizer from `tokenizer.json`, and the prompt the processor's chat template builds.

Each turn is `<|begin_of_text|>[speaker]text<|end_of_text|>`, followed, for a context turn with audio, by one
`<|AUDIO|>` per audio frame and `<|audio_eos|>` (transformers' `CsmProcessor` with sesame/csm-1b's chat
template). Special tokens are looked up by name, so the fixture's tiny byte vocabulary and the real one
(ids 128000-128003) go through the same code.
"""

from __future__ import annotations

from pathlib import Path

BOS, EOS, AUDIO, AUDIO_EOS = "<|begin_of_text|>", "<|end_of_text|>", "<|AUDIO|>", "<|audio_eos|>"


class CsmTokenizer:
    """Text <-> ids and the ids of the four special tokens CSM's prompts use."""

    def __init__(self, path: str | Path):
        from tokenizers import Tokenizer

        self.tok = Tokenizer.from_file(str(path))
        missing = [t for t in (BOS, EOS, AUDIO, AUDIO_EOS) if self.tok.token_to_id(t) is None]
        if missing:
            raise ValueError(f"{path}: no special tokens {missing}; not a CSM (Llama-3) tokenizer")
        self.bos, self.eos = self.tok.token_to_id(BOS), self.tok.token_to_id(EOS)
        self.audio, self.audio_eos = self.tok.token_to_id(AUDIO), self.tok.token_to_id(AUDIO_EOS)

    def encode(self, text: str) -> list[int]:
        """Plain text -> ids (no special tokens added)."""
        return self.tok.encode(text, add_special_tokens=False).ids

    def turn(self, speaker: int, text: str, audio_frames: int | None = None) -> list[int]:
        """One turn: BOS [speaker]text EOS, then AUDIO x frames and AUDIO_EOS when the turn has audio."""
        ids = [self.bos, *self.encode(f"[{speaker}]{text}"), self.eos]
        return ids if audio_frames is None else ids + [self.audio] * audio_frames + [self.audio_eos]


def tiny_tokenizer_json(path: Path) -> None:
    """Write a Llama-3-like byte-level tokenizer: byte symbols 0..255, then the four special tokens (256-259).

    Its post-processor wraps a text in BOS ... EOS when special tokens are asked for, as sesame/csm-1b's does.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())  # the 256 printable stand-ins of the bytes
    vocab = {ch: i for i, ch in enumerate(alphabet)}
    specials = [BOS, EOS, AUDIO, AUDIO_EOS]
    vocab.update({t: len(alphabet) + i for i, t in enumerate(specials)})
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(specials)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS}:0 $A:0 {EOS}:0", pair=f"{BOS}:0 $A:0 {EOS}:0 {BOS}:1 $B:1 {EOS}:1",
        special_tokens=[(BOS, vocab[BOS]), (EOS, vocab[EOS])])
    tok.save(str(path))
