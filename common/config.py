"""Reading configuration from environment variables, once, failing fast."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TypeVar


class ConfigError(ValueError):
    """An environment variable holds a value keyart cannot use."""


def env_str(name: str, default: str, env: Mapping[str, str] | None = None) -> str:
    return (env if env is not None else os.environ).get(name, default)


Number = TypeVar("Number", int, float)


def _env_number(
    name: str,
    default: Number,
    parse: Callable[[str], Number],
    kind: str,
    minimum: Number | None,
    maximum: Number | None,
    env: Mapping[str, str] | None,
) -> Number:
    raw = env_str(name, str(default), env)
    try:
        value = parse(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not {kind}") from None
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name}={value} is below the minimum {minimum}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name}={value} is above the maximum {maximum}")
    return value


def env_int(
    name: str,
    default: int,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    env: Mapping[str, str] | None = None,
) -> int:
    return _env_number(name, default, int, "an integer", minimum, maximum, env)


def env_float(
    name: str,
    default: float,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    env: Mapping[str, str] | None = None,
) -> float:
    return _env_number(name, default, float, "a number", minimum, maximum, env)


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def env_bool(name: str, default: bool, env: Mapping[str, str] | None = None) -> bool:
    raw = env_str(name, "true" if default else "false", env).strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean (use true or false)")


def env_choice(
    name: str, default: str, choices: tuple[str, ...], env: Mapping[str, str] | None = None
) -> str:
    raw = env_str(name, default, env).strip().lower()
    if raw not in choices:
        raise ConfigError(f"{name}={raw!r} is not one of {', '.join(choices)}")
    return raw
