"""What the bad-input catalogue shares: running the CLI in-process, and making bad files from good ones."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from mlx_audio_lab import cli


@dataclass
class Run:
    """One CLI run: exit code, stdout, stderr."""

    code: int
    out: str
    err: str


def run_cli(*argv: object) -> Run:
    """`cli.main(argv)` in this process with stdout / stderr captured (argparse's SystemExit is an exit code)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main([str(a) for a in argv])
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
    return Run(code, out.getvalue(), err.getvalue())


def tone(path: Path, rate: int = 24_000, seconds: float = 1.0, channels: int = 1) -> Path:
    """A seeded AM tone plus noise (codes that vary), float32 WAV."""
    t = np.arange(int(rate * seconds)) / rate
    x = 0.3 * np.sin(2 * np.pi * 220 * t) * np.sin(2 * np.pi * 3 * t)
    x = x + 0.02 * np.random.default_rng(0).standard_normal(len(t))
    sf.write(str(path), np.repeat(x[:, None], channels, axis=1).astype(np.float32), rate, subtype="FLOAT")
    return path


def copy_model(src: Path, dst: Path) -> Path:
    """A writable copy of a model folder."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".complete"))
    return dst


def edit_config(folder: Path, **changes: object) -> Path:
    """Change (or with value `...` delete) top-level fields of `folder/config.json`."""
    path = folder / "config.json"
    cfg = json.loads(path.read_text())
    for k, v in changes.items():
        if v is ...:
            cfg.pop(k, None)
        else:
            cfg[k] = v
    path.write_text(json.dumps(cfg))
    return folder


def edit_safetensors(folder: Path, fn) -> Path:
    """Rewrite `folder/model.safetensors` through `fn(dict of arrays) -> dict of arrays`."""
    from safetensors.numpy import load_file, save_file

    path = folder / "model.safetensors"
    save_file(fn(dict(load_file(str(path)))), str(path))
    return folder


def first_float(state: dict) -> str:
    """The name of the first floating 2-D+ tensor (sorted) that loads as it is (not a weight-norm part)."""
    return next(k for k in sorted(state) if state[k].dtype.kind == "f" and state[k].ndim >= 2
                and not k.endswith(("weight_g", "weight_v")) and "parametrizations" not in k)


def ct2_first_variable(data: bytes, dtype_id: int = 4, skip: int = 0) -> tuple[int, int]:
    """(offset of the name bytes, offset of the dtype byte) of the first variable of dtype `dtype_id` (4: float16)
    in a CTranslate2 model.bin (binary version >= 4)."""
    pos = 4
    n = struct.unpack_from("<H", data, pos)[0]
    pos += 2 + n + 4 + 4  # spec name, revision, number of variables
    while True:
        n = struct.unpack_from("<H", data, pos)[0]
        name_at = pos + 2
        pos += 2 + n
        rank = data[pos]
        dtype_at = pos + 1 + 4 * rank
        if data[dtype_at] == dtype_id:
            if not skip:
                return name_at, dtype_at
            skip -= 1
        pos = dtype_at + 1 + 4 + struct.unpack_from("<I", data, dtype_at + 1)[0]


def ct2_head(data: bytes, keep: int, max_bytes: int = 4096) -> bytes:
    """A valid small model.bin: the header and the first `keep` variables of `data` (binary version >= 4) holding
    at most `max_bytes` each, no aliases."""
    pos = 4
    n = struct.unpack_from("<H", data, pos)[0]
    pos += 2 + n + 4
    count_at, total = pos, struct.unpack_from("<I", data, pos)[0]
    pos += 4
    records = []
    for _ in range(total):
        start = pos
        n = struct.unpack_from("<H", data, pos)[0]
        pos += 2 + n
        rank = data[pos]
        dtype_at = pos + 1 + 4 * rank
        size = struct.unpack_from("<I", data, dtype_at + 1)[0]
        pos = dtype_at + 1 + 4 + size
        if size <= max_bytes:
            records.append(data[start:pos])
        if len(records) == keep:
            break
    return data[:count_at] + struct.pack("<I", len(records)) + b"".join(records) + struct.pack("<I", 0)


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    """One seeded corruption: bit flips, a truncation, an extreme 1/2/4/8-byte field, inserted or zeroed bytes."""
    b = bytearray(data)
    op = int(rng.integers(6))
    at = int(rng.integers(0, max(len(b), 1)))
    if op == 0:  # flip a few bits, mostly near the header
        for _ in range(int(rng.integers(1, 9))):
            i = int(rng.integers(0, min(len(b), 256) if rng.random() < 0.7 else len(b)))
            b[i] ^= 1 << int(rng.integers(8))
    elif op == 1:
        del b[at:]
    elif op == 2:  # an extreme value in a field-sized slot, mostly in the header
        width = int(rng.choice([1, 2, 4, 8]))
        at = int(rng.integers(0, max(min(len(b), 128) - width, 1)))
        value = int(rng.choice([0, 1, 2**(8 * width) - 1, 2**(8 * width - 1), int(rng.integers(0, 2**31))]))
        b[at:at + width] = (value % 2**(8 * width)).to_bytes(width, "little")
    elif op == 3:
        b[at:at] = rng.bytes(int(rng.integers(1, 64)))
    elif op == 4:
        b[at:at + int(rng.integers(1, 512))] = bytes(min(len(b) - at, 511))
    else:  # a duplicated slice
        n = int(rng.integers(1, 256))
        b[at:at] = b[at:at + n]
    return bytes(b)
