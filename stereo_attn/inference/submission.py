"""Benchmark submissions: every test pair of a benchmark's own folder layout through the network,
written in exactly the files and folders that benchmark's upload expects.

- KITTI 2015 / 2012: ``disp_0/<id>_10.png``, 16-bit PNG of disparity x 256 (0 means "no value", so
  predictions are kept at >= 1/256), from ``testing/image_2|image_3`` (2015) or
  ``testing/colored_0|colored_1`` (2012).
- Middlebury 2014 (MiddEval3): ``<scene>/disp0<NAME>.pfm`` and ``<scene>/time<NAME>.txt`` (seconds),
  from a folder of test scenes such as ``MiddEval3/testH``; write them into that folder (or copy them
  there) for the benchmark's ``makezip``.
- ETH3D two-view: ``low_res_two_view/<scene>.pfm`` and ``<scene>.txt`` (``runtime <seconds>``), from
  ``two_view_test/<scene>/``.

Runtimes are each pair's forward pass (images already decoded), as the benchmarks ask.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from stereo_attn import options
from stereo_attn.data.io import write_kitti_disparity, write_pfm
from stereo_attn.data.readers.eth3d import ETH3D
from stereo_attn.data.readers.kitti import Kitti2012, Kitti2015
from stereo_attn.data.readers.middlebury import Middlebury2014
from stereo_attn.data.writers import write_text_atomic
from stereo_attn.inference.backends import load_predictor
from stereo_attn.inference.pairs import Pair, check_pairs, load_pair
from stereo_attn.staging import Staging

# Middlebury shows the name in its tables; its files are named after it, so letters and digits only.
METHOD_NAME = re.compile(r"[A-Za-z0-9]{1,32}")
KITTI_SCALE = 256.0


@dataclass(frozen=True)
class Item:
    """One test pair and the files its prediction goes to (paths relative to the output folder)."""

    pair: Pair
    name: str  # the image id or scene the benchmark knows it by
    disparity: str
    runtime: str | None  # the runtime file, for benchmarks that ask for one per pair


def kitti_items(dataset: Kitti2015 | Kitti2012) -> list[Item]:
    items = []
    for entry in dataset.entries:
        file_name = os.path.basename(entry["left"])  # <id>_10.png
        pair = Pair(Path(entry["left"]), Path(entry["right"]))
        items.append(Item(pair, file_name[: -len(".png")], f"disp_0/{file_name}", None))
    return items


def middlebury_items(dataset: Middlebury2014, method: str) -> list[Item]:
    return [
        Item(
            Pair(Path(e["left"]), Path(e["right"])),
            e["scene"],
            f"{e['scene']}/disp0{method}.pfm",
            f"{e['scene']}/time{method}.txt",
        )
        for e in dataset.entries
    ]


def eth3d_items(dataset: ETH3D) -> list[Item]:
    items = []
    for entry in dataset.entries:
        scene = os.path.basename(os.path.dirname(entry["left"]))
        folder = "low_res_two_view"
        pair = Pair(Path(entry["left"]), Path(entry["right"]))
        items.append(Item(pair, scene, f"{folder}/{scene}.pfm", f"{folder}/{scene}.txt"))
    return items


def write_kitti(path: Path, disparity: np.ndarray) -> None:
    # 0 is "no value" in KITTI's PNGs: a dense submission keeps every pixel at the smallest step or above.
    write_kitti_disparity(path, np.maximum(disparity, 1.0 / KITTI_SCALE))


def write_seconds(path: Path, seconds: float) -> None:
    write_text_atomic(path, f"{seconds:.4f}\n")


def write_eth3d_runtime(path: Path, seconds: float) -> None:
    write_text_atomic(path, f"runtime {seconds:.4f}\n")


@dataclass(frozen=True)
class Format:
    """How one benchmark's test pairs are found and its files written."""

    items: Callable[[str, str], list[Item]]  # (root, method name) -> items
    write_disparity: Callable[[Path, np.ndarray], None]
    write_runtime: Callable[[Path, float], None] | None


FORMATS: dict[str, Format] = {
    "kitti2015": Format(lambda root, _: kitti_items(Kitti2015(root, split="testing")), write_kitti, None),
    "kitti2012": Format(lambda root, _: kitti_items(Kitti2012(root, split="testing")), write_kitti, None),
    "middlebury": Format(
        lambda root, name: middlebury_items(Middlebury2014(root), name), write_pfm, write_seconds
    ),
    "eth3d": Format(lambda root, _: eth3d_items(ETH3D(root, split="test")), write_pfm, write_eth3d_runtime),
}


def write_submission(
    benchmark: str,
    root: str | os.PathLike,
    output_dir: str | os.PathLike,
    checkpoint: str | os.PathLike,
    method_name: str = "StereoAttn",
    max_disparity: int | None = None,
    device: str = "auto",
    progress: bool = True,
    overwrite: bool = False,
    backend: str = "torch",
    onnx: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Predict every test pair under ``root`` and write ``benchmark``'s submission files into
    ``output_dir``, all at once when every pair is done; returns a summary. ``backend``: see
    backends.load_predictor."""
    options.choice(benchmark, "format", list(FORMATS))
    if not isinstance(method_name, str) or not METHOD_NAME.fullmatch(method_name):
        raise options.OptionError(
            f"method_name={method_name}: expected 1-32 letters or digits (it names files)"
        )
    options.boolean(overwrite, "overwrite")
    spec = FORMATS[benchmark]
    items = spec.items(str(root), method_name)
    predictor = load_predictor(backend, checkpoint, onnx, max_disparity, device)
    sizes = check_pairs([item.pair for item in items])  # every image decodes, left and right match
    predictor.check_memory(sizes, 1)
    names = [name for item in items for name in (item.disparity, item.runtime) if name is not None]
    if items:  # one untimed pass first: the first forward also pays for kernel and allocator warm-up
        predictor.predict(*([image] for image in load_pair(items[0].pair)))
    seconds = []
    with Staging(output_dir, names, "output_dir", replace=overwrite) as folder:
        for item in tqdm(items, desc=f"{benchmark} test pairs", unit="pair", disable=not progress):
            left, right = load_pair(item.pair)
            start = time.perf_counter()
            disparity = predictor.predict([left], [right])[0][0]  # on the host: timing includes it
            seconds.append(time.perf_counter() - start)
            (folder / item.disparity).parent.mkdir(parents=True, exist_ok=True)
            spec.write_disparity(folder / item.disparity, disparity)
            if item.runtime is not None and spec.write_runtime is not None:
                spec.write_runtime(folder / item.runtime, seconds[-1])
    return {
        "output_dir": Path(output_dir),
        "pairs": len(items),
        "files": len(names),
        "max_disparity": predictor.max_disparity,
        "device": predictor.device,
        "seconds_per_pair": float(np.mean(seconds)),
    }
