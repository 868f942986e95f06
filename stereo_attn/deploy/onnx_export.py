"""The network to ONNX with dynamic height and width, checked against torch on export.

The attention blocks walk their voxels in chunks to bound inference memory; a chunk loop's count
depends on the volume's size, which a graph with dynamic height and width cannot hold. The export
therefore runs every block as one chunk (``whole_volume_attention``): the same arithmetic (the blocks'
tests check that chunking does not change the result), one fused computation per block. The exported
graph takes ``left``, ``right`` (B, 3, H, W) float RGB in [0, 1] and returns ``disparity`` and
``confidence`` (B, H, W); the range and the source checkpoint are stored in its metadata.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from stereo_attn.options import OptionError

# No chunk of any volume reaches this: every block's loop runs once.
WHOLE = 2**62
# Every image size is padded to a multiple of 16 inside the graph; export traces this example size.
EXAMPLE_SIZE = (96, 160)
MIN_SIDE, MAX_SIDE = 32, 8192
TOLERANCE = 0.01  # px: the largest disparity difference from torch accepted on export


class ExportError(ValueError):
    """The exporter is missing, or the exported graph does not match torch."""


@contextlib.contextmanager
def whole_volume_attention(network: nn.Module) -> Iterator[None]:
    """Every attention block processes its volume as one chunk while the block is active."""
    blocks = [module for module in network.modules() if hasattr(module, "chunk_voxels")]
    saved = [block.chunk_voxels for block in blocks]
    for block in blocks:
        block.chunk_voxels = WHOLE
    try:
        yield
    finally:
        for block, chunk in zip(blocks, saved, strict=True):
            block.chunk_voxels = chunk


class DisparityGraph(nn.Module):
    """The network with the two outputs inference uses, as a tuple (ONNX outputs are positional)."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, left: torch.Tensor, right: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        output = self.network(left, right)
        return output["disparity"], output["confidence"]


def check_exportable(network: nn.Module) -> None:
    """SOFT's direct landmark solve (torch.linalg.solve) has no ONNX operator; its Newton inverse does."""
    if any(getattr(module, "inverse", None) == "solve" for module in network.modules()):
        raise ExportError(
            "SOFT with inverse=solve: torch.linalg.solve has no ONNX operator; export with "
            "soft_inverse=newton (matmuls only; the check against torch bounds the difference)"
        )


def export_onnx(
    network: nn.Module,
    output: Path,
    metadata: dict[str, Any],
    sizes: Sequence[tuple[int, int]],
    reference: nn.Module | None = None,
) -> list[dict]:
    """Export the eval-mode network with dynamic height and width, run the graph in ONNX Runtime
    against torch (``reference``, by default the network itself) at each of ``sizes``, and only if
    every difference is within TOLERANCE move it to ``output``; returns the comparison rows."""
    check_exportable(network)
    try:
        import onnx  # noqa: F401  (torch.onnx's exporter needs onnx and onnxscript)
        import onnxscript  # noqa: F401
    except ImportError:
        raise ExportError("ONNX export needs onnx and onnxscript: pip install 'stereo_attn[onnx]'") from None
    graph = DisparityGraph(network).eval()
    example = tuple(torch.rand(1, 3, *EXAMPLE_SIZE) for _ in range(2))
    height = torch.export.Dim("height", min=MIN_SIDE, max=MAX_SIDE)
    width = torch.export.Dim("width", min=MIN_SIDE, max=MAX_SIDE)
    dynamic = {"left": {2: height, 3: width}, "right": {2: height, 3: width}}
    output.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".partial", dir=output.parent)
    os.close(handle)
    try:
        with torch.no_grad(), whole_volume_attention(network), quiet_exporter():
            try:
                program = torch.onnx.export(
                    graph, example, dynamo=True, dynamic_shapes=dynamic, verbose=False,
                    input_names=["left", "right"], output_names=["disparity", "confidence"],
                )  # fmt: skip
            except Exception as error:  # the exporter's report is pages long: its first line
                first = (
                    str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
                )
                raise ExportError(f"torch.onnx.export failed: {first}") from None
        program.model.metadata_props.update({key: json.dumps(value) for key, value in metadata.items()})
        program.save(temporary, external_data=False)
        rows = compare_with_torch(reference or network, session_for(Path(temporary)), sizes)
        worst = max(rows, key=lambda row: row["max_abs_difference"])
        if worst["max_abs_difference"] > TOLERANCE:
            size = f"{worst['width']}x{worst['height']}"
            raise ExportError(
                f"the exported graph differs from torch by {worst['max_abs_difference']:.4g} px at {size} "
                f"(at most {TOLERANCE} accepted); nothing written to {output}"
            )
        os.replace(temporary, output)
        return rows
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def session_for(path: Path) -> Any:
    """An ONNX Runtime CPU session for the graph at ``path``; one-line errors."""
    try:
        import onnxruntime
    except ImportError:
        raise ExportError("backend=onnxruntime needs onnxruntime: pip install 'stereo_attn[onnx]'") from None
    if not path.is_file():
        raise ExportError(f"{path}: no such ONNX file")
    try:
        return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as error:
        raise ExportError(
            f"{path}: not a loadable ONNX model ({' '.join(str(error).split())[:200]})"
        ) from None


@contextlib.contextmanager
def quiet_exporter() -> Iterator[None]:
    """The exporter's notes (axis names, optional torchvision ops, deprecations) off the console."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def check_sizes(value: Any) -> list[tuple[int, int]]:
    """``check_sizes``: a list of [height, width] pairs, each side in [32, 8192]."""
    sizes = list(value) if isinstance(value, Sequence) and not isinstance(value, str) else None
    expected = f"a list of [height, width] with sides in [{MIN_SIDE}, {MAX_SIDE}], e.g. [[384, 640]]"
    if not sizes:
        raise OptionError(f"check_sizes={value}: expected {expected}")
    result = []
    for size in sizes:
        pair = list(size) if isinstance(size, Sequence) and not isinstance(size, str) else []
        valid = len(pair) == 2 and all(isinstance(s, int) and not isinstance(s, bool) for s in pair)
        if not valid or not all(MIN_SIDE <= s <= MAX_SIDE for s in pair):
            raise OptionError(f"check_sizes={value}: {size} is not {expected}")
        result.append((pair[0], pair[1]))
    return result


def compare_with_torch(network: nn.Module, session: Any, sizes: Sequence[tuple[int, int]]) -> list[dict]:
    """The max absolute disparity difference between the ONNX graph and torch on random pairs."""
    generator = torch.Generator().manual_seed(0)
    rows = []
    for height, width in sizes:
        left, right = (torch.rand(1, 3, height, width, generator=generator) for _ in range(2))
        with torch.no_grad():
            expected = network(left, right)["disparity"].numpy()
        got = session.run(["disparity"], {"left": left.numpy(), "right": right.numpy()})[0]
        rows.append(
            {"height": height, "width": width, "max_abs_difference": float(np.abs(got - expected).max())}
        )
    return rows
