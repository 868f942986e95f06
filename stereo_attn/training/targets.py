"""Instantiating only what the project allows from a composed config.

Hydra's ``instantiate`` calls whatever a ``_target_`` names, nested ones included, so a config (a YAML,
an override, a copied run folder) could call ``pathlib.Path.write_text``. Every ``_target_`` in the
tree is checked first: it must be a class in one of the modules the training run is built from.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from typing import Any

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from lightning.fabric.utilities.exceptions import MisconfigurationException
from omegaconf import DictConfig, ListConfig, OmegaConf

# Module prefixes whose classes a config may name (a class exactly, not any function in them).
ALLOWED_MODULES = (
    "torch.optim",
    "lightning.pytorch.callbacks",
    "lightning.pytorch.loggers",
    "lightning.pytorch.strategies",
    "lightning.pytorch.plugins",
    "lightning.pytorch.profilers",
    "stereo_attn.data.datamodule",
    "stereo_attn.training.callbacks",
)
ALLOWED_CLASSES = ("lightning.Trainer", "lightning.pytorch.Trainer")


class ConfigTargetError(ValueError):
    """A config names a ``_target_`` the project does not build."""


def _allowed_module(module: str) -> bool:
    return any(module == allowed or module.startswith(allowed + ".") for allowed in ALLOWED_MODULES)


def check_target(target: Any, where: str) -> None:
    """Raise unless ``target`` is a dotted name of an allowed class."""
    if not isinstance(target, str) or "." not in target:
        raise ConfigTargetError(f"{where}._target_: {target!r} is not a dotted class name")
    module, _, name = target.rpartition(".")
    if target not in ALLOWED_CLASSES and not _allowed_module(module):
        allowed = ", ".join((*ALLOWED_CLASSES, *(m + ".*" for m in ALLOWED_MODULES)))
        raise ConfigTargetError(f"{where}._target_: {target} is not allowed; expected one of {allowed}")
    try:
        found = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        raise ConfigTargetError(f"{where}._target_: {target} does not exist") from None
    if not inspect.isclass(found):
        raise ConfigTargetError(f"{where}._target_: {target} is not a class")


def check_targets(config: Any, where: str) -> None:
    """Check every ``_target_`` in a (nested) config."""
    if isinstance(config, DictConfig | ListConfig):
        config = OmegaConf.to_container(config, resolve=True)
    if isinstance(config, Mapping):
        if "_target_" in config:
            check_target(config["_target_"], where)
        for key, value in config.items():
            check_targets(value, f"{where}.{key}")
    elif isinstance(config, list | tuple):
        for index, value in enumerate(config):
            check_targets(value, f"{where}[{index}]")


def instantiate_checked(config: Any, where: str, **kwargs: Any) -> Any:
    """``hydra.utils.instantiate`` after every ``_target_`` in ``config`` passed ``check_target``.

    A class that refuses its options (a ValueError, an unknown keyword, Lightning's misconfiguration)
    becomes one ``ConfigTargetError`` line naming the config entry, instead of Hydra's wrapped report.
    """
    check_targets(config, where)
    try:
        return instantiate(config, **kwargs)
    except InstantiationException as error:
        cause = error.__cause__
        if not isinstance(cause, ValueError | TypeError | MisconfigurationException):
            raise
        raise ConfigTargetError(f"{where}: {' '.join(str(cause).split())}") from None
