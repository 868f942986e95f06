"""Running a trained checkpoint on image pairs: finding the pairs, checking them, predicting, writing.

Everything that can be wrong is checked before the first output is written: the options, the pairs
exist and match, the calibration has its fields, the checkpoint loads into its own architecture, every
image decodes with left and right of one size and at least ``MIN_IMAGE_SIDE`` pixels, the memory a
forward pass needs is there, and no output would replace an earlier one. Outputs are written into a
staging folder and moved into place only when every pair is done. Errors are ``ValueError``
subclasses or ``FileNotFoundError`` with one-line messages naming the file or option.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig
from tqdm import tqdm

from stereo_attn import options
from stereo_attn.checkpoint import network_from_checkpoint
from stereo_attn.deploy.onnx_backend import OnnxNetwork
from stereo_attn.inference.calibration import Calibration, calibration_from_options
from stereo_attn.inference.outputs import output_names, write_outputs
from stereo_attn.inference.pairs import InputError, Pair, check_pairs, find_pairs, load_pair, output_stems
from stereo_attn.inference.predict import batches, check_memory, predict, resolve_device
from stereo_attn.inference.submission import FORMATS, write_submission
from stereo_attn.inference.video import LAYOUTS, infer_video, is_video
from stereo_attn.staging import Staging, reserve_folder, timestamp

DEFAULT_OUTPUT_PARENT = Path("outputs", "infer")
MAX_PLY_STRIDE = 2**16


def infer(
    pairs: Sequence[Pair],
    output_dir: str | Path | None,
    checkpoint: str | Path,
    max_disparity: int | None = None,
    batch_size: int = 1,
    device: str = "auto",
    calibration: Calibration | None = None,
    ply_stride: int = 1,
    progress: bool = True,
    overwrite: bool = False,
    backend: str = "torch",
    onnx: str | Path | None = None,
) -> dict[str, Any]:
    """Check everything, predict every pair, then move all outputs into ``output_dir`` at once
    (None: a new ``outputs/infer/<time>`` folder); returns a summary. Outputs that already exist are an
    error unless ``overwrite``. ``backend="onnxruntime"`` runs the graph ``onnx`` (scripts/export.py)
    instead of the checkpoint's network."""
    batch_size = options.integer(batch_size, "batch_size", minimum=1)
    ply_stride = options.integer(ply_stride, "ply_stride", minimum=1, maximum=MAX_PLY_STRIDE)
    max_disparity = options.integer(max_disparity, "max_disparity", minimum=4, optional=True)
    options.boolean(overwrite, "overwrite")
    options.choice(backend, "backend", list(BACKENDS))
    stems = output_stems(pairs)
    torch_device = resolve_device(device)
    if backend == "onnxruntime":
        network = onnx_network(onnx, max_disparity)
        run_batch = network.predict
    else:
        network = network_from_checkpoint(checkpoint, max_disparity)
        run_batch = lambda lefts, rights: predict(network, lefts, rights, torch_device)  # noqa: E731
    sizes = check_pairs(pairs)
    if backend == "torch":  # the estimate is the torch path's, chunked attention included
        check_memory(network, sizes, batch_size, torch_device)
    names = [name for stem in stems for name in output_names(stem, calibration is not None)]
    if output_dir is None:
        output_dir, owned = reserve_folder(DEFAULT_OUTPUT_PARENT, timestamp(), "output_dir"), True
    else:
        output_dir, owned = Path(output_dir), False
    inputs = {os.path.realpath(path) for pair in pairs for path in (pair.left, pair.right)}
    clash = next((name for name in names if os.path.realpath(output_dir / name) in inputs), None)
    if clash is not None:
        raise InputError(f"output_dir={output_dir}: its {clash} would replace an input image of this run")
    # With overwrite, an earlier run's depth and point cloud of a stem go too: never a mix of runs.
    every = [name for stem in stems for name in output_names(stem, with_depth=True)]
    stale = [name for name in every if name not in names]
    staging = Staging(output_dir, names, "output_dir", replace=overwrite, owned=owned, stale=stale)

    if backend == "torch":
        network.to(torch_device)
    with staging as folder, tqdm(total=len(pairs), desc="pairs", unit="pair", disable=not progress) as bar:
        for indices in batches(sizes, batch_size):
            images = [load_pair(pairs[index]) for index in indices]
            disparity, confidence = run_batch([left for left, _ in images], [right for _, right in images])
            for row, index in enumerate(indices):
                left = images[row][0]
                write_outputs(
                    folder,
                    stems[index],
                    left,
                    disparity[row],
                    confidence[row],
                    network.max_disparity,
                    calibration,
                    ply_stride,
                )
            bar.update(len(indices))
    return {
        "output_dir": output_dir,
        "pairs": len(pairs),
        "files": len(names),
        "max_disparity": network.max_disparity,
        "device": str(torch_device) if backend == "torch" else "onnxruntime cpu",
    }


