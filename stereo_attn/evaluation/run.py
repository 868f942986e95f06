"""Evaluating a checkpoint on a benchmark under its protocol, as scripts/evaluate.py runs it.

Writes the summaries ({"model": ..., "baseline": ...}) as JSON and one row per image as CSV beside it,
both only when every image is scored; prints the table; optionally logs to W&B (offline by default).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from stereo_attn import options
from stereo_attn.checkpoint import network_from_checkpoint
from stereo_attn.data.datasets import build_mixture
from stereo_attn.data.readers.base import DatasetLayoutError
from stereo_attn.data.writers import write_json_atomic, write_text_atomic
from stereo_attn.evaluation.evaluate import evaluate, network_predictor, summary_table
from stereo_attn.evaluation.protocols import PROTOCOLS
from stereo_attn.evaluation.sgbm import sgbm_predictor
from stereo_attn.inference.predict import resolve_device
from stereo_attn.staging import Staging, reserve_folder, timestamp
from stereo_attn.viz import prediction_row

ERROR_RANGE = 5.0  # pixels at the top of the error colour map


def evaluation_specs(cfg: DictConfig) -> list[dict]:
    specs = OmegaConf.to_container(cfg.data.test, resolve=True)
    if cfg.data.name in ("synthetic", "world") and cfg.data.root is not None:  # from make_synthetic.py
        specs = [{"name": "sceneflow", "root": cfg.data.root, "split": "TEST"}]
    if cfg.limit is not None:
        specs = [{**spec, "limit": int(cfg.limit)} for spec in specs]
    return specs


def error_picture(sample: dict, predict: Callable, max_disparity: float) -> np.ndarray:
    prediction = predict(sample["left"], sample["right"])
    args = (sample["left"], sample["disparity"], sample["valid"], prediction, max_disparity, ERROR_RANGE)
    return prediction_row(*args)


def log_to_wandb(cfg: DictConfig, summaries: dict, pictures: list, names: list[str], folder: Path) -> None:
    """The summaries and the worst images (left | ground truth | prediction | error) as one W&B run,
    offline unless wandb_online=true."""
    import wandb  # here: importing it costs seconds, and most evaluations do not log

    mode = "online" if cfg.wandb_online else "offline"
    config = OmegaConf.to_container(cfg, resolve=True)
    run = wandb.init(project="stereo_attn", job_type="evaluate", dir=str(folder), mode=mode, config=config)
    run.log(
        {
            **{
                f"{method}/{k}": v
                for method, s in summaries.items()
                for k, v in s.items()
                if isinstance(v, float)
            },
            "worst": [
                wandb.Image(p, caption=f"{n}: left | ground truth | prediction | error")
                for p, n in zip(pictures, names, strict=True)
            ],
        }
    )
    run.finish()


def output_path(cfg: DictConfig) -> tuple[Path, bool]:
    """Where the summary JSON goes (the CSV goes next to it), and whether the folder is this run's own."""
    given = options.path(cfg.output, "output", optional=True)
    if given is None:
        name = f"{timestamp()}_{cfg.data.name}"
        return reserve_folder(Path("outputs", "evaluate"), name, "output") / "evaluation.json", True
    if given.is_dir():
        raise options.OptionError(f"output={given}: is a folder; expected the path of a .json file")
    if given.suffix.lower() != ".json":
        raise options.OptionError(f"output={given}: expected the path of a .json file")
    return given, False


def run(cfg: DictConfig) -> None:
    """scripts/evaluate.py's job from its config (conf/evaluate.yaml): score, write, print, log."""
    checkpoint = options.path(cfg.checkpoint, "checkpoint")
    device = resolve_device(cfg.device)
    protocol = PROTOCOLS[options.choice(cfg.data.name, "data.name", list(PROTOCOLS))]
    baseline = options.choice(cfg.baseline, "baseline", [None, "sgbm"])
    options.integer(cfg.limit, "limit", minimum=1, optional=True)
    use_wandb, overwrite = options.boolean(cfg.wandb, "wandb"), options.boolean(cfg.overwrite, "overwrite")
    options.boolean(cfg.wandb_online, "wandb_online")
    worst_images = options.integer(cfg.worst_images, "worst_images", minimum=0)
    network = network_from_checkpoint(checkpoint).to(device)
    max_disparity = float(network.max_disparity)
    dataset = build_mixture(evaluation_specs(cfg), root=cfg.data.root, synthetic=cfg.data.get("synthetic"))
    if len(dataset) == 0:
        raise DatasetLayoutError(f"{cfg.data.root}: no test pairs found for data={cfg.data.name}")
    output, owned = output_path(cfg)
    csv_path = output.with_suffix(".csv")
    staging = Staging(output.parent, [output.name, csv_path.name], "output", replace=overwrite, owned=owned)

    methods = {"model": network_predictor(network, device)}
    if baseline == "sgbm":
        methods["baseline"] = sgbm_predictor(max_disparity)
    with staging as folder:
        rows, summaries = evaluate(
            (dataset[i] for i in range(len(dataset))), methods, protocol, max_disparity, len(dataset)
        )
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        write_text_atomic(folder / csv_path.name, buffer.getvalue())
        for summary in summaries.values():
            summary.update(data=cfg.data.name, max_disparity=max_disparity)
        summaries["model"]["checkpoint"] = str(checkpoint)
        write_json_atomic(folder / output.name, summaries)
    print(summary_table({{"baseline": "StereoSGBM"}.get(k, k): v for k, v in summaries.items()}))
    print(f"wrote {output} and {csv_path}")
    if use_wandb:
        worst = sorted(range(len(rows)), key=lambda i: -rows[i]["model_epe"])[:worst_images]
        pictures = [error_picture(dataset[i], methods["model"], max_disparity) for i in worst]
        log_to_wandb(cfg, summaries, pictures, [rows[i]["name"] for i in worst], output.parent)
