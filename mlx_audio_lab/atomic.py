"""Atomic outputs: write into a temporary sibling, then rename over the target, so a failure leaves nothing
half-written (the target is either the old file / nothing, or the complete new one)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import OutputError


def writable_parent(path: str | Path) -> Path:
    """Check before any work that `path` can be written (its folder exists or can be made, and is writable)."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise OutputError(f"output {path} is a folder; give a file name inside it")
    _check_folder(path.parent, path)
    return path.parent


def _check_folder(folder: Path, target: Path) -> None:
    """`folder` exists and is writable, or its nearest existing ancestor is a writable folder."""
    probe = folder
    while not probe.exists():  # the nearest existing ancestor decides whether the folder can be made
        probe = probe.parent
    if not probe.is_dir():
        raise OutputError(f"cannot write {target}: {probe} is a file, not a folder; choose another output path")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {target}: the folder {probe} is not writable; choose another output path")


@contextmanager
def atomic_file(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path` (same suffix, so writers infer the format); rename it on success."""
    path = Path(path).expanduser()
    parent = writable_parent(path)
    try:
        parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=parent)
        os.close(fd)
    except OSError as e:
        raise OutputError(f"cannot write {path}: {e.strerror or e}; choose another output path") from e
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as e:
        raise OutputError(f"cannot write {path}: {e.strerror or e}; check the disk and the folder's permissions") \
            from e
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_folder(path: str | Path) -> Iterator[Path]:
    """Yield a temporary folder beside `path`; on success it becomes `path`. An existing file, or a folder
    that is not empty, is refused before any work (nothing is overwritten)."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise OutputError(f"output {path} is an existing file; give a new folder name (or remove the file)")
    if path.is_dir() and any(path.iterdir()):
        raise OutputError(f"output folder {path} already exists and is not empty; give a new folder name "
                          "(or remove it first)")
    parent = path.parent
    _check_folder(parent, path)
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent))
    except OSError as e:
        raise OutputError(f"cannot create {path}: {e.strerror or e}; choose another output folder") from e
    try:
        yield tmp
        if path.is_dir():
            path.rmdir()  # empty (checked above)
        os.replace(tmp, path)
    except OSError as e:
        raise OutputError(f"cannot write {path}: {e.strerror or e}; check the disk and the folder's permissions") \
            from e
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