BACKENDS = ("torch", "onnxruntime")


def onnx_network(onnx: str | Path | None, max_disparity: int | None) -> OnnxNetwork:
    """The exported graph for backend=onnxruntime; its range is fixed at export."""
    if onnx is None:
        raise options.OptionError("backend=onnxruntime needs onnx=M.onnx (written by scripts/export.py)")
    network = OnnxNetwork(Path(onnx))
    if max_disparity is not None and max_disparity != network.max_disparity:
        raise options.OptionError(
            f"max_disparity={max_disparity}: {onnx} was exported with {network.max_disparity}; "
            "export again with max_disparity= to change it"
        )
    return network


def run(cfg: DictConfig) -> dict[str, Any]:
    """scripts/infer.py's job from its config (conf/infer.yaml); the summary ``infer`` returns."""
    # Relative paths (globs too) are taken from the directory the script was started in.
    path = lambda key: None if cfg[key] is None else str(options.path(cfg[key], key))  # noqa: E731
    options.choice(cfg.layout, "layout", list(LAYOUTS))
    submission = cfg.format is not None or cfg.get("data") is not None
    video = is_video(cfg.left) or is_video(cfg.right) or cfg.layout == "sbs"
    if (submission or video) and cfg.backend != "torch":
        what = "a submission" if submission else "video"
        raise options.OptionError(
            f"backend={cfg.backend}: runs image pairs; {what} runs on torch (backend=torch)"
        )
    if submission:
        return run_submission(cfg)
    if video:
        return infer_video(
            path("left") or options.text(cfg.left, "left"),
            path("right"),
            options.path(cfg.output_dir, "output_dir", optional=True),
            options.path(cfg.checkpoint, "checkpoint"),
            layout=cfg.layout,
            max_disparity=cfg.max_disparity,
            batch_size=cfg.batch_size,
            device=cfg.device,
            pfm_frames=cfg.pfm_frames,
            progress=options.boolean(cfg.progress, "progress"),
            overwrite=cfg.overwrite,
        )
    pairs = find_pairs(path("left"), path("right"), path("list"))
    calibration = calibration_from_options(
        path("calib"),
        options.number(cfg.focal_length, "focal_length", positive=True, optional=True),
        options.number(cfg.baseline, "baseline", positive=True, optional=True),
    )
    return infer(
        pairs,
        output_dir=options.path(cfg.output_dir, "output_dir", optional=True),
        checkpoint=options.path(cfg.checkpoint, "checkpoint"),
        max_disparity=cfg.max_disparity,
        batch_size=cfg.batch_size,
        device=cfg.device,
        calibration=calibration,
        ply_stride=cfg.ply_stride,
        progress=options.boolean(cfg.progress, "progress"),
        overwrite=cfg.overwrite,
        backend=cfg.backend,
        onnx=options.path(cfg.onnx, "onnx", optional=True),
    )


def run_submission(cfg: DictConfig) -> dict[str, Any]:
    """``data=<benchmark> data.root=ROOT format=<benchmark>``: the benchmark's test pairs, written as its
    upload expects (see submission.py)."""
    benchmark = options.choice(cfg.format, "format", [None, *FORMATS])
    data = cfg.get("data")
    if data is None or benchmark is None:
        given = f"format={benchmark}" if data is None else f"data={data.name}"
        raise options.OptionError(
            f"{given}: a submission needs both data=<benchmark> data.root=... and format=<benchmark>"
        )
    if data.name != benchmark:
        raise options.OptionError(
            f"format={benchmark} with data={data.name}: a submission reads its own benchmark's test pairs"
        )
    for key in ("left", "right", "list"):
        if cfg[key] is not None:
            raise options.OptionError(
                f"{key}= and format={benchmark}: the pairs come from data.root's test folders"
            )
    if cfg.output_dir is None:
        raise options.OptionError(f"format={benchmark}: give output_dir= (the folder to upload from)")
    root = options.path(data.root, "data.root") if data.root is not None else None
    if root is None:
        raise options.OptionError("data.root is missing: give data.root=...")
    return write_submission(
        benchmark,
        root,
        options.path(cfg.output_dir, "output_dir"),
        options.path(cfg.checkpoint, "checkpoint"),
        method_name=cfg.method_name,
        max_disparity=cfg.max_disparity,
        device=cfg.device,
        progress=options.boolean(cfg.progress, "progress"),
        overwrite=cfg.overwrite,
    )
