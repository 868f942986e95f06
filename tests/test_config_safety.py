"""Checkpoints and configs build only what the project allows: nothing they name is called blindly."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from training_helpers import tiny_config

from stereo_attn.checkpoint import CheckpointError, network_from_checkpoint, read_checkpoint
from stereo_attn.model.spec import ModelConfigError, build_network, check_network_config
from stereo_attn.safe_config import ConfigTargetError, check_targets, instantiate_checked
from stereo_attn.training.checks import resume_run_id
from stereo_attn.training.run import train

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT = ROOT / "checkpoints" / "small_efficient_synthetic.ckpt"


def write_file(target: Path) -> dict:
    return {"_target_": "pathlib.Path.write_text", "self": str(target), "data": "owned"}


def empty_file(target: Path) -> dict:
    return {"_target_": "builtins.open", "file": str(target), "mode": "w"}


def payloads(target: Path) -> dict[str, callable]:
    """Ways to smuggle a call into a stored model config: at the top and nested in every sub-config."""
    return {
        "top": lambda model: write_file(target),
        "top_open": lambda model: empty_file(target),
        "target_swapped": lambda model: {**model, "_target_": "pathlib.Path.write_text"},
        "features": lambda model: {**model, "features": write_file(target)},
        "attention": lambda model: {**model, "attention": write_file(target)},
        "attention_option": lambda model: {
            **model,
            "attention": {**model["attention"], "heads": write_file(target)},
        },
        "overrides": lambda model: {**model, "attention_overrides": {"eighth": write_file(target)}},
        "in_a_list": lambda model: {**model, "attention_places": [write_file(target)]},
        "channels": lambda model: {**model, "features": {"channels": [empty_file(target), 24, 32]}},
    }


def hostile_checkpoint(tmp_path: Path, name: str, target: Path) -> Path:
    checkpoint = read_checkpoint(CHECKPOINT)
    model = checkpoint["hyper_parameters"]["model"]
    checkpoint["hyper_parameters"]["model"] = payloads(target)[name](copy.deepcopy(model))
    path = tmp_path / f"{name}.ckpt"
    torch.save(checkpoint, path)
    return path


@pytest.mark.parametrize("name", list(payloads(Path("x"))))
def test_a_checkpoint_cannot_make_the_loader_write_files(name: str, tmp_path: Path) -> None:
    target = tmp_path / "victim.txt"
    target.write_text("precious")
    path = hostile_checkpoint(tmp_path, name, target)
    with pytest.raises(
        CheckpointError, match=rf"{path.name}: .*(not allowed|expected|unknown option '_target_')"
    ):
        network_from_checkpoint(path)
    assert target.read_text() == "precious"


def test_infer_and_evaluate_refuse_a_hostile_checkpoint_and_write_nothing(tmp_path: Path) -> None:
    target = tmp_path / "victim.txt"
    path = hostile_checkpoint(tmp_path, "top", target)
    image = ROOT / "data" / "synthetic_preview.png"
    for command in (
        [
            "scripts/infer.py",
            f"left={image}",
            f"right={image}",
            f"checkpoint={path}",
            f"output_dir={tmp_path / 'o'}",
        ],
        ["scripts/evaluate.py", f"checkpoint={path}", "limit=1", f"output={tmp_path / 'e.json'}"],
    ):
        done = subprocess.run(
            [sys.executable, *command], cwd=ROOT, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 1 and done.stderr.startswith("error: "), done.stderr[-2000:]
        assert "not allowed" in done.stderr and done.stderr.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["top.ckpt"]


def test_the_shipped_config_passes_and_wrong_types_or_keys_do_not() -> None:
    model = read_checkpoint(CHECKPOINT)["hyper_parameters"]["model"]
    assert check_network_config(model, "ckpt")["attention"]["name"] == "efficient"
    wrong = {
        "max_disparity": "96",
        "groups": True,  # a bool is not an int
        "upsample_hidden": -1,  # no option of the network is negative
        "features": {"channels": [16, 24, 32], "blocks": 2, "extra": 1},
        "aggregation": {"channels": 1.5, "hourglasses": 1},
        "attention": {"name": "efficient", "chunk_voxels": "16384"},
        "attention_places": ["everywhere"],
    }
    for key, value in wrong.items():
        with pytest.raises(ModelConfigError, match=rf"ckpt: model.*{key}|{key}.*not allowed"):
            check_network_config({**model, key: value}, "ckpt")
    with pytest.raises(ModelConfigError, match=r"attention.name: 'flash' is not an attention block"):
        check_network_config({**model, "attention": {"name": "flash"}}, "ckpt")
    soft = {"name": "soft", "landmarks": [2, 4, 4], "eps": float("nan")}
    with pytest.raises(ModelConfigError, match=r"attention.eps: nan is not allowed"):
        check_network_config({**model, "attention": soft}, "ckpt")


def test_a_config_asking_for_a_huge_network_is_refused_before_allocating() -> None:
    checkpoint = read_checkpoint(CHECKPOINT)
    weights = {k[len("network.") :]: v for k, v in checkpoint["state_dict"].items()}
    model = {**checkpoint["hyper_parameters"]["model"], "features": {"channels": [16, 24, 4096], "blocks": 2}}
    # 4096 x 4096 x 3 x 3 weights would be 600 MB; on the meta device the shapes are compared first.
    with pytest.raises(ModelConfigError, match=r"weights do not fit .*other shape"):
        build_network(model, "ckpt", weights)
    network = build_network(checkpoint["hyper_parameters"]["model"], "ckpt", weights)
    state = network.state_dict()
    assert all(torch.equal(state[key], value) for key, value in weights.items())


def test_config_targets_must_be_classes_of_allowed_modules(tmp_path: Path) -> None:
    target = tmp_path / "victim.txt"
    for config in (
        write_file(target),
        {"_target_": "torch.optim.AdamW", "lr": write_file(target)},
        {"_target_": "stereo_attn.data.datamodule.build_mixture", "specs": []},  # allowed module, a function
        {"_target_": "os.system", "_args_": ["touch " + str(target)]},
        {"_target_": "lightning.pytorch.callbacks.NoSuchCallback"},
    ):
        with pytest.raises(
            ConfigTargetError, match=r"optimizer.*_target_: .*(not allowed|not a class|exist)"
        ):
            instantiate_checked(config, "optimizer")
    assert not target.exists()
    check_targets({"_target_": "lightning.pytorch.callbacks.ModelCheckpoint"}, "callbacks.best")


def test_training_refuses_a_file_writing_optimizer_and_a_bad_run_id(tmp_path: Path) -> None:
    target = tmp_path / "victim.txt"
    cfg = tiny_config(
        tmp_path / "run", "optimizer._target_=pathlib.Path.write_text", f"+optimizer.self={target}"
    )
    with pytest.raises(
        ConfigTargetError, match=r"optimizer\._target_: pathlib\.Path\.write_text is not allowed"
    ):
        train(cfg)
    assert not target.exists()
    with pytest.raises(CheckpointError, match=r"x.ckpt: its wandb_run_id '../../etc' is not a W&B run id"):
        resume_run_id({"wandb_run_id": "../../etc"}, "x.ckpt")
    assert resume_run_id({"wandb_run_id": "a1b2-c3_d"}, "x.ckpt") == "a1b2-c3_d"
