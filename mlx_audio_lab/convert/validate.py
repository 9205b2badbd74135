"""Checks where data enters a port: the config (an object whose sizes are positive integers) and the weights
(the dtype family the model expects, no NaN / inf). Called from `registry.read_config` and `fill_model`, the one
config and one loading path every port shares."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import ConfigError, WeightsError

# Config keys that hold a size, a count or a rate: a positive integer (a count may be 0), or a list of them.
SIZE_KEY = re.compile(r"(^|_)(dim|dims|size|sizes|rate|rates|ratios|strides|channels|layers|heads|length|ctx|"
                      r"mels|kernel|filters|codebooks|quantizers|embeddings)$|^(num|n)_")
# Counts that may be 0 (num_gpus, num_lstm_layers ...); a count of filters, channels, heads ... may not.
COUNT_KEY = re.compile(r"^alignment_|^(num|n)_(?!.*(filters|channels|mels|heads|codebooks|quantizers|embeddings|"
                       r"dim|size)$)")
MAX_SIZE = 1 << 24  # no layer of an audio model has 16 M rows; a larger value is a corrupt config


def check_config(config: Any, source: str) -> dict:
    """`config` must be a JSON object whose size-like fields are integers in range; returns it."""
    if not isinstance(config, dict):
        raise ConfigError(f"{source}: the config is a JSON {type(config).__name__}, not an object "
                          "({\"model_type\": ..., ...}); is this the model's config.json?")
    _check_fields(config, source, "")
    return config


def _check_fields(config: Mapping, source: str, prefix: str) -> None:
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            _check_fields(value, source, name + ".")
        elif isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{source}: {name} is {value}; expected a finite number")
        elif isinstance(key, str) and SIZE_KEY.search(key) and value is not None:
            _check_size(value, key, name, source)


def _check_size(v: Any, key: str, name: str, source: str) -> None:
    if isinstance(v, list):  # a list (of lists) of sizes: strides, dilations, alignment heads ...
        for item in v:
            _check_size(item, key, name, source)
        return
    if isinstance(v, float) and not math.isfinite(v):
        raise ConfigError(f"{source}: {name} holds {v}; expected a finite number")
    if isinstance(v, bool) or isinstance(v, float) and not v.is_integer():
        return  # a flag (tie_word_embeddings) or a fractional rate (learning rate): not a size
    if not isinstance(v, int | float):
        raise ConfigError(f"{source}: {name} is {v!r} ({type(v).__name__}); expected a number")
    least = 0 if COUNT_KEY.search(key) else 1
    if v < least:
        raise ConfigError(f"{source}: {name} is {v}; a size must be >= {least}. Re-create config.json")
    if v > MAX_SIZE and not key.endswith(("rate", "embeddings", "length")):
        raise ConfigError(f"{source}: {name} is {v}; larger than any layer of an audio model ({MAX_SIZE})")


def check_weights(weights: Mapping[str, Any], expected: Mapping[str, Any], source: str) -> None:
    """Each tensor's dtype family matches the model's parameter (float where float, integer where packed
    integers), and floating tensors hold no NaN / inf."""
    for name, value in weights.items():
        a = np.asarray(value) if not hasattr(value, "dtype") or isinstance(value, np.ndarray) else value
        want = expected.get(name)
        got_float = _is_float(a.dtype)
        if want is not None and got_float != _is_float(want):
            kind = "floating point" if _is_float(want) else "integer"
            raise WeightsError(f"{source}: tensor {name} is {a.dtype}, the model expects {kind} ({want}); "
                               "the file is corrupt or not this model's checkpoint")
        if got_float:
            finite = np.isfinite(np.asarray(a, dtype=np.float32)) if isinstance(a, np.ndarray) else _mx_finite(a)
            if not finite.all():
                bad = int((~finite).sum())
                raise WeightsError(f"{source}: tensor {name} holds {bad} NaN / inf values; the checkpoint is "
                                   "corrupt (re-download or re-convert it)")


def _is_float(dtype: Any) -> bool:
    text = str(dtype)
    return "float" in text or text.endswith(("f2", "f4", "f8"))


def _mx_finite(a: Any) -> np.ndarray:
    import mlx.core as mx

    return np.array(mx.isfinite(a.astype(mx.float32)))


def checked(config: Any, source: str = "config") -> Any:
    """A config dataclass whose every field has its annotated type (int, float, bool, str, lists of them, X | None,
    nested config dataclasses), integral floats made ints, epsilons > 0; returns it. Call before building a model."""
    import dataclasses
    import typing

    hints = typing.get_type_hints(type(config))
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            checked(value, f"{source}: {f.name}")
            continue
        ok, fixed = _fits(value, hints.get(f.name, Any))
        if not ok:
            raise ConfigError(f"{source}: {f.name} is {value!r:.60} ({type(value).__name__}); expected "
                              f"{_describe(hints[f.name])}. Fix the model's config file")
        if fixed is not value:
            object.__setattr__(config, f.name, fixed)
        if f.name.endswith("eps") and isinstance(fixed, int | float) and not fixed > 0:
            raise ConfigError(f"{source}: {f.name} is {fixed}; an epsilon must be > 0")
    return config


def _fits(value: Any, hint: Any) -> tuple[bool, Any]:
    """(value has type `hint`, the value with integral floats made ints where ints are expected)."""
    import types
    import typing

    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any or origin is typing.Literal or hint is dict or origin is dict or isinstance(hint, typing.TypeVar):
        return True, value
    if origin in (typing.Union, types.UnionType):
        for arg in args:
            ok, fixed = (value is None, value) if arg is type(None) else _fits(value, arg)
            if ok:
                return True, fixed
        return False, value
    if origin in (list, tuple) or hint in (list, tuple):
        if not isinstance(value, list | tuple):
            return False, value
        item = args[0] if args else Any
        out = [_fits(v, item) for v in value]
        if not all(ok for ok, _ in out):
            return False, value
        return True, type(value)(v for _, v in out) if any(v is not o for (_, v), o in zip(out, value)) else value
    if hint is bool:
        return isinstance(value, bool), value
    if hint is int:
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return True, int(value)
        return isinstance(value, int) and not isinstance(value, bool), value
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value), value
    if isinstance(hint, type):
        return isinstance(value, hint), value
    return True, value


def _describe(hint: Any) -> str:
    """A type hint in words: "an integer", "a list of integers", "true or false", ..."""
    import types
    import typing

    words = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join("null" if a is type(None) else _describe(a) for a in args)
    if origin in (list, tuple):
        inner = _describe(args[0]) if args and args[0] is not Ellipsis else "values"
        plural = {"an integer": "integers", "a number": "numbers", "a string": "strings", "true or false": "booleans"}
        return "a list of " + plural.get(inner, inner.replace("a list of", "lists of", 1))
    return words.get(hint, getattr(hint, "__name__", str(hint)))
