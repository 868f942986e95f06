"""Reading the project's checkpoints: weights-only loading, the network's weights and config.

A training checkpoint is Lightning's dict: ``state_dict`` (the network's weights under ``network.``),
``hyper_parameters`` (plain containers: the model config under ``model``), optimizer and loop state.
Everything loads with ``torch.load(..., weights_only=True)``: no pickled code runs, and the stored
model config is checked against what the project builds (``model/spec.py``), never instantiated.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from stereo_attn.model.spec import ModelConfigError, build_network, weight_mismatch
from stereo_attn.options import OptionError

PREFIX = "network."


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable, or not one of this project's networks."""


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint dict, loaded on the CPU with weights_only=True; one-line errors naming the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # truncated files, other formats, pickled code
        reason = unreadable_reason(path, error)
        raise CheckpointError(f"{path}: not a readable weights-only checkpoint ({reason})") from None
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("state_dict"), dict):
        raise CheckpointError(f"{path}: expected a training checkpoint with a 'state_dict'")
    return checkpoint


def unreadable_reason(path: Path, error: Exception) -> str:
    """Why torch.load(weights_only=True) refused ``path``, in a few words.

    torch's own message is a paragraph about the weights_only default that starts the same whatever
    went wrong; what a user needs is which of three things happened.
    """
    text = str(error)
    code = re.search(r"Unsupported global: GLOBAL (\S+)", text)
    if code:
        return f"it holds Python objects besides weights: {code.group(1)}; no code in a file is run"
    if not zipfile.is_zipfile(path):
        with path.open("rb") as file:
            start = file.read(8)
        return f"not a whole torch.save zip archive: truncated, or another kind of file; it starts {start!r}"
    lines = text.strip().splitlines()
    return f"{type(error).__name__}: {lines[0][:200]}" if lines else type(error).__name__


def network_weights(checkpoint: dict[str, Any], path: str | Path = "checkpoint") -> dict[str, torch.Tensor]:
    """The network's parameters and buffers, without the LightningModule's prefix: dense real tensors
    on the CPU with finite values (a NaN weight would make every prediction NaN)."""
    weights = {
        key[len(PREFIX) :]: value
        for key, value in checkpoint["state_dict"].items()
        if isinstance(key, str) and key.startswith(PREFIX)
    }
    for key, value in weights.items():
        usable = (
            isinstance(value, torch.Tensor)
            and value.layout == torch.strided
            and value.device.type == "cpu"
            and not value.is_complex()
        )
        if not usable:
            raise CheckpointError(f"{path}: {PREFIX}{key} is not a dense real tensor on the CPU")
        if value.is_floating_point() and not torch.isfinite(value).all():
            raise CheckpointError(f"{path}: {PREFIX}{key} holds non-finite values (NaN or inf)")
    return weights


def load_network_weights(network: nn.Module, path: str | Path) -> None:
    """Copy a checkpoint's network weights into ``network``; a clear error when architectures differ."""
    fit_weights(network, network_weights(read_checkpoint(path), path), path)


def fit_weights(network: nn.Module, weights: dict[str, torch.Tensor], path: str | Path) -> None:
    """Load ``weights`` into ``network``; one line naming the first tensors that do not fit."""
    mismatch = weight_mismatch(network, weights)
    if mismatch:
        raise CheckpointError(f"{path}: weights do not fit this network's architecture: {mismatch}")
    network.load_state_dict(weights)


def network_from_checkpoint(path: str | Path, max_disparity: Any = None) -> nn.Module:
    """The network a checkpoint was trained as (its checked model config), with its weights, in eval mode.

    ``max_disparity`` (at least 4, at most the trained one) narrows the search range: the weights do
    not depend on it, only the number of disparity bins does.
    """
    checkpoint = read_checkpoint(path)
    hyper_parameters = checkpoint.get("hyper_parameters")
    config = hyper_parameters.get("model") if isinstance(hyper_parameters, dict) else None
    if not isinstance(config, dict):
        raise CheckpointError(f"{path}: no model config in its hyper_parameters")
    if max_disparity is not None:
        trained = config.get("max_disparity")
        if isinstance(trained, int) and not isinstance(max_disparity, bool) and max_disparity > trained:
            raise OptionError(f"max_disparity={max_disparity} exceeds the checkpoint's {trained} ({path})")
        config = {**config, "max_disparity": max_disparity}
    try:
        network = build_network(config, str(path), network_weights(checkpoint, path))
    except ModelConfigError as error:
        raise CheckpointError(str(error)) from None
    return network.eval()
