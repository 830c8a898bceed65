"""Configs: YAML into frozen dataclasses, unknown keys and wrong types named, --set overrides."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pytest
import yaml

from larseg.train.config import (ConfigError, config_to_dict, dump_config, load_config,
                                 parse_override)


@dataclass(frozen=True)
class Optim:
    name: Literal["rmsprop", "adam", "adamw"] = "rmsprop"
    lr: float = 3e-4            # SBND paper: RMSProp, learning rate 3e-4
    clip: float | None = None


@dataclass(frozen=True)
class Loss:
    weights: tuple[float, ...] = (1.0, 1.5, 10.0)
    balance: Literal["none", "image", "full"] = "none"


@dataclass(frozen=True)
class Data:
    planes: tuple[int, ...] = (0, 1, 2)
    train: str = "train.h5"
    shuffle: bool = True


@dataclass(frozen=True)
class Cfg:
    optim: Optim = field(default_factory=Optim)
    loss: Loss = field(default_factory=Loss)
    data: Data = field(default_factory=Data)
    steps: int = 100


def _yaml(tmp_path, text: str):
    p = tmp_path / "net.yaml"
    p.write_text(text)
    return p


def test_file_then_overrides(tmp_path):
    p = _yaml(tmp_path, "optim:\n  name: adam\n  lr: 1.0e-3\nloss:\n  weights: [1, 2, 3]\n")
    cfg = load_config(p, Cfg, ["optim.lr=3e-4", "data.planes=[2]", "steps=7"])
    assert cfg.optim == Optim(name="adam", lr=3e-4, clip=None)
    assert cfg.loss.weights == (1.0, 2.0, 3.0) and cfg.loss.balance == "none"
    assert cfg.data.planes == (2,) and cfg.steps == 7 and cfg.data.train == "train.h5"
    with pytest.raises(Exception):  # frozen
        cfg.steps = 3
    assert load_config(None, Cfg) == Cfg()


@pytest.mark.parametrize("text,overrides,says", [
    ("optim:\n  lr: 1.0e-3\n  lrr: 2\n", [], "unknown key 'optim.lrr' (known here: name, lr, clip)"),
    ("stepz: 3\n", [], "unknown key 'stepz'"),
    ("optim:\n  name: sgd\n", [], "optim.name must be one of 'rmsprop', 'adam', 'adamw'"),
    ("steps: 2.5\n", [], "steps must be an integer"),
    ("data:\n  shuffle: yes please\n", [], "data.shuffle must be true or false"),
    ("loss:\n  weights: 3\n", [], "loss.weights must be a list"),
    ("optim: 3\n", [], "optim is a section"),
    ("", ["optim.lr=fast"], "optim.lr must be a number, got 'fast'"),
    ("", ["nokey"], "expected KEY=VALUE"),
    ("- a\n- b\n", [], "the top level must be a mapping"),
])
def test_bad_configs_name_the_file_and_key(tmp_path, text, overrides, says):
    p = _yaml(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        load_config(p, Cfg, overrides)
    assert says in str(e.value) and str(p) in str(e.value)


def test_resolved_config_round_trips(tmp_path):
    cfg = load_config(None, Cfg, ["optim.clip=0.5", "loss.balance=image"])
    out = dump_config(cfg, tmp_path / "resolved.yaml")
    data = yaml.safe_load(out.read_text())
    assert data["optim"] == {"name": "rmsprop", "lr": 3e-4, "clip": 0.5}
    assert data == config_to_dict(cfg)
    assert load_config(out, Cfg) == cfg


def test_parse_override_values_are_yaml():
    assert parse_override("a.b=[1, 2]") == (["a", "b"], [1, 2])
    assert parse_override("x=true") == (["x"], True)
    assert parse_override("x=") == (["x"], "")
