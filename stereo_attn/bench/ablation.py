"""The attention ablation: every variant trained with every seed at equal steps and data, then scored.

Each run (variant, seed) lives in ``<folder>/<variant>/seed<k>/``: ``train/`` (the training's run
folder, its checkpoints), ``train.log``, ``trained.json`` once training has finished (with the model
config it trained), and ``eval/<name>.json`` per evaluation. A stage whose file exists is not redone,
and a training stopped midway continues from its ``last.ckpt``, so the ablation can run over several
sessions; ``trained.json`` and ``eval/`` are all a finished run needs to be summarized and timed, so
they can be kept (committed) without the checkpoints. Training and evaluation run as the scripts do
(fresh processes, the same overrides a user would type); the timings of all variants are measured
again at the end of every invocation, in one pass, so their ratios come from one period of one machine.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from stereo_attn.bench.measure import run_isolated
from stereo_attn.checkpoint import read_checkpoint
from stereo_attn.data.writers import markdown_table, write_json_atomic
from stereo_attn.training.precision import resolve_precision

# What each run is scored on, (evaluation, summary key), in table order.
METRICS = ("epe", "bad2")


class StageFailed(ValueError):
    """A training or evaluation of the ablation exited with an error (its log says why)."""


def run_folder(folder: Path, variant: str, seed: int) -> Path:
    return folder / variant / f"seed{seed}"


def last_checkpoint(run: Path) -> Path:
    return run / "train" / "checkpoints" / "last.ckpt"


def _script(name: str) -> str:
    return str(Path(__file__).resolve().parents[2] / "scripts" / name)


def _call(command: list[str], log: Path, what: str) -> None:
    """Run ``command`` with its output appended to ``log``; a failure is one error with the log's last
    line (the script's own one-line error, usually) and the log's path."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as stream:
        stream.write(f"$ {' '.join(command)}\n")
        stream.flush()
        done = subprocess.run(command, stdout=stream, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        last = log.read_text(errors="replace").strip().splitlines()[-1][:300]
        raise StageFailed(f"{what} failed with exit code {done.returncode} ({last}); see {log}")


def train(run: Path, overrides: Sequence[str], seed: int) -> None:
    """Train one run unless ``trained.json`` says it is done; resume from ``last.ckpt`` if one exists."""
    marker = run / "trained.json"
    if marker.exists():
        return
    command = [
        sys.executable,
        _script("train.py"),
        *overrides,
        f"seed={seed}",
        f"hydra.run.dir={run / 'train'}",
    ]
    checkpoint = last_checkpoint(run)
    resumed = checkpoint.exists()
    if resumed:
        command.append(f"ckpt_path={checkpoint}")
    start = time.perf_counter()
    _call(command, run / "train.log", f"training {run}")
    trained = read_checkpoint(checkpoint)
    record = {"steps": trained.get("global_step"), "seconds": time.perf_counter() - start, "resumed": resumed}
    write_json_atomic(marker, {**record, "model": trained["hyper_parameters"]["model"]})


def evaluate(run: Path, name: str, overrides: Sequence[str]) -> dict[str, Any]:
    """The model's summary on one evaluation (``eval/<name>.json``, scored once)."""
    output = run / "eval" / f"{name}.json"
    if not output.exists():
        command = [
            sys.executable,
            _script("evaluate.py"),
            f"checkpoint={last_checkpoint(run)}",
            f"output={output}",
            "overwrite=true",
            *overrides,
        ]
        _call(command, run / "eval.log", f"evaluating {run} on {name}")
    return json.loads(output.read_text())["model"]


def timing(run: Path, settings: Mapping[str, Any]) -> dict[str, Any]:
    """Inference seconds at ``inference_size`` and training seconds per step on ``train_crop`` batches
    (in the precision the CPU trainer picks: bf16 autocast where the CPU has bf16 units) of the network
    a run trained, each in a fresh process. The network is built from its config (``trained.json``):
    the time does not depend on the weights."""
    height, width = settings["inference_size"]
    repeats = settings["repeats"]
    model = json.loads((run / "trained.json").read_text())["model"]
    inference = run_isolated(
        "stereo_attn.bench.model",
        {"model": model, "height": height, "width": width, "repeats": repeats, "warmup": 1},
        settings["timeout_s"],
    )
    training = run_isolated(
        "stereo_attn.bench.training",
        {
            "model": model,
            "device": "cpu",
            "precision": resolve_precision("auto", "cpu"),
            "batch_size": settings["batch_size"],
            "crop": list(settings["train_crop"]),
            "steps": repeats + 2,
            "warmup": 2,
        },
        settings["timeout_s"],
    )
    for result, what in ((inference, "inference"), (training, "training")):
        if "error" in result:
            raise StageFailed(f"timing the {what} of {run}: {result['error']}")
    return {
        "inference_seconds": inference["seconds"],
        "attention_share": inference["attention_share"],
        "train_seconds_per_step": training["seconds_per_step"],
    }


def run_variants(
    folder: Path,
    variants: Mapping[str, Sequence[str]],
    seeds: Sequence[int],
    train_overrides: Sequence[str],
    evaluations: Mapping[str, Sequence[str]],
    progress: Any = print,
) -> None:
    """Train and evaluate every (variant, seed) whose files are not there yet."""
    runs = [(variant, seed) for variant in variants for seed in seeds]
    for index, (variant, seed) in enumerate(runs, 1):
        run = run_folder(folder, variant, seed)
        progress(f"[{index}/{len(runs)}] {variant} seed {seed}: training and evaluating in {run}")
        train(run, [*train_overrides, *variants[variant]], seed)
        scores = {name: _kept(evaluate(run, name, overrides)) for name, overrides in evaluations.items()}
        progress(f"[{index}/{len(runs)}] {variant} seed {seed}: {_scores_line(scores)}")


def collect(
    folder: Path,
    variants: Iterable[str],
    seeds: Sequence[int],
    evaluations: Sequence[str],
    timing_settings: Mapping[str, Any] | None,
    progress: Any = print,
) -> dict[str, Any]:
    """The records of every finished run (all evaluations scored) and, unless ``timing_settings`` is
    None, the timings of every variant with a finished run, measured now one after another."""
    records, timings = [], {}
    for variant in variants:
        done = [
            seed
            for seed in seeds
            if all((run_folder(folder, variant, seed) / "eval" / f"{n}.json").exists() for n in evaluations)
        ]
        for seed in done:
            run = run_folder(folder, variant, seed)
            scores = {
                n: _kept(json.loads((run / "eval" / f"{n}.json").read_text())["model"]) for n in evaluations
            }
            records.append({"variant": variant, "seed": seed, **scores})
        if done and timing_settings is not None:
            progress(f"timing {variant}")
            timings[variant] = timing(run_folder(folder, variant, done[0]), timing_settings)
    return {"runs": records, "timing": timings, "seeds": list(seeds), "evaluations": list(evaluations)}


def _kept(summary: Mapping[str, Any]) -> dict[str, float]:
    return {key: float(summary[key]) for key in METRICS}


def _scores_line(scores: Mapping[str, Mapping[str, float]]) -> str:
    return ", ".join(f"{name} EPE {s['epe']:.3f} bad-2 {s['bad2']:.1f}%" for name, s in scores.items())


def spread(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    mean = statistics.fmean(values)
    return mean, statistics.stdev(values) if len(values) > 1 else 0.0


def summarize(results: Mapping[str, Any], reference: str = "none") -> list[dict[str, Any]]:
    """Per variant: mean and spread of every (evaluation, metric) over its seeds, its timings, and the
    change of each mean against ``reference`` in percent (negative: fewer errors)."""
    by_variant: dict[str, list[dict]] = {}
    for record in results["runs"]:
        by_variant.setdefault(record["variant"], []).append(record)
    rows = []
    for variant, records in by_variant.items():
        row: dict[str, Any] = {
            "variant": variant,
            "seeds": len(records),
            **results["timing"].get(variant, {}),
        }
        for name in results["evaluations"]:
            for metric in METRICS:
                row[f"{name}/{metric}"] = spread([r[name][metric] for r in records])
        rows.append(row)
    base = next((row for row in rows if row["variant"] == reference), None)
    for row in rows:
        if base is None:
            continue
        for name in results["evaluations"]:
            for metric in METRICS:
                key = f"{name}/{metric}"
                row[f"{key}/change"] = 100 * (row[key][0] / base[key][0] - 1)
        if "inference_seconds" in base and "inference_seconds" in row:
            row["inference_ratio"] = row["inference_seconds"] / base["inference_seconds"]
    return rows


def table(rows: Sequence[Mapping[str, Any]], evaluations: Sequence[str]) -> str:
    """Markdown: mean ± spread per metric with the change against the reference, then the timings."""
    headers = ["variant", "seeds"]
    headers += [f"{name} {label}" for name in evaluations for label in ("EPE", "bad-2 (%)")]
    # The block's share of inference is timed inside the same calls, so it is steadier than "x none",
    # a ratio of two processes' medians on a shared machine.
    headers += ["train s/step", "inference s", "x none", "attention share (%)"]
    body = []
    for row in rows:
        cells = [row["variant"], row["seeds"]]
        for name in evaluations:
            for metric in METRICS:
                mean, std = row[f"{name}/{metric}"]
                change = row.get(f"{name}/{metric}/change")
                shown = f"{mean:.3f} ± {std:.3f}" if metric == "epe" else f"{mean:.1f} ± {std:.1f}"
                cells.append(
                    shown if change is None or row["variant"] == "none" else f"{shown} ({change:+.0f}%)"
                )
        cells.append(f"{row['train_seconds_per_step']:.3f}" if "train_seconds_per_step" in row else "")
        cells.append(f"{row['inference_seconds']:.2f}" if "inference_seconds" in row else "")
        cells.append(f"{row['inference_ratio']:.2f}" if "inference_ratio" in row else "")
        cells.append(f"{100 * row['attention_share']:.0f}" if "attention_share" in row else "")
        body.append(cells)
    return markdown_table(headers, body)
