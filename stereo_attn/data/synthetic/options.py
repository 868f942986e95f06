"""What the generators' option classes share: checked fields, and construction from a config mapping."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import fields
from typing import Any, TypeVar

T = TypeVar("T", bound="GeneratorOptions")
PREFIX = "data.synthetic.generator"


class GeneratorOptions:
    """A frozen dataclass's base: numeric fields checked, then the image size, disparities and objects
    every generator has (``height``, ``width``, ``min_disparity``, ``max_disparity``, ``min_objects``,
    ``max_objects``)."""

    height: int
    width: int
    min_disparity: float
    max_disparity: float
    min_objects: int
    max_objects: int

    def __post_init__(self) -> None:
        for field in fields(self):  # type: ignore[arg-type]
            if field.type not in ("int", "float"):
                continue
            value = getattr(self, field.name)
            is_int = isinstance(value, int) and not isinstance(value, bool)
            numeric = is_int or (field.type == "float" and isinstance(value, float) and math.isfinite(value))
            if not numeric:
                kind = "an integer" if field.type == "int" else "a finite number"
                raise ValueError(f"{PREFIX}.{field.name}={value}: expected {kind}")
        if self.height < 8 or self.width < 8:
            raise ValueError(f"image size must be at least 8x8, got {self.width}x{self.height}")
        if not 0 < self.min_disparity < self.max_disparity:
            raise ValueError(
                f"need 0 < min_disparity < max_disparity, got {self.min_disparity} and {self.max_disparity}"
            )
        if not 0 <= self.min_objects <= self.max_objects:
            raise ValueError(
                f"need 0 <= min_objects <= max_objects, got {self.min_objects}, {self.max_objects}"
            )

    @classmethod
    def from_options(cls: type[T], options: Any) -> T:
        """From a config mapping (``data.synthetic.generator``); unknown keys are a one-line error."""
        if isinstance(options, cls):
            return options
        if options is not None and not isinstance(options, Mapping):
            raise ValueError(f"{PREFIX}={options}: expected a mapping of generator options")
        options = dict(options or {})
        names = [field.name for field in fields(cls)]  # type: ignore[arg-type]
        unknown = sorted(set(options) - set(names))
        if unknown:
            raise ValueError(f"{PREFIX}.{unknown[0]}: unknown option; expected one of {', '.join(names)}")
        return cls(**options)
