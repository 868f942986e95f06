"""Hostile and careless inputs to every script: one ``error:`` line, exit code 1, nothing written.

Each case composes the script's own config with the overrides a user would type and runs the script's
body under the scripts' error wrapper in this process (fast); a few cases run the real scripts in a
subprocess to check the wiring end to end (no traceback on stderr).
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir

from stereo_attn.checkpoint import read_checkpoint
from stereo_attn.cli import run_reporting_errors
from stereo_attn.data.io import write_image
from stereo_attn.data.synthetic.export import export_synthetic
from stereo_attn.data.synthetic.scenes import SyntheticConfig, SyntheticStereo
from stereo_attn.training.run import train

from helpers.project import ROOT, SHIPPED_CHECKPOINT
from helpers.training import TINY, tiny_arguments

CONF = ROOT / "conf"
TINY_WORLD = SyntheticConfig(height=48, width=96, max_disparity=24.0, min_objects=2, max_objects=4)
NO_CUDA = not torch.cuda.is_available()
TINY_GENERATOR = [o for o in TINY if o.startswith("data.synthetic.generator.")]


def script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"script_{name}", ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def snapshot(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_size for p in sorted(folder.rglob("*"))}


def fails_with_one_line(job: Callable[[], object], capsys: pytest.CaptureFixture) -> str:
    """Run ``job`` under the scripts' wrapper; assert exit code 1 and that stderr ends in the one error
    line (progress bars may come before it); return that line."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as stopped:
        run_reporting_errors(job)
    assert stopped.value.code == 1
    error = capsys.readouterr().err
    lines = error.strip().splitlines()
    assert lines[-1].startswith("error: ") and "Traceback" not in error, error
    assert not any(line.startswith("error: ") for line in lines[:-1]), error
    return lines[-1]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Inputs the cases point at: a pair, a tiny and a mismatched image, junk files, written pairs."""
    folder = tmp_path_factory.mktemp("world")
    sample = SyntheticStereo("test", length=1, seed=0)[0]
    write_image(folder / "left.png", np.asarray(sample["left"])[:64, :96])
    write_image(folder / "right.png", np.asarray(sample["right"])[:64, :96])
    write_image(folder / "narrow.png", np.asarray(sample["right"])[:64, :80])
    write_image(folder / "left_color.png", np.asarray(sample["right"])[:64, :96])
    write_image(folder / "tiny.png", np.zeros((8, 8, 3), np.float32))
    (folder / "junk.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (folder / "junk.ckpt").write_bytes(b"PK\x03\x04 not a checkpoint")
    (folder / "text.txt").write_text("not a checkpoint\n")
    (folder / "a_folder").mkdir()
    (folder / "photos").mkdir()
    write_image(folder / "photos" / "noise.png", np.asarray(sample["left"])[:64, :96])
    (folder / "twice.txt").write_text("left.png right.png\nleft.png right.png\n")
    export_synthetic(folder / "pairs", "test", 2, 0, TINY_WORLD, progress=False)
    (folder / "in_the_way").mkdir()
    (folder / "in_the_way" / "disparity").write_text("")
    (folder / "nan_cx.txt").write_text(
        "cam0=[700 0 nan; 0 700 30; 0 0 1]\ncam1=[700 0 40; 0 700 30; 0 0 1]\n"
        "doffs=0\nbaseline=100\nndisp=64\n"
    )
    for name, change in HOSTILE_WEIGHTS.items():
        checkpoint = read_checkpoint(SHIPPED_CHECKPOINT)
        change(checkpoint)
        torch.save(checkpoint, folder / f"{name}.ckpt")
    return folder


def _first_weight(checkpoint: dict, value: Callable[[torch.Tensor], torch.Tensor]) -> None:
    key = next(k for k, v in checkpoint["state_dict"].items() if v.is_floating_point())
    checkpoint["state_dict"][key] = value(checkpoint["state_dict"][key])


HOSTILE_WEIGHTS: dict[str, Callable[[dict], None]] = {
    "nan_weights": lambda c: _first_weight(c, lambda w: torch.full_like(w, float("nan"))),
    "meta_weights": lambda c: _first_weight(c, lambda w: torch.empty_like(w, device="meta")),
    "sparse_weights": lambda c: _first_weight(c, lambda w: w.reshape(w.shape[0], -1).to_sparse()),
    "complex_weights": lambda c: _first_weight(c, lambda w: w.to(torch.complex64)),
    "zero_heads": lambda c: c["hyper_parameters"]["model"]["attention"].update(heads=0),
}


def infer_cases(w: Path) -> list[tuple[list[str], str]]:
    pair = [f"left={w / 'left.png'}", f"right={w / 'right.png'}"]
    cases = [
        ([*pair, "max_disparity=abc"], "max_disparity=abc: expected an integer >= 4"),
        ([*pair, "max_disparity=nan"], "max_disparity=nan: expected an integer"),
        ([*pair, "max_disparity=2"], "max_disparity=2: expected an integer >= 4"),
        ([*pair, "max_disparity=1e9"], "max_disparity=1000000000.0: expected an integer"),
        ([*pair, "max_disparity=500"], "max_disparity=500 exceeds the checkpoint's 96"),
        ([*pair, "batch_size=abc"], "batch_size=abc: expected an integer >= 1"),
        ([*pair, "batch_size=0"], "batch_size=0: expected an integer >= 1"),
        ([*pair, "batch_size=true"], "batch_size=True: expected an integer"),
        ([*pair, "ply_stride=0"], "ply_stride=0: expected an integer >= 1"),
        ([*pair, "progress=maybe"], "progress=maybe: expected true or false"),
        ([*pair, "overwrite=1"], "overwrite=1: expected true or false"),
        ([*pair, "device=tpu"], "device=tpu: expected one of auto, cpu, cuda"),
        ([*pair, f"output_dir={w / 'text.txt'}"], "text.txt: exists and is not a folder"),
        ([*pair, "output_dir=/proc/stereo_attn_x"], "output_dir=/proc/stereo_attn_x: cannot write there"),
        ([*pair, f"checkpoint={w / 'missing.ckpt'}"], "missing.ckpt: checkpoint not found"),
        ([*pair, f"checkpoint={w / 'junk.ckpt'}"], "junk.ckpt: not a readable weights-only checkpoint"),
        ([*pair, f"checkpoint={w / 'text.txt'}"], "text.txt: not a readable weights-only checkpoint"),
        ([*pair, f"checkpoint={w / 'a_folder'}"], "a_folder: checkpoint not found"),
        ([*pair, "focal_length=700"], "baseline is missing"),
        ([*pair, "focal_length=abc", "baseline=0.1"], "focal_length=abc: expected a finite number > 0"),
        ([*pair, "focal_length=700", "baseline=-1"], "baseline=-1: expected a finite number > 0"),
        ([*pair, f"calib={w / 'text.txt'}"], "text.txt"),
        ([*pair, f"list={w / 'twice.txt'}"], "give either list= or left= and right="),
        ([f"left={w / 'left.png'}"], "right= is missing"),
        ([f"left={w / 'nope.png'}", f"right={w / 'right.png'}"], "left=" + str(w / "nope.png")),
        ([f"left={w / 'left.png'}", f"right={w / 'narrow.png'}"], "differ in size"),
        ([f"left={w / 'tiny.png'}", f"right={w / 'tiny.png'}"], "8x8 is too small, expected at least 32"),
        ([f"left={w / 'junk.png'}", f"right={w / 'right.png'}"], "junk.png"),
        ([f"left={w / 'left.png'}", f"right={w / 'a_folder'}"], "give two files, two folders or two globs"),
        ([f"left={w}/*.png", f"right={w}/*/*.png"], "differ in their wildcards"),
        ([f"list={w / 'twice.txt'}"], "left.png is given twice"),
        ([f"list={w / 'a_folder'}"], "a_folder: cannot read it"),
        ([f"list={w / 'missing.txt'}"], "list=" + str(w / "missing.txt") + ": no such file"),
        ([*pair, f"checkpoint={w / 'nan_weights.ckpt'}"], "holds non-finite values (NaN or inf)"),
        ([*pair, f"checkpoint={w / 'meta_weights.ckpt'}"], "is not a dense real tensor on the CPU"),
        ([*pair, f"checkpoint={w / 'sparse_weights.ckpt'}"], "is not a dense real tensor on the CPU"),
        ([*pair, f"checkpoint={w / 'complex_weights.ckpt'}"], "is not a dense real tensor on the CPU"),
        ([*pair, f"checkpoint={w / 'zero_heads.ckpt'}"], "zero_heads.ckpt: cannot build the network"),
        ([*pair, f"calib={w / 'nan_cx.txt'}"], "nan_cx.txt: cx must be a finite number of pixels"),
        (
            [*pair, "ply_stride=1000000000000000000000000000000"],
            "ply_stride=1000000000000000000000000000000: expected",
        ),
        ([*pair, f"output_dir={w}", "overwrite=true", "left=left.png"], "left"),
        (["format=kitti2015", f"output_dir={w / 'o'}"], "format=kitti2015: a submission needs both data="),
        (["data=eth3d", f"data.root={w}", f"output_dir={w / 'o'}"], "data=eth3d: a submission needs both"),
        (["data=eth3d", f"data.root={w}", "format=kitti2015"], "format=kitti2015 with data=eth3d"),
        (["data=eth3d", f"data.root={w}", "format=eth3d", *pair], "left= and format=eth3d"),
        (["data=eth3d", f"data.root={w}", "format=eth3d"], "format=eth3d: give output_dir="),
        ([*pair, "layout=tb"], "layout=tb: expected one of pair, sbs"),
        ([*pair, "backend=onnxruntime", "device=cuda"], "device=cuda: backend=onnxruntime runs on the CPU"),
        (["data=eth3d", "format=eth3d", f"output_dir={w / 'o'}"], "data.root is missing"),
        (["data=eth3d", f"data.root={w}", "format=eth3d", f"output_dir={w / 'o'}"], "two_view_test/<scene>/"),
        (
            [
                "format=middlebury",
                "data=middlebury",
                f"data.root={w}",
                f"output_dir={w / 'o'}",
                "method_name=a-b",
            ],
            "method_name=a-b: expected 1-32 letters or digits",
        ),
    ]
    if NO_CUDA:
        cases.append(([*pair, "device=cuda"], "device=cuda: CUDA is not available"))
    return cases


def compose_script(config: str, overrides: list[str]):
    """The script's config as its main() gets it. These jobs run in a temporary folder, and a config
    composed in Python (no Hydra run) finds the repository only through paths.root."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config, overrides=overrides)
    if "paths" in cfg:
        cfg.paths.root = str(ROOT)
    return cfg


