"""The DataModule: every data config composes and loads batches; mixtures, limits and errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import DictConfig
from test_readers import KITTI, make_kitti, make_sceneflow

from stereo_attn.data.datamodule import StereoDataModule
from stereo_attn.data.datasets import build_dataset, build_mixture
from stereo_attn.data.readers.base import DatasetLayoutError

from helpers.datasets import fixture_root
from helpers.project import CONF, DATA_CONFIGS

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


@pytest.mark.parametrize("name", DATA_CONFIGS)
def test_every_data_config_loads_training_and_validation_batches(name: str, tmp_path: Path) -> None:
    overrides = ["data.num_workers=0", "data.batch_size=2", "data.crop=[6,10]"]
    if name in ("synthetic", "world"):
        overrides += SMALL_SYNTHETIC
    elif name != "aloe":  # the real pair ships with the project
        overrides.append(f"data.root={fixture_root(name, tmp_path)}")
    module = instantiate(data_config(name, *overrides))
    assert isinstance(module, StereoDataModule)
    if name == "aloe":  # evaluation only
        module.setup("fit")
        with pytest.raises(ValueError, match="'aloe' has no train datasets"):
            module.train_dataloader()
        assert next(iter(module.val_dataloader()))["left"].shape == (1, 3, 370, 427)
        return
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


def test_a_batch_can_mix_generated_and_file_pairs(tmp_path: Path) -> None:
    # Their meta keys differ (split and seed against file paths and subsets): the batch keeps the shared ones.
    make_kitti(tmp_path / "k15", KITTI[0][2])
    module = StereoDataModule(
        train=[
            {"name": "synthetic", "split": "train", "length": 3},
            {"name": "kitti2015", "root": str(tmp_path / "k15"), "split": "training"},
        ],
        synthetic={"seed": 0, "generator": {"height": 32, "width": 64, "max_disparity": 12}},
        batch_size=6,
        num_workers=0,
        crop=(16, 32),
    )
    batch = next(iter(module.train_dataloader()))
    assert sorted(batch["meta"]["dataset"]) == ["kitti2015"] * 3 + ["synthetic"] * 3
    assert "seed" not in batch["meta"] and batch["left"].shape == (6, 3, 16, 32)


def small_synthetic_module(*overrides: str) -> StereoDataModule:
    module = instantiate(data_config("synthetic", *SMALL_SYNTHETIC, "data.crop=[32,64]", *overrides))
    module.setup("fit")
    return module


def epoch_batches(module: StereoDataModule, epoch: int) -> list[dict]:
    loader = module.train_dataloader()
    loader.sampler.set_epoch(epoch)  # as the Trainer does at every epoch start
    return list(loader)


def test_training_batches_depend_only_on_seed_and_epoch_not_on_global_rng_or_workers() -> None:
    torch.manual_seed(1)
    reference = epoch_batches(small_synthetic_module("data.num_workers=2"), epoch=1)
    torch.manual_seed(2)  # a resumed process: other global RNG state, another worker count
    resumed = epoch_batches(small_synthetic_module("data.num_workers=0"), epoch=1)
    for expected, actual in zip(reference, resumed, strict=True):
        torch.testing.assert_close(actual["left"], expected["left"], rtol=0, atol=0)
        torch.testing.assert_close(actual["disparity"], expected["disparity"], rtol=0, atol=0)


class WorkerNiceness(torch.utils.data.Dataset):
    """Each item is the niceness of the process that loads it."""

    def __len__(self) -> int:
        return 2

    def __getitem__(self, index: int) -> int:
        return os.nice(0)


@pytest.mark.parametrize("niceness", [0, 5])
def test_training_workers_run_at_the_configured_lower_priority(niceness: int) -> None:
    module = small_synthetic_module("data.num_workers=1", f"data.worker_niceness={niceness}")
    loader = module.train_dataloader()
    # The module's own worker set-up, around a dataset that reports where it runs.
    probe = torch.utils.data.DataLoader(WorkerNiceness(), num_workers=1, worker_init_fn=loader.worker_init_fn)
    assert [int(n) for n in probe] == [min(19, os.nice(0) + niceness)] * 2


def test_the_built_in_data_runs_its_workers_in_the_steps_idle_time() -> None:
    assert data_config("synthetic").worker_niceness == data_config("world").worker_niceness == 19
    assert data_config("sceneflow", "data.root=unused").worker_niceness == 0  # GPU data: full priority
    with pytest.raises(ValueError, match="worker_niceness=20: expected an integer >= 0 and <= 19"):
        StereoDataModule(worker_niceness=20)


def test_each_epoch_reshuffles_and_redraws_augmentation() -> None:
    module = small_synthetic_module("data.num_workers=0", "data.batch_size=1")
    first, second = (epoch_batches(module, epoch) for epoch in (0, 1))
    order = lambda batches: [int(b["meta"]["index"]) for b in batches]  # noqa: E731
    assert sorted(order(first)) == sorted(order(second)) == list(range(8))
    assert order(first) != order(second)
    by_index = {int(b["meta"]["index"]): b["left"] for b in first}
    assert all(not torch.equal(by_index[int(b["meta"]["index"])], b["left"]) for b in second)


def test_ddp_ranks_split_training_and_validation_items_without_repeats() -> None:
    module = small_synthetic_module("data.num_workers=0", "data.batch_size=1", "data.val.0.length=5")
    train, val = [], []
    for rank in (0, 1):
        module._replicas = lambda rank=rank: (2, rank)  # what an attached 2-process Trainer reports
        train.append([int(b["meta"]["index"]) for b in module.train_dataloader()])
        val.append([int(b["meta"]["index"]) for b in module.val_dataloader()])
    assert len(train[0]) == len(train[1]) == 4 and sorted(train[0] + train[1]) == list(range(8))
    assert val == [[0, 2, 4], [1, 3]]  # every validation image counted once


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
