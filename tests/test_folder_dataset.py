"""data=folder: your own pairs in left/, right/, disparity/ (PFM, KITTI PNG, NPY) with an optional mask/,
matched by name; training, fine-tuning and evaluation configs; one-line layout errors."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from stereo_attn.checkpoint import network_from_checkpoint, network_weights, read_checkpoint
from stereo_attn.data.io import read_kitti_disparity
from stereo_attn.data.readers.base import DatasetLayoutError
from stereo_attn.data.readers.folder import StereoFolder
from stereo_attn.training.run import build_module, train

from helpers.datasets import make_folder, put_image
from helpers.project import ROOT, SHIPPED_CHECKPOINT, compose_config


def test_each_disparity_format_reads_with_its_validity_and_the_mask_applies(tmp_path: Path) -> None:
    written = make_folder(tmp_path)
    dataset = StereoFolder(tmp_path)
    assert [s["meta"]["name"] for s in dataset] == ["a_png", "b_npy", "c_pfm"]  # sorted by name
    png, npy, pfm = dataset[0], dataset[1], dataset[2]
    # KITTI PNG: value / 256, valid where stored > 0 (read independently here).
    expected, valid = read_kitti_disparity(tmp_path / "disparity" / "a_png.png")
    np.testing.assert_array_equal(png["disparity"], expected)
    np.testing.assert_array_equal(png["valid"], valid)
    np.testing.assert_allclose(png["left"], written["a_png"][0], atol=1e-6)
    # NPY: valid where finite and > 0.
    raw = written["b_npy"][2]
    np.testing.assert_array_equal(npy["valid"], np.isfinite(raw) & (raw > 0))
    np.testing.assert_array_equal(npy["disparity"][npy["valid"]], raw[npy["valid"]])
    # PFM, read back by OpenCV's own reader, and the mask keeps its non-zero pixels only.
    reference = cv2.imread(str(tmp_path / "disparity" / "c_pfm.pfm"), cv2.IMREAD_UNCHANGED)
    mask = written["c_pfm"][3]
    np.testing.assert_array_equal(pfm["valid"], np.isfinite(reference) & (reference > 0) & (mask > 0))
    np.testing.assert_array_equal(pfm["disparity"][pfm["valid"]], reference[pfm["valid"]])


def test_pairs_without_a_disparity_folder_load_for_inference(tmp_path: Path) -> None:
    put_image(tmp_path / "left" / "x.png", "x")
    put_image(tmp_path / "right" / "x.png", "x", "R")
    (sample,) = list(StereoFolder(tmp_path))
    assert sample["meta"]["disparity_path"] == "" and not sample["valid"].any()


def remove(relative: str):
    return lambda root: (root / relative).unlink()


def save(relative: str, shape: tuple[int, ...]):
    return lambda root: np.save(root / relative, np.zeros(shape))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (remove("right/b_npy.png"), "right/b_npy.png: missing (the pair of left/b_npy.png)"),
        (remove("disparity/a_png.png"), "a_png.pfm or a_png.png or a_png.npy: missing"),
        (save("disparity/c_pfm.npy", (8, 12)), "two maps for one pair"),
        (save("disparity/b_npy.npy", (4, 4)), "b_npy.npy: size 4x4 does not match"),
        (save("disparity/b_npy.npy", (8, 12, 3)), "expected an (H, W) disparity map"),
        (lambda root: shutil.rmtree(root / "left"), "left: missing; expected"),
    ],
)
def test_a_wrong_layout_is_one_line_naming_what_is_missing(damage, message: str, tmp_path: Path) -> None:
    make_folder(tmp_path)
    damage(tmp_path)
    with pytest.raises(ValueError, match=re.escape(message)) as raised:
        list(StereoFolder(tmp_path))
    assert "\n" not in str(raised.value)
    if "missing" in message:
        assert isinstance(raised.value, DatasetLayoutError)


def test_the_data_config_takes_its_own_range_and_the_finetune_experiment_composes(tmp_path: Path) -> None:
    cfg = compose_config("train", "data=folder", f"data.root={tmp_path}", "data.max_disparity=256")
    assert cfg.model.max_disparity == 256  # the model's range follows the data's
    assert [spec.name for spec in cfg.data.train] == ["folder"] and cfg.data.val[0].limit == 20
    tuned = compose_config("train", "experiment=finetune_folder", f"data.root={tmp_path}", "init_from=x.ckpt")
    assert tuned.data.name == "folder" and tuned.init_from == "x.ckpt" and tuned.model.name == "small"
    assert tuned.optimizer.lr < compose_config("train").optimizer.lr


def own_pairs(root: Path, disparity: float) -> Path:
    """Two 40x64 pairs with constant disparity maps (NPY)."""
    for stem in ("p0", "p1"):
        put_image(root / "left" / f"{stem}.png", stem, size=(40, 64))
        put_image(root / "right" / f"{stem}.png", stem, "R", size=(40, 64))
        (root / "disparity").mkdir(parents=True, exist_ok=True)
        np.save(root / "disparity" / f"{stem}.npy", np.full((40, 64), disparity, np.float32))
    return root


def test_fine_tuning_the_shipped_checkpoint_on_a_folder_runs_and_starts_from_its_weights(
    tmp_path: Path,
) -> None:
    root = own_pairs(tmp_path / "mine", 10.0)
    cfg = compose_config(
        "train", "experiment=finetune_folder", f"data.root={root}", f"init_from={SHIPPED_CHECKPOINT}",
        "data.max_disparity=64", "data.crop=[32,64]", "data.num_workers=0", "trainer.max_steps=2",
        "trainer.val_check_interval=1", "trainer.precision=32-true", "trainer.enable_progress_bar=false",
        "~callbacks.progress", "logger=none", "baseline=null", "real_validation=null",
        f"run_dir={tmp_path / 'run'}",
    )  # fmt: skip
    module = build_module(cfg)
    shipped = network_weights(read_checkpoint(SHIPPED_CHECKPOINT), str(SHIPPED_CHECKPOINT))
    first = next(iter(shipped))
    torch.testing.assert_close(module.network.state_dict()[first], shipped[first])
    result = train(cfg)
    assert result["steps"] == 2 and np.isfinite(result["epe"])
    assert network_from_checkpoint(tmp_path / "run" / "checkpoints" / "last.ckpt").max_disparity == 64


def test_evaluate_scores_a_folder_on_every_pixel_with_ground_truth(tmp_path: Path) -> None:
    root = own_pairs(tmp_path / "mine", 150.0)  # beyond the shipped model's range
    output = tmp_path / "evaluation.json"
    command = [sys.executable, "scripts/evaluate.py", "data=folder", f"data.root={root}", f"output={output}"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    model = json.loads(output.read_text())["model"]
    # Dense: the pixels beyond the shipped model's 96 px count, so bad-2 is every pixel.
    assert model["images"] == 2 and model["bad2"] == 100 and model["epe"] > 50
