"""Checking a script's options before any work starts: type and range, one line naming the option.

Hydra passes command-line values through as YAML scalars, so ``batch_size=abc`` arrives as a string
and ``max_disparity=nan`` as a float; each check turns such a value into the type the code needs or
raises ``OptionError`` saying what was expected.
"""

from __future__ import annotations

import inspect
import math
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from hydra.utils import to_absolute_path

# Longest list any option may hold (feature widths, landmark grids, sizes to benchmark).
MAX_LIST_LENGTH = 64


class OptionError(ValueError):
    """An option's value has the wrong type or is out of range; the message names the option."""


def accepts(value: Any, annotation: Any) -> bool:
    """Whether a plain-container value fits a (simple) annotation: int, float, bool, str, None, Any,
    and unions, sequences and mappings of these. Integers are never negative; floats are finite."""
    origin, arguments = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(accepts(value, argument) for argument in arguments)
    if annotation is type(None):
        return value is None
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0
    if annotation is float:
        number = isinstance(value, int | float) and not isinstance(value, bool)
        return number and math.isfinite(value)
    if annotation is str:
        return isinstance(value, str)
    if origin in (Sequence, list, tuple):
        item = arguments[0] if arguments else Any
        return (
            isinstance(value, list | tuple)
            and len(value) <= MAX_LIST_LENGTH
            and all(accepts(v, item) for v in value)
        )
    if origin in (Mapping, dict):
        item = arguments[1] if len(arguments) == 2 else Any
        return isinstance(value, Mapping) and all(accepts(v, item) for v in value.values())
    return False


NAMES = {int: "an integer >= 0", float: "a finite number", bool: "true or false", str: "a string"}


def describe(annotation: Any) -> str:
    """What an annotation accepts, in words: ``int | None`` is "an integer >= 0 or null"."""
    origin, arguments = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe(argument) for argument in arguments)
    if annotation is type(None):
        return "null"
    if origin in (Sequence, list, tuple):
        return f"a list of ({describe(arguments[0])})" if arguments else "a list"
    if origin in (Mapping, dict):
        return "a mapping"
    return NAMES.get(annotation, str(annotation))


def check_arguments(settings: Mapping[str, Any], function: Callable, prefix: str = "") -> None:
    """Every setting that is an argument of ``function`` must fit that argument's annotation."""
    hints = typing.get_type_hints(function)
    for name in inspect.signature(function).parameters:
        if name in settings and name in hints and not accepts(settings[name], hints[name]):
            raise OptionError(f"{prefix}{name}={settings[name]}: expected {describe(hints[name])}")


def _shown(value: Any) -> str:
    return "null" if value is None else str(value)


def integer(
    value: Any, name: str, minimum: int | None = None, maximum: int | None = None, optional: bool = False
) -> int | None:
    """An int (not a bool, not a float) within [minimum, maximum]; None only if ``optional``."""
    if value is None and optional:
        return None
    bounds = " and ".join(
        text
        for text in (
            f">= {minimum}" if minimum is not None else "",
            f"<= {maximum}" if maximum is not None else "",
        )
        if text
    )
    expected = f"an integer{' ' + bounds if bounds else ''}{' or null' if optional else ''}"
    if not isinstance(value, int) or isinstance(value, bool):
        raise OptionError(f"{name}={_shown(value)}: expected {expected}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise OptionError(f"{name}={value}: expected {expected}")
    return value


def dimensions(
    value: Any, name: str, parts: Sequence[str], minimum: int = 1, optional: bool = False
) -> list[int] | None:
    """A list of one integer >= ``minimum`` per name in ``parts``, e.g. [height, width]; None only if
    ``optional``."""
    if value is None and optional:
        return None
    if not isinstance(value, list | tuple) or len(value) != len(parts):
        expected = f"[{', '.join(parts)}]{' or null' if optional else ''}"
        raise OptionError(f"{name}={_shown(value)}: expected {expected}")
    return [integer(side, f"{name} {part}", minimum=minimum) for side, part in zip(value, parts, strict=True)]


def number(
    value: Any, name: str, minimum: float | None = None, positive: bool = False, optional: bool = False
) -> float | None:
    """A finite int or float, > 0 if ``positive``, >= ``minimum`` if given; None only if ``optional``."""
    if value is None and optional:
        return None
    bound = "> 0" if positive else (f">= {minimum}" if minimum is not None else "")
    expected = f"a finite number{' ' + bound if bound else ''}{' or null' if optional else ''}"
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise OptionError(f"{name}={_shown(value)}: expected {expected}")
    if (positive and value <= 0) or (minimum is not None and value < minimum):
        raise OptionError(f"{name}={value}: expected {expected}")
    return float(value)


def boolean(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise OptionError(f"{name}={_shown(value)}: expected true or false")
    return value


def choice(value: Any, name: str, choices: Sequence[Any]) -> Any:
    """One of ``choices`` (None allowed only if it is one of them)."""
    if value not in choices or isinstance(value, bool) != any(isinstance(c, bool) for c in choices):
        raise OptionError(f"{name}={_shown(value)}: expected one of {', '.join(map(_shown, choices))}")
    return value


def text(value: Any, name: str, optional: bool = False) -> str | None:
    """A non-empty string (numbers are accepted as written: a file may be called 2024)."""
    if value is None and optional:
        return None
    if value is None:
        raise OptionError(f"{name} is missing: give {name}=...")
    if isinstance(value, bool) or not isinstance(value, str | int | float) or str(value) == "":
        raise OptionError(f"{name}={_shown(value)}: expected a non-empty path or name")
    return str(value)


def path(value: Any, name: str, optional: bool = False) -> Path | None:
    """A path option, relative paths taken from the directory the script was started in."""
    given = text(value, name, optional)
    return None if given is None else Path(to_absolute_path(given))
