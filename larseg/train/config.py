"""Configs: YAML files loaded into frozen dataclasses, with ``--set a.b=c`` overrides.

A network's config is a tree of frozen dataclasses (sections ``model``, ``data``, ``loss``,
``optim``, ``train``, ``eval``), whose defaults cite the paper. :func:`load_config` reads a YAML
file into it:

- every key must be a field: an unknown key is an error naming the key, the file and the keys
  that exist there (a typo never silently falls back to a default);
- a section typed as a union of sections (the ``model``) is the one whose ``name`` the file
  gives (default: the first), so each network keeps its own config dataclass;
- every value is checked against the field's type (bool, int, float, str, tuples and lists of
  them, ``X | None``, ``Literal[...]``, nested sections) and the error names the key;
- overrides ``"a.b=c"`` (the CLI's ``--set``) apply after the file, with the same checks; their
  values are YAML (``--set optim.lr=3e-4``, ``--set data.planes=[0,2]``);
- :func:`config_to_dict` / :func:`dump_config` give the resolved config back, to be saved with
  every run and checkpoint.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from ..errors import LarsegError

T = TypeVar("T")


class ConfigError(LarsegError, ValueError):
    """A config file or override that does not fit its schema; names the file and the key."""


def _type_name(tp) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp, where: str) -> Any:
    """``value`` checked (and, for numbers in tuples/lists, converted) against type ``tp``."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        args = (tp,)  # a section: the same as a choice of one
    if dataclasses.is_dataclass(tp) or origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        named = _named_sections(args)
        if named:  # a choice of sections (e.g. the model), picked by their ``name``
            if not isinstance(value, Mapping):
                raise ConfigError(f"{where} is a section: give a mapping, not {value!r}")
            choice = value.get("name", next(iter(named)))
            if choice not in named:
                raise ConfigError(f"{where}.name: unknown '{choice}'; available: "
                                  f"{', '.join(named)}")
            return _build(named[choice], value, where)
        if dataclasses.is_dataclass(tp):
            if not isinstance(value, Mapping):
                raise ConfigError(f"{where} is a section: give a mapping, not {value!r}")
            return _build(tp, value, where)
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, where)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if len(errors) == 1 else
                          f"{where} must be {' or '.join(_type_name(a) for a in args)}, "
                          f"got {value!r}")
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{where} must be one of {', '.join(map(repr, args))}, "
                              f"got {value!r}")
        return value
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} must be a list, got {value!r}")
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            items = [_coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)]
        elif origin is tuple and args:
            if len(value) != len(args):
                raise ConfigError(f"{where} must have {len(args)} items, got {len(value)}")
            items = [_coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args))]
        else:
            item = args[0] if args else Any
            items = [_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool):
            raise ConfigError(f"{where} must be a number, got {value!r}")
        if isinstance(value, str):  # YAML 1.1 reads 3e-4 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                raise ConfigError(f"{where} must be a number, got {value!r}") from None
        if not isinstance(value, (int, float)):
            raise ConfigError(f"{where} must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string, got {value!r}")
        return value
    raise ConfigError(f"{where}: unsupported field type {_type_name(tp)}")


def _named_sections(args) -> dict[str, type]:
    """{name: dataclass} when every member of a union is a dataclass with a ``name: str``
    field and a default (the first is the default choice); else {}."""
    out = {}
    for a in args:
        if a is type(None):
            continue
        f = {x.name: x for x in dataclasses.fields(a)} if dataclasses.is_dataclass(a) else {}
        if "name" not in f or not isinstance(f["name"].default, str) \
                or typing.get_type_hints(a)["name"] is not str:  # a Literal name is a setting
            return {}
        out[f["name"].default] = a
    return out


def _build(schema: type[T], data: Mapping[str, Any], where: str) -> T:
    hints = typing.get_type_hints(schema)
    fields = {f.name: f for f in dataclasses.fields(schema) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        key = f"{where}.{unknown[0]}" if where else unknown[0]
        raise ConfigError(f"unknown key '{key}' (known here: {', '.join(fields)})")
    kwargs = {}
    for name, f in fields.items():
        key = f"{where}.{name}" if where else name
        if name in data:
            kwargs[name] = _coerce(data[name], hints[name], key)
        elif dataclasses.is_dataclass(hints[name]) and f.default is dataclasses.MISSING \
                and f.default_factory is dataclasses.MISSING:
            kwargs[name] = _build(hints[name], {}, key)
    try:
        return schema(**kwargs)
    except TypeError as e:  # a required field left out
        raise ConfigError(f"{where or schema.__name__}: {e}") from None


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"a.b=c"`` -> (["a", "b"], YAML value of c)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r}: expected KEY=VALUE, e.g. optim.lr=3e-4")
    key, raw = text.split("=", 1)
    path = [p for p in key.strip().split(".") if p]
    if not path:
        raise ConfigError(f"override {text!r}: empty key")
    return path, yaml.safe_load(raw) if raw.strip() else ""


def apply_overrides(data: dict, overrides: Sequence[str]) -> dict:
    """A copy of the nested ``data`` with each ``a.b=c`` set."""
    import copy

    out = copy.deepcopy(data)
    for text in overrides:
        path, value = parse_override(text)
        node = out
        for p in path[:-1]:
            child = node.get(p)
            if child is None:
                child = node[p] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"override {text!r}: {p} is not a section")
            node = child
        node[path[-1]] = value
    return out


def load_config(path: str | Path | None, schema: type[T], overrides: Sequence[str] = ()) -> T:
    """The config in YAML file ``path`` (None: the schema's defaults), with ``overrides``."""
    data: dict = {}
    name = "defaults"
    if path is not None:
        path = Path(path)
        name = str(path)
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except OSError as e:
            raise ConfigError(f"config {path}: cannot read ({e.strerror or e})") from None
        except yaml.YAMLError as e:
            raise ConfigError(f"config {path}: not valid YAML ({e})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"config {path}: the top level must be a mapping of sections")
    return config_from_data(data, schema, overrides, name)


def config_from_data(data: dict, schema: type[T], overrides: Sequence[str] = (),
                     name: str = "defaults") -> T:
    """A config from its plain data (a YAML file's, or the one stored beside weights) with
    ``overrides``; errors name ``name`` and the key."""
    try:
        return _build(schema, apply_overrides(data, overrides), "")
    except ConfigError as e:
        raise ConfigError(f"config {name}: {e}") from None


def config_to_dict(cfg: Any) -> dict:
    """The resolved config as plain data (tuples as lists), ready for YAML or JSON."""
    def plain(v):
        if dataclasses.is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        return v
    return plain(cfg)


def dump_config(cfg: Any, path: str | Path) -> Path:
    """Write the resolved config as YAML (atomically: a temporary file, then a rename)."""
    import os

    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
    os.replace(tmp, path)
    return path
