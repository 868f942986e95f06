"""ONNX Runtime as the inference backend of scripts/infer.py (``backend=onnxruntime onnx=M.onnx``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from stereo_attn.deploy.onnx_export import ExportError, session_for


class OnnxNetwork:
    """An exported network: its range (from the graph's metadata) and batched prediction."""

    def __init__(self, path: Path) -> None:
        self.session = session_for(path)
        metadata = self.session.get_modelmeta().custom_metadata_map
        try:
            self.max_disparity = int(json.loads(metadata["max_disparity"]))
        except (KeyError, ValueError, TypeError):
            raise ExportError(
                f"{path}: not exported by scripts/export.py (no max_disparity in its metadata)"
            ) from None
        inputs = [node.name for node in self.session.get_inputs()]
        if inputs != ["left", "right"]:
            raise ExportError(
                f"{path}: inputs {inputs}, expected ['left', 'right'] (scripts/export.py's graph)"
            )
        # The export fixes the batch (a name instead of a number: any batch); larger batches are split.
        batch = self.session.get_inputs()[0].shape[0]
        self.graph_batch = batch if isinstance(batch, int) else None

    def predict(
        self, lefts: Sequence[np.ndarray], rights: Sequence[np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Images of one size, (H, W, 3) float in [0, 1] -> disparity and confidence, float32 (B, H, W)."""

        def batch(images: Sequence[np.ndarray]) -> np.ndarray:
            return np.ascontiguousarray(np.stack(images).transpose(0, 3, 1, 2), np.float32)

        step = self.graph_batch or len(lefts)
        outputs = [
            self.session.run(None, {"left": batch(lefts[i : i + step]), "right": batch(rights[i : i + step])})
            for i in range(0, len(lefts), step)
        ]
        disparity, confidence = (np.concatenate([output[k] for output in outputs]) for k in (0, 1))
        return disparity.astype(np.float32), confidence.astype(np.float32)
