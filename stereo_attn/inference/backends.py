"""The network behind every inference job (image pairs, video, submissions): a torch checkpoint or an
ONNX graph from scripts/export.py, both seen through one small interface."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from stereo_attn import options
from stereo_attn.checkpoint import network_from_checkpoint
from stereo_attn.deploy.onnx_backend import OnnxNetwork
from stereo_attn.inference.predict import check_memory, predict, resolve_device

BACKENDS = ("torch", "onnxruntime")


class Predictor(Protocol):
    max_disparity: int
    device: str  # as the jobs' summaries report it

    def check_memory(self, sizes: Sequence[tuple[int, int]], batch_size: int) -> None: ...

    def predict(
        self, lefts: Sequence[np.ndarray], rights: Sequence[np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]: ...


class TorchPredictor:
    """A checkpoint's network on a torch device."""

    def __init__(self, checkpoint: str | Path, max_disparity: int | None, device: str) -> None:
        self.torch_device = resolve_device(device)
        self.network = network_from_checkpoint(checkpoint, max_disparity)
        self.max_disparity = self.network.max_disparity
        self.device = str(self.torch_device)
        self._moved = False

    def check_memory(self, sizes: Sequence[tuple[int, int]], batch_size: int) -> None:
        check_memory(self.network, sizes, batch_size, self.torch_device)

    def predict(
        self, lefts: Sequence[np.ndarray], rights: Sequence[np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        if not self._moved:  # only once every check has passed
            self.network.to(self.torch_device)
            self._moved = True
        return predict(self.network, lefts, rights, self.torch_device)


class OnnxPredictor:
    """An exported graph in ONNX Runtime on the CPU; its range was fixed at export."""

    device = "onnxruntime cpu"

    def __init__(self, onnx: str | Path | None, max_disparity: int | None) -> None:
        if onnx is None:
            raise options.OptionError("backend=onnxruntime needs onnx=M.onnx (written by scripts/export.py)")
        self.graph = OnnxNetwork(Path(onnx))
        self.max_disparity = self.graph.max_disparity
        if max_disparity is not None and max_disparity != self.max_disparity:
            raise options.OptionError(
                f"max_disparity={max_disparity}: {onnx} was exported with {self.max_disparity}; "
                "export again with max_disparity= to change it"
            )

    def check_memory(self, sizes: Sequence[tuple[int, int]], batch_size: int) -> None:
        """Nothing to check: the memory estimate models the torch path (its chunked attention), not
        ONNX Runtime's allocator, and the graph runs on the host."""

    def predict(
        self, lefts: Sequence[np.ndarray], rights: Sequence[np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        return self.graph.predict(lefts, rights)


def load_predictor(
    backend: str,
    checkpoint: str | Path,
    onnx: str | Path | None = None,
    max_disparity: int | None = None,
    device: str = "auto",
) -> Predictor:
    """``backend=torch`` runs ``checkpoint``; ``backend=onnxruntime`` runs the graph ``onnx``."""
    options.choice(backend, "backend", list(BACKENDS))
    max_disparity = options.integer(max_disparity, "max_disparity", minimum=4, optional=True)
    options.choice(device, "device", ("auto", "cpu", "cuda"))
    if backend == "onnxruntime":
        if device == "cuda":
            raise options.OptionError(f"device={device}: backend=onnxruntime runs on the CPU (device=cpu)")
        return OnnxPredictor(onnx, max_disparity)
    return TorchPredictor(checkpoint, max_disparity, device)
