"""The configs: every one composes (attention blocks, benchmarks, the shared Hydra and paths settings),
and nothing a checkpoint or config names is built unless the project allows it."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from stereo_attn.attention import GUIDED_BLOCKS, build_attention
from stereo_attn.checkpoint import CheckpointError, network_from_checkpoint, read_checkpoint
from stereo_attn.data.io import write_image
from stereo_attn.model.spec import ModelConfigError, build_network, check_network_config
from stereo_attn.training.checks import resume_run_id
from stereo_attn.training.run import train
from stereo_attn.training.targets import ConfigTargetError, check_targets, instantiate_checked

from helpers.project import CONF, DATA_CONFIGS, ROOT, SHIPPED_CHECKPOINT, compose_config
from helpers.training import tiny_config

ATTENTION_CONFIGS = sorted(path.stem for path in (CONF / "model" / "attention").glob("*.yaml"))


def test_every_block_has_a_config() -> None:
    assert ATTENTION_CONFIGS == ["dot_product", "efficient", "guided", "none", "polynl", "soft", "soft_lean"]


@pytest.mark.parametrize("name", ATTENTION_CONFIGS)
def test_config_builds_a_residual_block(name: str) -> None:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        options = OmegaConf.to_container(compose(f"model/attention/{name}").model.attention)
    guided = options["name"] in GUIDED_BLOCKS
    block = build_attention(channels=8, **options, **({"guide_channels": 4} if guided else {}))
    x = torch.randn(1, 8, 3, 5, 7)
    features = [torch.randn(1, 4, 5, 7)] if guided else []
    assert block(x, *features).shape == x.shape


def test_lean_soft_inherits_soft_with_row_normalization_and_fewer_landmarks() -> None:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        soft, lean = (
            OmegaConf.to_container(compose(f"model/attention/{n}").model.attention)
            for n in ("soft", "soft_lean")
        )
    assert {k: v for k, v in lean.items() if soft[k] != v} == {"normalization": "row", "landmarks": [2, 4, 4]}


def test_benchmark_config_composes_with_overrides() -> None:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("bench_attention", overrides=["blocks.soft.landmarks=[2,2,2]", "include=[soft]"])
    assert cfg.blocks.soft.landmarks == [2, 2, 2]
    assert set(cfg.blocks) == {"efficient", "soft", "polynl", "guided", "dot_product"}
    assert cfg.volumes[-1] == [48, 136, 240]  # the full 1/4-resolution Scene Flow volume


SCRIPT_CONFIGS = sorted(path.stem for path in CONF.glob("*.yaml") if path.stem not in ("train", "network"))


@pytest.mark.parametrize("name", SCRIPT_CONFIGS)
def test_script_configs_share_the_hydra_settings_that_write_nothing(name: str) -> None:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        hydra = compose(name, overrides=["root=r", "output=o"] if name == "make_file_list" else [],
                        return_hydra_config=True).hydra  # fmt: skip
    assert hydra.run.dir == "." and hydra.output_subdir is None
    disabled = {"version": 1, "root": {"level": "ERROR"}, "disable_existing_loggers": True}
    assert (
        OmegaConf.to_container(hydra.job_logging) == OmegaConf.to_container(hydra.hydra_logging) == disabled
    )
    # One copy of these settings, conf/hydra/default.yaml, chosen in the defaults list:
    assert not re.search(r"^hydra:", (CONF / f"{name}.yaml").read_text(), re.MULTILINE)


def test_training_keeps_its_own_run_folders() -> None:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        hydra = compose("train", return_hydra_config=True).hydra
    assert hydra.run.dir.startswith("outputs/train/") and hydra.output_subdir == ".hydra"
    assert OmegaConf.to_container(hydra.job_logging)["root"] == {
        "level": "INFO",
        "handlers": ["console", "file"],
    }


def test_paths_default_to_the_repository_whatever_the_working_folder(tmp_path: Path) -> None:
    """Scripts find the shipped checkpoint through ${paths.*} when started from another folder, while
    relative paths on the command line stay relative to that folder."""
    write_image(tmp_path / "left.png", np.random.default_rng(0).random((48, 64, 3), np.float32))
    write_image(tmp_path / "right.png", np.random.default_rng(1).random((48, 64, 3), np.float32))
    command = [sys.executable, str(ROOT / "scripts" / "infer.py"), "left=left.png", "right=right.png",
               "output_dir=out", "device=cpu", "progress=false"]  # fmt: skip
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "out" / "left.pfm").is_file()


def test_paths_resolve_to_the_project_folders() -> None:
    cfg = compose_config("infer")
    assert Path(cfg.paths.root) == ROOT  # composed in Python, from the repository folder
    assert Path(cfg.checkpoint) == SHIPPED_CHECKPOINT and SHIPPED_CHECKPOINT.is_file()
    assert Path(compose_config("bench_model").checkpoints.shipped) == SHIPPED_CHECKPOINT


@pytest.mark.parametrize("preset", ["small", "mid", "base"])
def test_the_network_config_builds_a_network_directly(preset: str) -> None:
    cfg = compose_config("network", f"model={preset}", "model/attention=soft")
    network = build_network(OmegaConf.to_container(cfg.model, resolve=True), "network")
    assert network.max_disparity == 192  # no data config: the models' default range
    output = network.eval()(torch.rand(1, 3, 32, 64), torch.rand(1, 3, 32, 64))
    assert output["disparity"].shape == (1, 32, 64)


def test_mid_is_bases_feature_extractor_on_smalls_volume() -> None:
    """What docs/training.md measured `mid` as: only the 2D extractor differs from `small`."""
    small, mid, base = (compose_config("network", f"model={name}").model for name in ("small", "mid", "base"))
    assert mid.features == base.features and mid.features != small.features
    differs = {key for key in {*small, *mid} - {"name"} if small.get(key) != mid.get(key)}
    assert differs == {"features"}


@pytest.mark.parametrize("name", DATA_CONFIGS)
def test_data_configs_extend_the_common_body(name: str) -> None:
    data = compose_config("train", f"data={name}", "data.root=/r").data
    common = OmegaConf.load(CONF / "data" / "common.yaml")
    assert data._target_ == common._target_ and data.name == name
    reader = {"aloe": "middlebury2006"}.get(name, name)  # the real pair is read by its benchmark's reader
    assert {spec.name for spec in data.train} <= {reader, "kitti2015", "kitti2012"}
    assert all(spec.name == reader for spec in data.test) or name == "kitti_mix"


# --- safety: only what the project allows gets built ----------------------------------------


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
    checkpoint = read_checkpoint(SHIPPED_CHECKPOINT)
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
    model = read_checkpoint(SHIPPED_CHECKPOINT)["hyper_parameters"]["model"]
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
    checkpoint = read_checkpoint(SHIPPED_CHECKPOINT)
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
        # an allowed module, but a function
        {"_target_": "stereo_attn.data.datamodule.collate_samples", "samples": []},
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
