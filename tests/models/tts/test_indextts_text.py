"""IndexTTS 2's text front end without NeMo (models/tts/indextts/text.py) against upstream's `TextTokenizer` on the
fixture's trained bpe.model: upstream's `TextNormalizer.normalize` with NeMo as the identity (its language choice,
contraction rewrite, term / name protection and punctuation map run as they are), then `tokenize` and
`convert_tokens_to_ids` as infer_v2 calls them."""

from __future__ import annotations

import pytest

from mlx_audio_lab.fixtures import build

SENTENCES = ["The quick brown fox jumps over the lazy dog.", "Hello, world! How are you?",
             "It's a voice (not an echo): she said \u201cyes\u201d; then left...",
             "\u4f60\u597d\uff0c\u4e16\u754c\u3002",
             "\u4e2d\u6587 and English, mixed\uff01", "Pack my box \u2014 with five dozen liquor jugs?", "A",
             "Fish-Speech and F-TTS are here~", "Unknown letters: \u00e9 \u00df stay unknown."]


class _Identity:
    """NeMo's place in upstream's TextNormalizer: text unchanged."""

    def normalize(self, text: str, verbose: bool = False) -> str:
        return text


@pytest.fixture(scope="module")
def tokenizers():
    from indextts.utils.front import TextNormalizer, TextTokenizer

    from mlx_audio_lab.models.tts.indextts.text import TextTokenizer as Ours
    from mlx_audio_lab.models.tts.indextts.text import bpe_path

    path = bpe_path(build("indextts"))
    normalizer = TextNormalizer()
    normalizer._normalizers = {"en": _Identity(), "zh": _Identity()}
    upstream = TextTokenizer(str(path), normalizer=None)
    upstream.normalizer = normalizer  # after construction: `load()` would build NeMo
    return Ours(path), upstream, TextTokenizer(str(path), normalizer=None)


@pytest.mark.parametrize("text", SENTENCES)
def test_ids_equal_upstream_with_nemo_as_identity(tokenizers, text):
    ours, upstream, _ = tokenizers
    want = upstream.convert_tokens_to_ids(upstream.tokenize(text))
    assert ours.ids(text) == want and len(want) >= 1


def test_plain_text_equals_upstream_without_normaliser(tokenizers):
    ours, _, bare = tokenizers  # TextTokenizer(bpe, normalizer=None): no punctuation map, so plain text only
    for text in ("The quick brown fox.", "Hello, world! How are you?", "\u4f60\u597d \u4e16\u754c"):
        assert ours.ids(text) == bare.convert_tokens_to_ids(bare.tokenize(text))
        assert ours.encode(text)[0].tolist() == bare.encode(text)


def test_ids_vary_and_fit_the_gpt(tokenizers):
    from mlx_audio_lab.models.tts.indextts.load import read_config

    ours, _, _ = tokenizers
    ids = ours.encode(SENTENCES[0])[0]
    assert len(set(ids.tolist())) >= 10 and ids.max() < read_config(build("indextts")).number_text_tokens
    assert ours.sp.GetPieceSize() <= read_config(build("indextts")).number_text_tokens


@pytest.mark.parametrize("text, named", [("It costs $20.", ["'$'", "'0'", "'2'"]), ("50% off & more", ["'%'", "'&'"]),
                                         ("mail me@example.com or see a/b", ["'/'", "'@'"])])
def test_text_nemo_would_rewrite_is_refused(tokenizers, text, named):
    from mlx_audio_lab.errors import InputError
    from mlx_audio_lab.models.tts.indextts.text import TextNeedsNormalising

    ours, _, _ = tokenizers
    with pytest.raises(TextNeedsNormalising, match="spell it out") as err:
        ours.encode(text)
    assert isinstance(err.value, InputError) and all(n in str(err.value) for n in named)


def test_unknown_characters_are_refused_by_encode(tokenizers):
    from mlx_audio_lab.errors import InputError

    ours, _, _ = tokenizers
    with pytest.raises(InputError, match="no tokens for"):
        ours.encode("\u00e9t\u00e9")


def test_bpe_training_is_deterministic(tmp_path):
    from mlx_audio_lab.models.tts.indextts.reference import build_bpe

    build_bpe(tmp_path / "a.model", 48)
    build_bpe(tmp_path / "b.model", 48)
    assert (tmp_path / "a.model").read_bytes() == (tmp_path / "b.model").read_bytes()
    assert (tmp_path / "a.model").read_bytes() == (build("indextts") / "bpe.model").read_bytes()
