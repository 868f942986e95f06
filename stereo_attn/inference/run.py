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
from stereo_attn.inference.backends import load_predictor
from stereo_attn.inference.calibration import Calibration, calibration_from_options
from stereo_attn.inference.outputs import output_names, write_outputs
from stereo_attn.inference.pairs import InputError, Pair, check_pairs, find_pairs, load_pair, output_stems
from stereo_attn.inference.predict import batches
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
    options.boolean(overwrite, "overwrite")
    stems = output_stems(pairs)
    predictor = load_predictor(backend, checkpoint, onnx, max_disparity, device)
    sizes = check_pairs(pairs)
    predictor.check_memory(sizes, batch_size)
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

    with staging as folder, tqdm(total=len(pairs), desc="pairs", unit="pair", disable=not progress) as bar:
        for indices in batches(sizes, batch_size):
            images = [load_pair(pairs[index]) for index in indices]
            lefts, rights = [left for left, _ in images], [right for _, right in images]
            disparity, confidence = predictor.predict(lefts, rights)
            for row, index in enumerate(indices):
                left = images[row][0]
                write_outputs(
                    folder,
                    stems[index],
                    left,
                    disparity[row],
                    confidence[row],
                    predictor.max_disparity,
                    calibration,
                    ply_stride,
                )
            bar.update(len(indices))
    return {
        "output_dir": output_dir,
        "pairs": len(pairs),
        "files": len(names),
        "max_disparity": predictor.max_disparity,
        "device": predictor.device,
    }


def run(cfg: DictConfig) -> dict[str, Any]:
    """scripts/infer.py's job from its config (conf/infer.yaml); the summary ``infer`` returns."""
    # Relative paths (globs too) are taken from the directory the script was started in.
    path = lambda key: None if cfg[key] is None else str(options.path(cfg[key], key))  # noqa: E731
    options.choice(cfg.layout, "layout", list(LAYOUTS))
    submission = cfg.format is not None or cfg.get("data") is not None
    video = is_video(cfg.left) or is_video(cfg.right) or cfg.layout == "sbs"
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
            backend=cfg.backend,
            onnx=options.path(cfg.onnx, "onnx", optional=True),
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
        backend=cfg.backend,
        onnx=options.path(cfg.onnx, "onnx", optional=True),
    )
