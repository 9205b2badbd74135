"""Turn a model reference into a local folder: a folder, a bundled asset name, or a hub repo id."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from pathlib import Path

from .errors import LabError


class HubUnavailableError(LabError, RuntimeError):
    """The Hugging Face hub cannot be reached and the repo is not in the local cache."""


# Bundled asset name -> its finder (a function returning the folder), or "package.module:function" naming one,
# imported on first use. Ports declare their assets in their `registry` spec, which registers them here, so
# the hub imports no model and `resolve` stays light.
BUNDLED: dict[str, Callable[[], Path] | str] = {}


def register_bundled(name: str, finder: Callable[[], Path] | str) -> None:
    """Register a bundled asset name: a finder, or the dotted "module:function" path of one (imported lazily)."""
    BUNDLED[name] = finder


def bundled_names() -> list[str]:
    """The bundled asset names (installed from a package registry, not the hub)."""
    return sorted(BUNDLED)


def _bundled_folder(name: str) -> Path:
    finder = BUNDLED[name]
    if isinstance(finder, str):
        module, _, attr = finder.partition(":")
        finder = getattr(importlib.import_module(module), attr)
    return Path(finder())


def offline() -> bool:
    """True when the hub must not be contacted (HF_HUB_OFFLINE=1)."""
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in {"1", "true", "yes", "on"}


def resolve(ref: str | os.PathLike[str], revision: str | None = None) -> Path:
    """Local folder for a folder path, a bundled name (`whisper-tiny.en`) or a repo id (`openai/whisper-tiny`)."""
    path = Path(ref).expanduser()
    if path.is_dir():
        return path
    name = str(ref)
    if name in BUNDLED:
        return _bundled_folder(name)
    if path.exists():
        raise NotADirectoryError(f"{path} is a file; pass the model folder that holds config.json")
    if name.count("/") != 1 or name.startswith((".", "/")):
        raise FileNotFoundError(
            f"{name!r} is neither a folder, a bundled asset ({', '.join(bundled_names())}) nor a hub repo id"
        )
    return _snapshot(name, revision)


def _snapshot(repo_id: str, revision: str | None) -> Path:
    """Download (or find in the cache) a hub repo; a clear error when the hub is unreachable."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    patterns = ["*.json", "*.safetensors", "*.bin", "*.npz", "*.pth", "*.pt", "*.txt", "*.model", "*.tiktoken"]
    try:
        # the environment is read at call time (huggingface_hub reads it once, at import)
        return Path(snapshot_download(repo_id, revision=revision, allow_patterns=patterns,
                                      cache_dir=os.environ.get("HF_HUB_CACHE"), local_files_only=offline()))
    except LocalEntryNotFoundError as e:
        raise HubUnavailableError(_hub_message(repo_id)) from e
    except Exception as e:  # network errors come in many types (httpx, OSError, requests)
        if _is_network_error(e):
            raise HubUnavailableError(_hub_message(repo_id)) from e
        raise


def _is_network_error(e: BaseException) -> bool:
    seen: BaseException | None = e
    while seen is not None:
        name = type(seen).__name__
        if any(k in name for k in ("Connect", "Timeout", "Network", "Offline", "NameResolution")):
            return True
        if isinstance(seen, OSError) and not isinstance(seen, FileNotFoundError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _hub_message(repo_id: str) -> str:
    mode = "HF_HUB_OFFLINE=1 is set" if offline() else "the Hugging Face hub cannot be reached"
    return (
        f"cannot get {repo_id!r}: {mode} and it is not in the local cache "
        f"({os.environ.get('HF_HUB_CACHE') or os.environ.get('HF_HOME') or '~/.cache/huggingface'}). "
        f"Use a local folder, a bundled asset ({', '.join(bundled_names())}), or a fixture "
        f"(`mlx-audio-lab fixtures build`)."
    )
