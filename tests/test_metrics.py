"""Word error rate."""

from mlx_audio_lab.metrics import normalize_words, word_error_rate


def test_word_error_rate_counts_edits():
    assert word_error_rate("the quick brown fox", "the quick brown fox") == 0
    assert word_error_rate("the quick brown fox", "the quick round fox") == 0.25  # one substitution
    assert word_error_rate("the quick brown fox", "quick brown fox") == 0.25  # one deletion
    assert word_error_rate("the fox", "the big fox jumps") == 1.0  # two insertions over two words
    assert normalize_words("Fairy, pulled away!") == ["fairy", "pulled", "away"]
