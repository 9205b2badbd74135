"""`convert.validate.checked`: a config dataclass's fields against their annotations, named in the error."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from mlx_audio_lab.convert.validate import checked
from mlx_audio_lab.errors import ConfigError


@dataclass
class Inner:
    rates: list[int] = field(default_factory=lambda: [2, 4])
    dilations: list[list[int]] = field(default_factory=lambda: [[1, 3]])


@dataclass
class Outer:
    size: int = 8
    eps: float = 1e-5
    flag: bool = True
    name: str = "x"
    window: int | None = None
    inner: Inner = field(default_factory=Inner)


def test_good_configs_pass_and_whole_floats_become_ints():
    cfg = checked(Outer(size=8.0, window=16.0, inner=Inner(rates=[2.0, 4])))
    assert (cfg.size, cfg.window, cfg.inner.rates) == (8, 16, [2, 4])
    assert all(type(v) is int for v in (cfg.size, cfg.window, *cfg.inner.rates))
    assert checked(Outer(eps=1)).eps == 1  # a whole number is a number


@pytest.mark.parametrize("config, message", [
    (Outer(size=8.5), r"size is 8\.5 \(float\); expected an integer"),
    (Outer(size=True), r"size is True \(bool\); expected an integer"),
    (Outer(eps="small"), r"eps is 'small' \(str\); expected a number"),
    (Outer(eps=float("nan")), r"eps is nan \(float\); expected a number"),
    (Outer(eps=0.0), r"eps is 0\.0; an epsilon must be > 0"),
    (Outer(flag="no"), r"flag is 'no' \(str\); expected true or false"),
    (Outer(name=3), r"name is 3 \(int\); expected a string"),
    (Outer(window="w"), r"window is 'w' \(str\); expected an integer or null"),
    (Outer(inner=Inner(rates=5)), r"inner: rates is 5 \(int\); expected a list of integers"),
    (Outer(inner=Inner(dilations=[[1, "a"]])), r"inner: dilations .*expected a list of lists of integers"),
])
def test_bad_fields_are_named(config, message):
    with pytest.raises(ConfigError, match=message):
        checked(config, "config.json")
