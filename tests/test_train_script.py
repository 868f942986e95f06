"""scripts/train.py as users run it: the JSON contract, W&B offline, signals, DDP, sweeps, compile."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from stereo_attn.checkpoint import read_checkpoint
from stereo_attn.training.run import train

from helpers.datasets import write_middlebury2006_scene
from helpers.project import ROOT
from helpers.training import tiny_arguments, tiny_config
from helpers.wandb_runs import history, offline_wandb_environment


def run_script(
    *arguments: str, env: dict[str, str] | None = None, timeout: int = 240
) -> subprocess.CompletedProcess:
    command = [sys.executable, "scripts/train.py", *arguments]
    environment = {**os.environ, **(env or {})}
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=environment)


def test_last_stdout_line_is_the_json_report_with_the_sgbm_baseline(tmp_path: Path) -> None:
    done = run_script(*tiny_arguments(tmp_path, "baseline=sgbm"))
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert {"epe", "bad1", "bad2", "bad3", "d1", "sgbm_epe", "sgbm_bad3", "steps"} <= report.keys()
    assert report["steps"] == 2 and report["sgbm_epe"] > 0
    assert "StereoSGBM" in done.stdout and "checkpoints in" in done.stdout


def test_offline_wandb_run_holds_the_metrics_and_a_validation_image(tmp_path: Path, monkeypatch) -> None:
    for key, value in offline_wandb_environment(tmp_path / "wandb_home").items():
        monkeypatch.setenv(key, value)
    write_middlebury2006_scene(tmp_path / "real", size=(40, 64))
    real = f"real_validation={{root:'{tmp_path / 'real'}',scale:1.0}}"
    cfg = tiny_config(tmp_path, "logger=wandb", "trainer.max_steps=2", "trainer.val_check_interval=1", real)
    result = train(cfg)
    (run,) = (tmp_path / "wandb").glob("offline-run-*")
    run_id = run.name.rsplit("-", 1)[-1]
    expected = {"train/loss", "train/epe", "val/epe", "val/bad1", "val/bad3", "lr-AdamW", "val_real/epe"}
    rows = history(run / f"run-{run_id}.wandb", expected)  # the file `wandb sync` uploads
    assert expected <= {key for row in rows for key in row}
    assert [row["val/epe"] for row in rows if "val/epe" in row][-1] == pytest.approx(result["epe"])
    (pictures,) = [row for row in rows if "val/examples/filenames" in row][-1:]
    picture = run / "files" / pictures["val/examples/filenames"][0]
    assert picture.is_file() and pictures["val/examples/width"] == 4 * 96  # left | truth | prediction | error
    # The real pair: its own metrics and picture, next to the synthetic ones.
    assert [row["val_real/epe"] for row in rows if "val_real/epe" in row][-1] == pytest.approx(
        result["real_epe"]
    )
    (real_pictures,) = [row for row in rows if "val_real/examples/filenames" in row][-1:]
    assert real_pictures["val_real/examples/width"] == 4 * 64
    # The checkpoint remembers the run, so ckpt_path=... continues it.
    assert read_checkpoint(tmp_path / "checkpoints" / "last.ckpt")["wandb_run_id"] == run_id


def wait_for_steps(process: subprocess.Popen, log: Path, steps: int, timeout: float = 180) -> None:
    """Until the CSV log shows ``steps`` training steps (logged every step)."""
    deadline = time.monotonic() + timeout
    metrics = log / "csv" / "version_0" / "metrics.csv"
    while time.monotonic() < deadline:
        assert process.poll() is None, "training ended before it was interrupted"
        if metrics.exists():
            rows = list(csv.DictReader(io.StringIO(metrics.read_text())))
            if sum(1 for row in rows if row.get("train/loss")) >= steps:
                return
        time.sleep(0.2)
    raise TimeoutError("training did not reach the step to interrupt")


@pytest.mark.parametrize(("sent", "exit_code"), [(signal.SIGINT, 1), (signal.SIGTERM, 143)])
def test_a_signal_leaves_a_last_checkpoint_that_resumes(
    sent: signal.Signals, exit_code: int, tmp_path: Path
) -> None:
    arguments = tiny_arguments(
        tmp_path, "logger=csv", "trainer.max_steps=400", "+logger.flush_logs_every_n_steps=1"
    )
    process = subprocess.Popen(
        [sys.executable, "scripts/train.py", *arguments],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_steps(process, tmp_path, steps=3)
        process.send_signal(sent)
        _, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == exit_code, stderr.decode()[-3000:]
    checkpoint = read_checkpoint(tmp_path / "checkpoints" / "last.ckpt")
    interrupted_at = checkpoint["global_step"]
    assert 3 <= interrupted_at < 400
    resumed = train(
        tiny_config(
            tmp_path, f"trainer.max_steps={interrupted_at + 2}", f"ckpt_path={tmp_path}/checkpoints/last.ckpt"
        )
    )
    assert resumed["steps"] == interrupted_at + 2


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_trains_and_writes_one_checkpoint(tmp_path: Path) -> None:
    done = run_script(
        *tiny_arguments(tmp_path, "trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2"),
        "trainer.max_steps=3",
        "trainer.val_check_interval=3",
        "trainer.sync_batchnorm=false",  # SyncBatchNorm needs GPUs
        timeout=400,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])  # printed once, by rank 0
    assert report["steps"] == 3 and done.stdout.count('"steps"') == 1
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
    assert read_checkpoint(tmp_path / "checkpoints" / "last.ckpt")["global_step"] == 3


@pytest.mark.slow
def test_multirun_sweeps_attention_blocks(tmp_path: Path) -> None:
    done = run_script(
        "-m",
        *[a for a in tiny_arguments(tmp_path) if not a.startswith("hydra.run.dir")],
        f"hydra.sweep.dir={tmp_path}",
        "model/attention=efficient,none",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    runs = sorted(
        p.name for p in tmp_path.iterdir() if p.is_dir() and (p / "checkpoints" / "last.ckpt").exists()
    )
    assert runs == ["0_small-efficient-synthetic", "1_small-none-synthetic"]


@pytest.mark.slow
def test_compile_keeps_checkpoint_keys(tmp_path: Path) -> None:
    train(tiny_config(tmp_path / "eager", "trainer.max_steps=1"))
    train(
        tiny_config(
            tmp_path / "compiled", "trainer.max_steps=1", "compile=true", "compile_options.backend=eager"
        )
    )
    eager, compiled = (
        read_checkpoint(tmp_path / n / "checkpoints" / "last.ckpt")["state_dict"]
        for n in ("eager", "compiled")
    )
    assert list(compiled) == list(eager)
    assert all(torch.isfinite(v).all() for v in compiled.values() if v.is_floating_point())
