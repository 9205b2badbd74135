"""Voxtral prompts against mistral-common (the request library of Voxtral's reference): the transcription and
audio-chat token layouts equal what it builds for the same request from a tiny `tekken.json`, no hub."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from mlx_audio_lab.models.stt.voxtral.tokenizer import VoxtralTokenizer, tiny_tokenizer_json

mistral_common = pytest.importorskip("mistral_common")

N_SPECIAL = 40  # the fixture tokenizer's control block; bytes follow at N_SPECIAL + b (as in Tekken)


def tiny_tekken_json(path, tok: VoxtralTokenizer) -> None:
    """A Tekken file with the fixture's control tokens (by id) and the 256 bytes as its only ranks."""
    from mistral_common.tokens.tokenizers.base import SpecialTokens

    names = {i: t for t, i in tok.ids.items()} | {0: "<unk>", 11: "<pad>"}
    spare = iter(s.value for s in SpecialTokens if s.value not in names.values())  # the others on free ids
    specials = [{"rank": i, "token_str": names.get(i) or next(spare, f"<SPECIAL_{i}>"), "is_control": True}
                for i in range(N_SPECIAL)]
    vocab = [{"rank": b, "token_bytes": base64.b64encode(bytes([b])).decode(), "token_str": None} for b in range(256)]
    path.write_text(json.dumps({
        "config": {"pattern": r"[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
                   "num_vocab_tokens": 256, "default_vocab_size": N_SPECIAL + 256,
                   "default_num_special_tokens": N_SPECIAL, "version": "v7"},
        "vocab": vocab, "special_tokens": specials,
        "audio": {"sampling_rate": 16000, "frame_rate": 12.5, "chunk_length_s": 30.0,
                  "audio_encoding_config": {"num_mel_bins": 128, "hop_length": 160, "window_size": 400}},
    }))


@pytest.fixture(scope="module")
def tokenizers(tmp_path_factory):
    """(our tokenizer, mistral-common's) over the same tiny vocabulary."""
    from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

    folder = tmp_path_factory.mktemp("tekken")
    tiny_tokenizer_json(folder / "tokenizer.json", N_SPECIAL)
    ours = VoxtralTokenizer(folder / "tokenizer.json")
    tiny_tekken_json(folder / "tekken.json", ours)
    return ours, MistralTokenizer.from_file(str(folder / "tekken.json"))


def raw_audio(seconds: float):
    from mistral_common.audio import Audio
    from mistral_common.protocol.instruct.chunk import RawAudio

    wave = (np.random.default_rng(0).standard_normal(int(16000 * seconds)) * 0.1).astype(np.float32)
    return RawAudio(data=Audio(wave, 16000, "wav").to_base64("wav"), format="wav")


def audio_tokens(ids: list[int], tok: VoxtralTokenizer) -> int:
    return ids.count(tok.ids["[AUDIO]"])


@pytest.mark.parametrize("seconds", [2.0, 45.0])  # one and two 30 s chunks (375 audio tokens each)
@pytest.mark.parametrize("language", ["en", "fr", None])
def test_transcription_prompt_equals_mistral_common(tokenizers, seconds, language):
    from mistral_common.protocol.transcription.request import TranscriptionRequest

    ours, theirs = tokenizers
    req = TranscriptionRequest(model="voxtral", audio=raw_audio(seconds), language=language)
    expected = theirs.encode_transcription(req).tokens
    n = audio_tokens(expected, ours)
    assert n == 375 * (1 if seconds <= 30 else 2)
    assert ours.transcription_prompt(n, language) == expected
    assert expected[-1] == ours.ids["[TRANSCRIBE]"] and expected[:3] == [1, 3, ours.ids["[BEGIN_AUDIO]"]]


def test_audio_chat_prompt_equals_mistral_common(tokenizers):
    from mistral_common.protocol.instruct.chunk import AudioChunk, TextChunk
    from mistral_common.protocol.instruct.messages import UserMessage
    from mistral_common.protocol.instruct.request import ChatCompletionRequest

    ours, theirs = tokenizers
    question = "What is said in this clip?"
    req = ChatCompletionRequest(messages=[UserMessage(content=[AudioChunk(input_audio=raw_audio(3.0)),
                                                               TextChunk(text=question)])])
    expected = theirs.encode_chat_completion(req).tokens
    assert ours.chat_prompt(audio_tokens(expected, ours), question) == expected
    assert ours.decode(expected) == question
