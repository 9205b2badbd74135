"""The project's error types: an expected failure (bad input, checkpoint, config, argument, output) is a
`LabError` whose message says what went wrong, where, and what to do; anything else escaping is a bug.

Each subclass is also the builtin it refines (ValueError, OSError ...), so older `except ValueError` keeps
working. This module imports nothing of the package, so every layer can raise these.
"""

from __future__ import annotations


class LabError(Exception):
    """An expected failure the user can fix; the CLI prints `error: <message>` and exits with code 2."""


class InputError(LabError, ValueError):
    """Input data that cannot be used (audio, codes, text, voices)."""


class ArgumentError(InputError):
    """An option value the model cannot take (beam size, speed, bandwidth, language ...)."""


class CodesError(InputError):
    """Codec codes that do not fit the codec: wrong dtype, shape, number of codebooks, or a code out of range."""


class ConfigError(LabError, ValueError):
    """A `config.json` that cannot configure the model: not an object, a wrong type, or a value out of range."""


class WeightsError(LabError, ValueError):
    """A checkpoint that cannot be loaded: unreadable, the wrong dtype, non-finite values, keys not fitting."""


class OutputError(LabError, OSError):
    """An output that cannot be written (unwritable folder, a file where a folder is needed, an existing target)."""