@pytest.mark.parametrize("case", range(len(infer_cases(Path("w")))))
def test_infer(case: int, world: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    overrides, message = infer_cases(world)[case]
    monkeypatch.chdir(tmp_path)  # where the default outputs/infer/<time> would go
    before = snapshot(world)
    line = fails_with_one_line(lambda: script("infer").run(compose_script("infer", overrides)), capsys)
    assert message in line
    assert snapshot(world) == before and list(tmp_path.iterdir()) == []


def test_infer_with_earlier_outputs_needs_overwrite(world: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    overrides = [f"left={world / 'left.png'}", f"right={world / 'right.png'}", f"output_dir={tmp_path}"]
    infer = script("infer")
    summary = infer.run(compose_script("infer", [*overrides, "progress=false"]))
    written = snapshot(tmp_path)
    assert summary["files"] == 4 and set(written) == {
        "left.pfm",
        "left_disp16.png",
        "left_color.png",
        "left_confidence.png",
    }
    line = fails_with_one_line(lambda: infer.run(compose_script("infer", overrides)), capsys)
    assert "already holds left.pfm and 3 more" in line and "overwrite=true" in line
    assert snapshot(tmp_path) == written
    infer.run(compose_script("infer", [*overrides, "overwrite=true", "progress=false"]))
    assert set(snapshot(tmp_path)) == set(written)


def test_infer_default_folders_are_unique_and_hydra_leaves_none(
    world: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    overrides = [f"left={world / 'left.png'}", f"right={world / 'right.png'}", "progress=false"]
    infer = script("infer")
    first = infer.run(compose_script("infer", overrides))["output_dir"]
    second = infer.run(compose_script("infer", overrides))["output_dir"]
    assert first != second and first.parent == second.parent == Path("outputs", "infer")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outputs"]


def evaluate_cases(w: Path) -> list[tuple[list[str], str]]:
    root = [f"data.root={w / 'pairs'}"]
    cases = [
        ([*root, "device=tpu"], "device=tpu: expected one of auto, cpu, cuda"),
        ([*root, f"output={w}"], "is a folder; expected the path of a .json file"),
        ([*root, f"output={w / 'e.txt'}"], "e.txt: expected the path of a .json file"),
        ([*root, "output=/proc/stereo_attn_x/e.json"], "output=/proc/stereo_attn_x: cannot write there"),
        ([*root, "baseline=unknown"], "baseline=unknown: expected one of null, sgbm"),
        ([*root, "baseline=abc"], "baseline=abc: expected one of null, sgbm"),
        ([*root, "limit=abc"], "limit=abc: expected an integer >= 1"),
        ([*root, "limit=0"], "limit=0: expected an integer >= 1"),
        ([*root, "worst_images=-1"], "worst_images=-1: expected an integer >= 0"),
        ([*root, "wandb=maybe"], "wandb=maybe: expected true or false"),
        ([*root, "checkpoint=missing.ckpt"], "missing.ckpt: checkpoint not found"),
        ([*root, f"checkpoint={w / 'junk.ckpt'}"], "junk.ckpt: not a readable weights-only checkpoint"),
        (["data=kitti2015"], "dataset 'kitti2015' has no root"),
        (["data=middlebury", f"data.root={w / 'nowhere'}"], "nowhere"),
        ([f"data.root={w / 'a_folder'}"], "a_folder"),
    ]
    if NO_CUDA:
        cases.append(([*root, "device=cuda"], "device=cuda: CUDA is not available"))
    return cases


@pytest.mark.parametrize("case", range(len(evaluate_cases(Path("w")))))
def test_evaluate(case: int, world: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    overrides, message = evaluate_cases(world)[case]
    monkeypatch.chdir(tmp_path)
    before = snapshot(world)
    line = fails_with_one_line(lambda: script("evaluate").run(compose_script("evaluate", overrides)), capsys)
    assert message in line
    assert snapshot(world) == before and list(tmp_path.iterdir()) == []


def test_evaluate_takes_relative_checkpoints_from_the_working_directory(
    world: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copy(SHIPPED_CHECKPOINT, tmp_path / "mine.ckpt")
    overrides = [f"data.root={world / 'pairs'}", "checkpoint=mine.ckpt", "output=e.json", "limit=1"]
    evaluate = script("evaluate")
    evaluate.run(compose_script("evaluate", overrides))
    assert (tmp_path / "e.json").is_file() and (tmp_path / "e.csv").is_file()
    assert '"checkpoint": "' + str(tmp_path / "mine.ckpt") in (tmp_path / "e.json").read_text()


def make_synthetic_cases(w: Path) -> list[tuple[list[str], str]]:
    return [
        (["count=0", f"root={w / 'new'}"], "count=0: expected an integer >= 1"),
        (["count=-3", f"root={w / 'new'}"], "count=-3: expected an integer >= 1"),
        (["count=abc", f"root={w / 'new'}"], "count=abc: expected an integer >= 1"),
        (["count=2"], "root is missing: give root="),
        ([f"root={w / 'text.txt'}"], "text.txt: exists and is not a folder"),
        (["root=/proc/stereo_attn_x", "count=1"], "root=/proc/stereo_attn_x: cannot write there"),
        ([f"root={w / 'pairs'}", "count=1"], "already holds frames_finalpass/TEST and 2 more"),
        ([f"root={w / 'new'}", "split=val"], "split=val: expected one of train, test"),
        ([f"root={w / 'new'}", "frames_per_sequence=0"], "frames_per_sequence=0: expected an integer >= 1"),
        (
            [f"root={w / 'new'}", "data.synthetic.generator.height=abc"],
            "generator.height=abc: expected an integer",
        ),
        ([f"root={w / 'new'}", "data.synthetic.seed=-1"], "data.synthetic.seed=-1: expected an integer >= 0"),
        ([f"root={w / 'new'}", "+data.synthetic.generator.colour=1"], "generator.colour: unknown option"),
        ([f"root={w / 'in_the_way'}"], "disparity is in the way, expected a folder"),
        ([f"root={w / 'new'}", "data.synthetic=null"], "data.synthetic=None: expected {seed: N"),
        (
            [f"root={w / 'new'}", "data.synthetic.generator=5"],
            "data.synthetic.generator=5: expected a mapping",
        ),
        ([f"root={w / 'new'}", "data=world", f"textures={w / 'no_photos'}"], "no_photos: no such directory"),
        ([f"root={w / 'new'}", "workers=-1"], "workers=-1: expected an integer >= 0"),
        ([f"root={w / 'new'}", "data=world", f"textures={w / 'text.txt'}"], "text.txt: not a directory"),
    ]


@pytest.mark.parametrize("case", range(len(make_synthetic_cases(Path("w")))))
def test_make_synthetic(case: int, world: Path, capsys) -> None:
    overrides, message = make_synthetic_cases(world)[case]
    before = snapshot(world)
    line = fails_with_one_line(
        lambda: script("make_synthetic").run(compose_script("make_synthetic", overrides)), capsys
    )
    assert message in line
    assert snapshot(world) == before


def test_make_synthetic_replaces_a_split_only_when_asked(world: Path, tmp_path: Path) -> None:
    make = script("make_synthetic")
    shutil.copytree(world / "pairs", tmp_path / "pairs")
    make.run(
        compose_script(
            "make_synthetic", [f"root={tmp_path / 'pairs'}", "count=1", "overwrite=true", *TINY_GENERATOR]
        )
    )
    # The two pairs of before are gone: the split holds the one new pair only.
    assert len(list((tmp_path / "pairs" / "disparity").rglob("*.pfm"))) == 1


def select_photos_cases(w: Path) -> list[tuple[list[str], str]]:
    photos = [f"sources=[{w / 'photos'}]", f"root={w / 'chosen'}"]
    return [
        ([f"root={w / 'chosen'}"], "sources=[]: expected at least one folder"),
        ([f"sources={w}", f"root={w / 'chosen'}"], "expected a list of folders"),
        ([f"sources=[{w / 'nowhere'}]", f"root={w / 'chosen'}"], "nowhere is not a folder"),
        ([f"sources=[{w / 'photos'}]"], "root is missing: give root="),
        ([*photos, "min_textured=1.5"], "min_textured=1.5: expected a share between 0 and 1"),
        ([*photos, "gradient=0"], "gradient=0: expected a finite number > 0"),
        ([*photos, "overwrite=maybe"], "overwrite=maybe: expected true or false"),
        ([*photos, "min_textured=1"], "none of the 1 readable photos"),
        ([f"sources=[{w / 'photos'}]", f"root={w / 'pairs'}"], "already holds pairs from an earlier run"),
    ]


@pytest.mark.parametrize("case", range(len(select_photos_cases(Path("w")))))
def test_select_photos(case: int, world: Path, capsys) -> None:
    overrides, message = select_photos_cases(world)[case]
    before = snapshot(world)
    line = fails_with_one_line(
        lambda: script("select_photos").run(compose_script("select_photos", overrides)), capsys
    )
    assert message in line
    assert snapshot(world) == before


def demo_cases(w: Path) -> list[tuple[list[str], str]]:
    return [
        (["pairs=0"], "pairs=0: expected an integer >= 1"),
        (["pairs=2", "infer_pairs=5"], "infer_pairs=5: expected an integer >= 0 and <= 2"),
        (["pairs=abc"], "pairs=abc: expected an integer >= 1"),
        (["checkpoint=missing.ckpt"], "missing.ckpt: checkpoint not found"),
        (["baseline=0"], "baseline=0: expected a finite number > 0"),
        ([f"output_dir={w / 'text.txt'}"], "text.txt: exists and is not a folder"),
        (["data.synthetic.generator.height=8"], "8 pairs are too small to infer (at least 32 px)"),
        (["real_scales=[0.5,0]"], "real_scales=0: expected a finite number > 0"),
        (["real_scales=[1.5]"], "real_scales=[1.5]: expected sizes in (0, 1]"),
        (["real_scales=half"], "real_scales=half: expected a list of sizes in (0, 1]"),
        ([f"real_pair={w}"], "expected " + f"{w}/<scene>L.jpg (or .png) with <scene>R.jpg and <scene>GT.png"),
    ]


@pytest.mark.parametrize("case", range(len(demo_cases(Path("w")))))
def test_demo(case: int, world: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    overrides, message = demo_cases(world)[case]
    monkeypatch.chdir(tmp_path)
    line = fails_with_one_line(lambda: script("demo").run(compose_script("demo", overrides)), capsys)
    assert message in line and list(tmp_path.iterdir()) == []


def test_a_demo_that_fails_late_leaves_no_partial_pairs(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    demo = importlib.import_module("stereo_attn.evaluation.demo")  # where the job calls infer

    def out_of_disk(*args, **kwargs):
        raise OSError(28, "No space left on device", "inference/0000.pfm")

    monkeypatch.setattr(demo, "infer", out_of_disk)
    line = fails_with_one_line(
        lambda: demo.run(compose_script("demo", ["pairs=1", "infer_pairs=1", *TINY_GENERATOR])), capsys
    )
    assert line == "error: inference/0000.pfm: No space left on device"
    # No outputs/demo/<time>/pairs half-made: at most the empty default parent is left.
    assert [p for p in tmp_path.rglob("*") if p != tmp_path / "outputs"] in (
        [],
        [tmp_path / "outputs" / "demo"],
    )


def train_cases(w: Path) -> list[tuple[list[str], str]]:
    cases = [
        (["trainer.max_steps=-1"], "trainer.max_steps=-1: expected an integer >= 1"),
        (["trainer.max_steps=abc"], "trainer.max_steps=abc: expected an integer >= 1"),
        (["data.batch_size=0"], "data.batch_size=0: expected an integer >= 1"),
        (["data.num_workers=-1"], "data.num_workers=-1: expected an integer >= 0"),
        (["data.worker_niceness=20"], "data.worker_niceness=20: expected an integer >= 0 and <= 19"),
        (["trainer.val_check_interval=0"], "trainer.val_check_interval=0: expected an integer >= 1"),
        (["data.crop=[0,64]"], "data.crop height=0: expected an integer >= 1"),
        (["data.crop=64"], "data.crop=64: expected [height, width] or null"),
        (["optimizer.lr=abc"], "optimizer.lr=abc: expected a finite number > 0"),
        (["seed=-1"], "seed=-1: expected an integer >= 0"),
        (["baseline=abc"], "baseline=abc: expected one of null, sgbm"),
        (["model.max_disparity=abc"], "model.max_disparity: 'abc' is not allowed; expected an integer"),
        (["+model.attention.foo=1"], "model.attention: unknown option 'foo'"),
        ([f"ckpt_path={w / 'missing.ckpt'}"], "missing.ckpt: checkpoint not found"),
        ([f"ckpt_path={w / 'junk.ckpt'}"], "junk.ckpt: not a readable weights-only checkpoint"),
        ([f"init_from={w / 'missing.ckpt'}"], "missing.ckpt: checkpoint not found"),
        ([f"init_from={w / 'text.txt'}"], "text.txt: not a readable weights-only checkpoint"),
        (
            [f"init_from={SHIPPED_CHECKPOINT}", f"ckpt_path={SHIPPED_CHECKPOINT}"],
            "give ckpt_path= (resume a run) or init_from=",
        ),
        # The tiny config's network is the shipped one but for its range: make it another architecture.
        (
            [f"init_from={SHIPPED_CHECKPOINT}", "model.aggregation.channels=8"],
            "weights do not fit this network's",
        ),
        (["data=kitti2015"], "data.root is missing: give data.root=..."),
        (["trainer.max_epochs=abc"], "trainer.max_epochs=abc: expected an integer >= -1"),
        (["trainer.log_every_n_steps=abc"], "trainer.log_every_n_steps=abc: expected an integer >= 1"),
        (
            ["+trainer.accumulate_grad_batches=0"],
            "trainer.accumulate_grad_batches=0: expected an integer >= 1",
        ),
        (["model.attention.heads=0"], "cannot build the network from its model config"),
        ([f"init_from={w / 'nan_weights.ckpt'}"], "holds non-finite values"),
        ([f"ckpt_path={w / 'nan_weights.ckpt'}"], "holds non-finite values"),
        (["real_validation={root:'.',scale:2.0}"], "real_validation.scale=2: expected a size in (0, 1]"),
        ([f"real_validation={{root:'{w / 'missing'}',scale:0.5}}"], "missing: no such directory; expected"),
    ]
    if NO_CUDA:
        cases.append((["trainer.accelerator=gpu"], "trainer: No supported gpu backend found!"))
    return cases


def tiny_train_config(run_dir: Path, overrides: list[str]):
    # The tiny synthetic world's overrides do not apply to another data config.
    other_data = any(o.startswith("data=") for o in overrides)
    base = [
        o for o in TINY if not (other_data and o.startswith(("data.synthetic", "data.train", "data.val")))
    ]
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("train", overrides=[*base, "logger=none", f"run_dir={run_dir}", *overrides])


@pytest.mark.parametrize("case", range(len(train_cases(Path("w")))))
def test_train(case: int, world: Path, tmp_path: Path, capsys) -> None:
    overrides, message = train_cases(world)[case]
    cfg = tiny_train_config(tmp_path / "run", overrides)
    line = fails_with_one_line(lambda: train(cfg), capsys)
    assert message in line
    assert not (tmp_path / "run" / "checkpoints").exists()


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (["scripts/infer.py", "left=nope.png", "right=nope.png"], "left=" + str(ROOT / "nope.png")),
        (["scripts/evaluate.py", "baseline=unknown"], "baseline=unknown"),
        (["scripts/make_synthetic.py", "count=0", "root=/tmp/unused"], "count=0"),
        (["scripts/demo.py", "pairs=0"], "pairs=0"),
        (["scripts/select_photos.py", "root=/tmp/unused"], "sources=[]"),
    ],
)
def test_scripts_exit_1_with_one_line_and_no_traceback(command: list[str], message: str) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / command[0]), *command[1:]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and message in done.stderr, done.stderr[
        -2000:
    ]
    assert "Traceback" not in done.stderr


def test_train_script_failing_early_leaves_no_run_folder(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "scripts/train.py", *tiny_arguments(run_dir, "data.batch_size=0")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (
        done.returncode == 1
        and done.stderr.strip().splitlines()[-1] == "error: data.batch_size=0: expected an integer >= 1"
    )
    assert not run_dir.exists()


def test_a_lightning_misconfiguration_is_one_line(capsys) -> None:
    from lightning.fabric.utilities.exceptions import MisconfigurationException

    def misconfigured() -> None:
        raise MisconfigurationException("`val_check_interval` (7) must be\nless than or equal to 5.")

    line = fails_with_one_line(misconfigured, capsys)
    assert line == "error: `val_check_interval` (7) must be less than or equal to 5."


def test_scripts_that_do_not_train_start_without_lightning() -> None:
    # Importing Lightning costs about 2 s per start (it loads torch._dynamo): a third of a quick
    # evaluate or infer run, and a regression nothing else would show.
    modules = "stereo_attn.cli", "stereo_attn.evaluation.run", "stereo_attn.evaluation.demo"
    modules += "stereo_attn.inference.run", "stereo_attn.deploy.export_job"
    probe = f"import sys; import {', '.join(modules)}; print('lightning' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and done.stdout.strip() == "False", done.stdout + done.stderr[-2000:]
