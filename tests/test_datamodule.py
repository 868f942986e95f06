"""The DataModule: every data config composes and loads batches; mixtures, limits and errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import DictConfig
from test_readers import KITTI, make_eth3d, make_kitti, make_middlebury, make_sceneflow

from stereo_attn.data.base import DatasetLayoutError
from stereo_attn.data.datamodule import StereoDataModule, build_dataset, build_mixture

CONF = Path(__file__).resolve().parents[1] / "conf"
SMALL_SYNTHETIC = [
    "data.synthetic.generator.height=48",
    "data.synthetic.generator.width=96",
    "data.synthetic.generator.max_disparity=24",
    "data.train.0.length=8",
    "data.val.0.length=2",
]


def data_config(name: str, *overrides: str) -> DictConfig:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("make_synthetic", overrides=[f"data={name}", "root=unused", *overrides]).data


def fixture_root(name: str, root: Path) -> Path:
    """A tiny tree in the layout the config ``name`` reads."""
    if name == "sceneflow":
        make_sceneflow(root, "merged")
    elif name in ("kitti2015", "kitti2012"):
        make_kitti(root, dict((n, f) for _, n, f in KITTI)[name])
    elif name == "kitti_mix":
        for year in ("kitti2015", "kitti2012"):
            make_kitti(root / year, dict((n, f) for _, n, f in KITTI)[year])
    elif name == "middlebury":
        make_middlebury(root)
    elif name == "eth3d":
        make_eth3d(root)
    return root


@pytest.mark.parametrize("name", sorted(path.stem for path in (CONF / "data").glob("*.yaml")))
def test_every_data_config_loads_training_and_validation_batches(name: str, tmp_path: Path) -> None:
    overrides = ["data.num_workers=0", "data.batch_size=2", "data.crop=[6,10]"]
    if name == "synthetic":
        overrides += SMALL_SYNTHETIC
    else:
        overrides.append(f"data.root={fixture_root(name, tmp_path)}")
    module = instantiate(data_config(name, *overrides))
    assert isinstance(module, StereoDataModule)
    module.setup("fit")
    batch = next(iter(module.train_dataloader()))
    assert batch["left"].shape == batch["right"].shape == (2, 3, 6, 10)
    assert batch["disparity"].shape == batch["valid"].shape == batch["valid_noc"].shape == (2, 6, 10)
    assert batch["left"].dtype == torch.float32 and batch["valid"].dtype == torch.bool
    assert batch["valid"].any()
    expected = {"kitti_mix": ("kitti2015", "kitti2012"), "middlebury": ("middlebury2014",)}.get(name, (name,))
    assert set(batch["meta"]["dataset"]) <= set(expected)
    validation = next(iter(module.val_dataloader()))
    assert validation["left"].shape[0] == 1  # evaluation sees whole images, one at a time


def test_mixture_repeats_and_limits(tmp_path: Path) -> None:
    make_kitti(tmp_path / "k15", KITTI[0][2])
    specs = [
        {"name": "kitti2015", "root": str(tmp_path / "k15"), "split": "training", "repeat": 3},
        {"name": "synthetic", "split": "train", "length": 5, "limit": 2},
    ]
    mixture = build_mixture(specs, synthetic={"seed": 0, "generator": {"height": 32, "width": 64}})
    assert len(mixture) == 3 * 3 + 2
    limited = build_dataset({"name": "synthetic", "split": "val", "length": 9, "limit": 3})
    assert [limited[i]["meta"]["index"] for i in range(3)] == [0, 4, 8]  # evenly spaced


def test_training_batches_repeat_across_runs_with_worker_processes() -> None:
    def first_batch() -> torch.Tensor:
        module = instantiate(
            data_config("synthetic", *SMALL_SYNTHETIC, "data.num_workers=2", "data.crop=[32,64]")
        )
        module.setup("fit")
        torch.manual_seed(0)  # the sampler's shuffle and the workers' seeds
        return next(iter(module.train_dataloader()))["left"]

    torch.testing.assert_close(first_batch(), first_batch(), rtol=0, atol=0)


def test_missing_and_wrong_roots_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"set data.root=/path/to/kitti2015"):
        build_dataset({"name": "kitti2015", "split": "training"})
    module = instantiate(data_config("kitti2015", f"data.root={tmp_path / 'nowhere'}"))
    with pytest.raises(DatasetLayoutError, match="nowhere"):
        module.setup("fit")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"name": "kitti2016"}, "needs name: one of"),
        ({"name": "synthetic", "lenght": 3}, "dataset 'synthetic'"),
    ],
)
def test_bad_specs_give_clear_errors(spec: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_dataset(spec)


def test_file_list_script_output_feeds_the_reader_through_a_spec(tmp_path: Path) -> None:
    root = tmp_path / "sf"
    make_sceneflow(root, "merged")
    output = tmp_path / "lists" / "test.txt"
    command = [
        sys.executable, "scripts/make_file_list.py", f"root={root}", "split=TEST", f"output={output}",
        f"hydra.run.dir={tmp_path / 'run'}",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=CONF.parent, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    listed = build_dataset(
        {"name": "sceneflow", "root": str(root), "split": "TEST", "file_list": str(output)}
    )
    scanned = build_dataset({"name": "sceneflow", "root": str(root), "split": "TEST"})
    assert [listed[i]["meta"]["left_path"] for i in range(len(listed))] == [
        scanned[i]["meta"]["left_path"] for i in range(len(scanned))
    ]
