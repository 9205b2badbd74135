"""Bark's text side: BERT's cased WordPiece (bert-base-multilingual-cased upstream) from the model folder's own
files (`tokenizer.json`, else `vocab.txt`), never from the hub; ids as BarkProcessor gives them (no [CLS] / [SEP])."""

from __future__ import annotations

from pathlib import Path


class BarkTokenizer:
    """Text -> WordPiece ids without special tokens, as `BarkProcessor` calls the tokenizer."""

    def __init__(self, folder: str | Path):
        from tokenizers import Tokenizer

        folder = Path(folder)
        if (folder / "tokenizer.json").is_file():
            self.tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
        elif (folder / "vocab.txt").is_file():
            from tokenizers import BertWordPieceTokenizer

            # bert-base-multilingual-cased: no lower-casing, accents kept, CJK characters split
            self.tok = BertWordPieceTokenizer(str(folder / "vocab.txt"), lowercase=False, strip_accents=False,
                                              handle_chinese_chars=True, clean_text=True)
        else:
            raise FileNotFoundError(f"{folder}: no tokenizer.json or vocab.txt (Bark's BERT vocabulary) beside "
                                    "the weights")
        self.vocab_size = self.tok.get_vocab_size()

    def encode(self, text: str) -> list[int]:
        return self.tok.encode(text, add_special_tokens=False).ids

    def decode(self, ids: list[int]) -> str:
        return self.tok.decode(ids)
