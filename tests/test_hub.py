"""Resolving model references: folders, bundled assets, and hub repo ids through huggingface_hub's cache."""

from __future__ import annotations

import shutil

import pytest

import mlx_audio_lab
from mlx_audio_lab.hub import HubUnavailableError, resolve


def test_bundled_tiny_en_resolves_to_the_package_files():
    folder = resolve("whisper-tiny.en")
    assert (folder / "model.bin").is_file() and (folder / "config.json").is_file()


def test_folder_resolves_to_itself(tmp_path):
    assert resolve(tmp_path) == tmp_path


def test_not_a_model_reference(tmp_path):
    with pytest.raises(FileNotFoundError, match="neither a folder"):
        resolve("no-such-thing")
    f = tmp_path / "config.json"
    f.write_text("{}")
    with pytest.raises(NotADirectoryError):
        resolve(f)


def test_offline_without_cache_says_so(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(HubUnavailableError, match="HF_HUB_OFFLINE=1 is set and it is not in the local cache"):
        resolve("openai/whisper-tiny")


def test_offline_hub_cache_is_used(monkeypatch, tmp_path, whisper_fixture):
    """A repo laid out as huggingface_hub caches it loads with HF_HUB_OFFLINE=1 and no network."""
    rev = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "models--openai--whisper-tiny"
    snap = repo / "snapshots" / rev
    shutil.copytree(whisper_fixture, snap)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(rev)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    assert resolve("openai/whisper-tiny") == snap
    model = mlx_audio_lab.load("openai/whisper-tiny")
    assert model.config.d_model == 64
