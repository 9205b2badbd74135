"""The CLI's error boundary and argument checks: expected failures print `error: ...` and exit 2; anything else
is a bug, shown with its traceback and a line saying so (exit 3)."""

from __future__ import annotations

import argparse
import math
import sys
import traceback
from collections.abc import Callable

from .errors import ArgumentError, LabError

EXIT_OK, EXIT_FAILED_CHECK, EXIT_BAD_INPUT, EXIT_BUG, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
MAX_BEAM = 64
# Environment failures the user can fix: a missing path, a file where a folder was expected, permissions, a full disk.
EXPECTED_OS = (OSError,)


def error(message: object) -> None:
    """Print `error: <message>` on stderr."""
    print(f"error: {message}", file=sys.stderr)


def guarded(fn: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a command: project errors and OS errors -> `error: ...`, exit 2; any other exception is a bug."""
    try:
        return fn(args)
    except LabError as e:
        error(e)
        return EXIT_BAD_INPUT
    except EXPECTED_OS as e:
        error(f"{e.strerror or e}: {e.filename}" if getattr(e, "filename", None) else e)
        return EXIT_BAD_INPUT
    except MemoryError:
        error("out of memory; try a shorter input or a smaller model")
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception:  # noqa: BLE001  (the boundary: anything left is a bug, shown as one)
        traceback.print_exc()
        print("mlx-audio-lab: this is a bug in mlx-audio-lab, not a problem with your input; please report it "
              "with the command line and the traceback above", file=sys.stderr)
        return EXIT_BUG


def beam_size(text: str) -> int:
    """argparse type: an integer beam width 1..MAX_BEAM."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"beam size must be an integer, got {text!r}") from None
    if not 1 <= n <= MAX_BEAM:
        raise argparse.ArgumentTypeError(f"beam size must be 1..{MAX_BEAM} (1 is greedy), got {n}")
    return n


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    x = finite_float(text)
    if x <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return x


def finite_float(text: str) -> float:
    """argparse type: a finite number."""
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(x):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return x


def non_negative_float(text: str) -> float:
    """argparse type: a finite number >= 0."""
    x = finite_float(text)
    if x < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return x


def probability(text: str) -> float:
    """argparse type: a number in [0, 1]."""
    x = finite_float(text)
    if not 0 <= x <= 1:
        raise argparse.ArgumentTypeError(f"must be a probability in [0, 1], got {text}")
    return x


def check_bandwidth(model, bandwidth: float | None) -> dict:
    """`{"bandwidth": x}` for encode when the codec has bandwidths and `x` is one of them; else an ArgumentError."""
    if bandwidth is None:
        return {}
    import inspect

    if "bandwidth" not in inspect.signature(model.encode).parameters:
        raise ArgumentError(f"--bandwidth: {type(model).__name__} has no bandwidth choice; leave --bandwidth out")
    cfg = getattr(model, "config", None)
    choices = getattr(cfg, "target_bandwidths", None) or getattr(getattr(cfg, "feature_extractor", None),
                                                                  "bandwidths", None)
    if choices and bandwidth not in choices:
        raise ArgumentError(f"--bandwidth {bandwidth}: this model's bandwidths are {list(choices)} kbps")
    return {"bandwidth": bandwidth}


def require(model, method: str, what: str, ref: str) -> None:
    """An ArgumentError when `model` lacks `method` (e.g. `transcribe` on a codec)."""
    if not hasattr(model, method):
        why = getattr(model, "not_ported", {}).get(method)  # a port that covers part of its model says which part
        if why:
            raise ArgumentError(f"--model {ref}: {why}")
        raise ArgumentError(f"--model {ref} is not {what} (it has no {method}); see `mlx-audio-lab models`")


STYLE_LEVELS = ("very_low", "low", "moderate", "high", "very_high")  # Spark-TTS's pitch / speed labels


def speed_or_level(text: str) -> float | str:
    """argparse type for --speed: a rate (a finite number > 0) or a level name (for models with style labels)."""
    if text in STYLE_LEVELS:
        return text
    try:
        return positive_float(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0 or one of {', '.join(STYLE_LEVELS)}, "
                                         f"got {text!r}") from None
