"""Build frozen settings dataclasses from YAML mappings, with errors a user can act on.

Every stage describes its settings as a frozen dataclass with defaults; this
module turns the matching YAML section into one, checking every key and value
and reporting all problems of a section at once, each with its key path, the
bad value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import os
import re
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, get_args, get_origin, get_type_hints

import yaml

from tierlib.errors import ConfigError

T = TypeVar("T")


def settings_from_mapping(cls: type[T], data: Mapping[str, Any] | None, path: str) -> T:
    """``cls(**data)`` after checking keys and value types; raise one ConfigError listing all problems."""
    problems: list[str] = []
    value = collect_settings(cls, data, path, problems)
    if problems:
        raise ConfigError("invalid config:\n  - " + "\n  - ".join(problems))
    return value


def collect_settings(cls: type[T], data: Mapping[str, Any] | None, path: str, problems: list[str]) -> T:
    """Like :func:`settings_from_mapping`, but appends problems to ``problems`` instead of raising."""
    return _convert(cls, {} if data is None else data, path, problems)


def _convert(annotation: Any, value: Any, path: str, problems: list[str]) -> Any:
    origin = get_origin(annotation)
    if dataclasses.is_dataclass(annotation) and isinstance(annotation, type):
        return _convert_dataclass(annotation, value, path, problems)
    if annotation is Any:
        return value
    if origin is Literal:
        allowed = get_args(annotation)
        if value not in allowed:
            problems.append(f"{path}: {value!r} is not allowed; use one of {', '.join(map(repr, allowed))}")
        return value
    if origin in (typing.Union, types.UnionType):
        options = get_args(annotation)
        if value is None and type(None) in options:
            return None
        real = [option for option in options if option is not type(None)]
        if len(real) == 1:
            return _convert(real[0], value, path, problems)
        for option in options:
            if option is type(None):
                continue
            trial: list[str] = []
            converted = _convert(option, value, path, trial)
            if not trial:
                return converted
        problems.append(f"{path}: {value!r} does not fit {_describe(annotation)}")
        return value
    if origin in (tuple, list):
        if not isinstance(value, list | tuple):
            problems.append(f"{path}: expected a list, got {value!r}")
            return value
        args = get_args(annotation)
        item_type = args[0] if args else Any
        items = [_convert(item_type, item, f"{path}[{index}]", problems) for index, item in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin in (dict, Mapping) or annotation is dict:
        if not isinstance(value, Mapping):
            problems.append(f"{path}: expected a mapping of key: value, got {value!r}")
            return value
        args = get_args(annotation)
        value_type = args[1] if len(args) == 2 else Any
        return {
            str(key): _convert(value_type, item, f"{path}.{key}", problems) for key, item in value.items()
        }
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            problems.append(f"{path}: expected a number, got {value!r}")
            return value
        return float(value)
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append(f"{path}: expected a whole number, got {value!r}")
        return value
    if annotation is bool:
        if not isinstance(value, bool):
            problems.append(f"{path}: expected true or false, got {value!r}")
        return value
    if annotation is str:
        if not isinstance(value, str):
            problems.append(f"{path}: expected text, got {value!r}")
        return value
    return value


def _convert_dataclass(cls: type, value: Any, path: str, problems: list[str]) -> Any:
    if isinstance(value, cls):
        return value
    if not isinstance(value, Mapping):
        problems.append(f"{path}: expected a mapping of settings, got {value!r}")
        return None
    hints = get_type_hints(cls)
    fields = {field.name: field for field in dataclasses.fields(cls) if field.init}
    unknown = sorted(set(map(str, value)) - set(fields))
    for key in unknown:
        problems.append(f"{path}.{key}: unknown key; allowed keys are {', '.join(sorted(fields))}")
    # Unknown keys are reported but do not stop the known ones from being checked further.
    problems_before = len(problems)
    kwargs = {}
    for name, field in fields.items():
        if name in value:
            kwargs[name] = _convert(hints[name], value[name], f"{path}.{name}", problems)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            problems.append(f"{path}.{name}: required key is missing")
    if len(problems) > problems_before:
        return None
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as error:
        problems.append(f"{path}: {error}")
        return None


def _describe(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_variables(value: Any, path: str) -> Any:
    """``value`` with ``${VAR}`` and ``${VAR:-default}`` read from the environment, at any depth."""
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in os.environ:
                return os.environ[name]
            if default is not None:
                return default
            raise ConfigError(
                f"{path}: environment variable {name} is not set; set it or write ${{{name}:-default}}"
            )

        expanded = _VARIABLE.sub(substitute, value)
        if expanded != value and _VARIABLE.fullmatch(value):
            # A value that is one variable takes the YAML type of what it expands to
            # (history_months: ${MONTHS:-24} is a number), but stays text otherwise.
            typed = yaml.safe_load(expanded) if expanded.strip() else None
            if isinstance(typed, bool | int | float):
                return typed
        return expanded
    if isinstance(value, Mapping):
        return {key: expand_variables(item, f"{path}.{key}") for key, item in value.items()}
    if isinstance(value, list):
        return [expand_variables(item, f"{path}[{index}]") for index, item in enumerate(value)]
    return value
