"""What a model config may say, checked before anything is built.

A model config comes from a YAML the user composed or from a checkpoint someone else wrote, so it is
data, never code: the one class it may name is StereoNetwork, and every key must be an argument of the
network or of its parts (features, aggregation, an attention block by its registry name) holding a
value of that argument's type. Nothing is instantiated by name. With weights at hand (a checkpoint),
the network is first built on the meta device and its shapes compared with the weights, so a config
that asks for a huge network is refused before any memory is allocated.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from stereo_attn.attention import ATTENTION_BLOCKS, GUIDED_BLOCKS
from stereo_attn.model.aggregation import PLACES, CostAggregation
from stereo_attn.model.features import FeatureExtractor
from stereo_attn.model.network import StereoNetwork
from stereo_attn.options import accepts, describe

NETWORK_TARGET = "stereo_attn.model.StereoNetwork"


class ModelConfigError(ValueError):
    """A model config names something the project does not build, or a value of the wrong type."""


def _arguments(function: Callable, skip: Sequence[str] = ()) -> dict[str, Any]:
    """A function's keyword arguments and their annotations (resolved from the string annotations)."""
    hints = typing.get_type_hints(function)
    names = [name for name in inspect.signature(function).parameters if name != "self"]
    return {name: hints.get(name, Any) for name in names if name not in skip}


def _check_options(
    options: Any, allowed: Mapping[str, Any], where: str, nested: Mapping[str, Callable] | None = None
) -> dict[str, Any]:
    """A checked copy of ``options``: known keys only, each value of its type (or checked by ``nested``)."""
    if not isinstance(options, Mapping):
        raise ModelConfigError(f"{where}: expected a mapping of options, got {type(options).__name__}")
    nested = nested or {}
    checked = {}
    for key, value in options.items():
        if key not in allowed:
            raise ModelConfigError(f"{where}: unknown option {key!r}; allowed: {', '.join(sorted(allowed))}")
        if key in nested:
            checked[key] = nested[key](value, f"{where}.{key}")
        elif accepts(value, allowed[key]):
            checked[key] = list(value) if isinstance(value, tuple) else value
        else:
            expected = describe(allowed[key])
            raise ModelConfigError(f"{where}.{key}: {value!r} is not allowed; expected {expected}")
    return checked


# A block's arguments the network fills in (the volume's and the image features' widths), not the config.
BUILT = ("channels", "guide_channels")


def check_attention(options: Any, where: str, partial: bool = False) -> dict[str, Any]:
    """An attention block's options: ``name`` (a registered block or none) and that block's arguments.
    ``partial`` (a per-place override) may leave the name out."""
    if not isinstance(options, Mapping):
        raise ModelConfigError(f"{where}: expected a mapping of options, got {type(options).__name__}")
    blocks = {**ATTENTION_BLOCKS, **GUIDED_BLOCKS}
    names = [*blocks, "none"]
    name = options.get("name")
    if name is None and partial:
        allowed = {k: v for block in blocks.values() for k, v in _arguments(block.__init__, BUILT).items()}
    elif name not in names:
        raise ModelConfigError(f"{where}.name: {name!r} is not an attention block; expected one of {names}")
    else:
        block = blocks.get(name)
        allowed = _arguments(block.__init__, skip=BUILT) if block else {}
    checked = _check_options({k: v for k, v in options.items() if k != "name"}, allowed, where)
    return {"name": name, **checked} if name is not None else checked


def _check_overrides(overrides: Any, where: str) -> dict[str, Any]:
    if overrides is None:
        return {}
    if not isinstance(overrides, Mapping) or any(place not in PLACES for place in overrides):
        raise ModelConfigError(f"{where}: expected a mapping from places {PLACES} to attention options")
    return {place: check_attention(v, f"{where}.{place}", partial=True) for place, v in overrides.items()}


def _check_places(places: Any, where: str) -> list[str]:
    if not isinstance(places, list | tuple) or any(place not in PLACES for place in places):
        raise ModelConfigError(f"{where}: {places!r} is not allowed; expected a list of {list(PLACES)}")
    return list(places)


def _nested(function: Callable, skip: Sequence[str] = ()) -> Callable[[Any, str], dict[str, Any] | None]:
    allowed = _arguments(function, skip)
    return lambda value, where: None if value is None else _check_options(value, allowed, where)


NESTED: dict[str, Callable[[Any, str], Any]] = {
    "features": _nested(FeatureExtractor.__init__),
    "aggregation": _nested(
        CostAggregation.__init__, skip=("in_channels", "attention", "places", "overrides", "guide_channels")
    ),
    "attention": lambda value, where: None if value is None else check_attention(value, where),
    "attention_places": _check_places,
    "attention_overrides": _check_overrides,
}


def check_network_config(config: Any, source: str) -> dict[str, Any]:
    """A checked plain copy of a model config (``_target_`` removed); ``source`` names where it came from
    (a checkpoint's path; empty for the training config's ``model``)."""
    if not isinstance(config, Mapping):
        raise ModelConfigError(f"{source}: expected a model config mapping, got {type(config).__name__}")
    options = dict(config)
    target = options.pop("_target_", NETWORK_TARGET)
    if target != NETWORK_TARGET:
        raise ModelConfigError(
            f"{source}: model _target_ {target!r} is not allowed; expected {NETWORK_TARGET}"
        )
    where = f"{source}: model" if source else "model"
    return _check_options(options, _arguments(StereoNetwork.__init__), where, NESTED)


def _construct(options: Mapping[str, Any], source: str) -> StereoNetwork:
    try:
        return StereoNetwork(**options)
    except (ValueError, TypeError, RuntimeError, ArithmeticError) as error:  # e.g. heads=0
        reason = " ".join(str(error).split()) or type(error).__name__
        raise ModelConfigError(
            f"{source}: cannot build the network from its model config ({reason})"
        ) from None


def weight_mismatch(network: torch.nn.Module, weights: Mapping[str, torch.Tensor]) -> str | None:
    """How ``weights`` differ from ``network``'s state (missing, unexpected, other shape), or None."""
    own = {key: tuple(value.shape) for key, value in network.state_dict().items()}
    given = {key: tuple(value.shape) for key, value in weights.items()}
    other = sorted(k for k in own.keys() & given.keys() if own[k] != given[k])
    problems = {
        "missing": sorted(own.keys() - given.keys()),
        "unexpected": sorted(given.keys() - own.keys()),
        "other shape": [f"{k}: {given[k]} there, {own[k]} here" for k in other],
    }
    if not any(problems.values()):
        return None
    return "; ".join(f"{kind} {len(keys)} (e.g. {keys[0]})" for kind, keys in problems.items() if keys)


def build_network(
    config: Any, source: str, weights: Mapping[str, torch.Tensor] | None = None
) -> StereoNetwork:
    """The network a checked model config describes, with ``weights`` loaded if given (shapes are
    compared on the meta device first, so nothing large is allocated for a config that does not fit)."""
    options = check_network_config(config, source)
    if weights is None:
        return _construct(options, source)
    if any(not isinstance(value, torch.Tensor) for value in weights.values()):
        raise ModelConfigError(f"{source}: its state_dict holds values that are not tensors")
    with torch.device("meta"):
        skeleton = _construct(options, source)
    mismatch = weight_mismatch(skeleton, weights)
    if mismatch:
        raise ModelConfigError(f"{source}: weights do not fit its model config's architecture: {mismatch}")
    network = _construct(options, source)
    network.load_state_dict(weights)
    return network
