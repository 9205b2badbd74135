"""Build and load the project's C kernels (`*_kernels.c` next to this file) once, through ctypes.

One `CKernel` per source: the build's name carries a hash of the source and the flags (an edited source is
rebuilt, never run stale; earlier builds are removed), the build is atomic (temp file, then rename), and
`library()` is None without a C compiler, on a failed build, in a read-only install, on a 32-bit machine or with
`MLX_AUDIO_LAB_NO_NATIVE=1` — then the callers keep their NumPy / MLX paths. .ci/setup builds every kernel.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

OFF_ENV = "MLX_AUDIO_LAB_NO_NATIVE"  # =1: never build or load a kernel
BASE_FLAGS = ("-O3", "-march=native", "-fPIC", "-shared")


class CKernel:
    """A C source compiled to `_<stem>-<hash>.so` and its functions' ctypes signatures."""

    def __init__(self, source: str, signatures: dict[str, tuple[list, object]], extra_flags: tuple[str, ...] = ()):
        self.source = Path(__file__).with_name(source)
        self.signatures = signatures  # function name -> (argtypes, restype)
        self.flags = BASE_FLAGS + tuple(extra_flags)
        self._lib: list = []  # [CDLL or None], looked up once

    def headers(self) -> list[Path]:
        """The project headers the source includes (`#include "name.h"`, next to it): part of the build's hash."""
        names = re.findall(r'^\s*#\s*include\s+"([^"]+)"', self.source.read_text(), flags=re.MULTILINE)
        return [self.source.with_name(n) for n in names]

    def library_path(self) -> Path:
        """Where the build for this source, its headers and these flags lives (next to the source)."""
        text = self.source.read_bytes() + b"".join(h.read_bytes() for h in self.headers())
        digest = hashlib.sha256(text + " ".join(self.flags).encode()).hexdigest()[:12]
        return self.source.with_name(f"_{self.source.stem}-{digest}.so")

    def build(self, quiet: bool = True) -> Path | None:
        """Compile the source (atomically); the library's path, or None without a compiler or on a failure."""
        target = self.library_path()
        if target.exists():
            return target
        cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
        if cc is None:
            return None
        try:  # a read-only install: no build
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".build-{self.source.stem}-", suffix=".so")
        except OSError:
            return None
        os.close(fd)
        try:
            subprocess.run([cc, *self.flags, "-o", tmp, str(self.source)], check=True, capture_output=quiet,
                           timeout=120)
            os.replace(tmp, target)
            for old in target.parent.glob(f"_{self.source.stem}-*.so"):  # builds of earlier sources (unlinking
                if old != target:  # is safe on Linux while another process has one loaded)
                    old.unlink(missing_ok=True)
        except (OSError, subprocess.SubprocessError) as e:
            Path(tmp).unlink(missing_ok=True)
            if not quiet:
                print(f"{self.source.name} not built: {e}", file=sys.stderr)
            return None
        return target

    def library(self) -> ctypes.CDLL | None:
        """The loaded library with its signatures set, or None (see the module docstring)."""
        if not self._lib:
            lib = None
            wanted = sys.maxsize > 2**32 and os.environ.get(OFF_ENV) != "1"
            path = self.build() if wanted else None
            if path is not None:
                try:
                    lib = ctypes.CDLL(str(path))
                    for name, (argtypes, restype) in self.signatures.items():
                        getattr(lib, name).argtypes = argtypes
                        getattr(lib, name).restype = restype
                except (OSError, AttributeError):
                    lib = None
            self._lib.append(lib)
        return self._lib[0]

    def main(self, fallback: str) -> int:
        """Build and say where the library is (0), or why not (1); `fallback` names what runs without it."""
        built = self.build(quiet=False)
        print(f"{self.source.stem}: {built}" if built else f"{self.source.stem}: not built (no C compiler); {fallback}")
        return 0 if built else 1
