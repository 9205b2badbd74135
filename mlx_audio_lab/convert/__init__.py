"""Checkpoint conversion: readers for upstream formats, a key-map engine driven by tables, quantization."""

from .keymap import CheckpointError, KeyMap, Rule, apply_keymap
from .readers import read_state_dict
from .suggest import KeymapSuggestion, suggest_keymap

__all__ = ["CheckpointError", "KeyMap", "KeymapSuggestion", "Rule", "apply_keymap", "read_state_dict",
           "suggest_keymap"]
