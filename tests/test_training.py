"""Training in-process on tiny synthetic data: configs, every block, checkpoints, resume, precision."""

from __future__ import annotations

import argparse
import math
import re
import signal
from pathlib import Path

import lightning as L
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from lightning.pytorch.callbacks import Callback

from stereo_attn.checkpoint import CheckpointError, network_from_checkpoint, read_checkpoint
from stereo_attn.data.readers.middlebury2006 import Middlebury2006
from stereo_attn.evaluation.evaluate import evaluate, network_predictor
from stereo_attn.evaluation.protocols import PROTOCOLS
from stereo_attn.evaluation.sgbm import sgbm_predictor
from stereo_attn.training import disparity_loss, stage_weights
from stereo_attn.training.module import NonFiniteLossError
from stereo_attn.training.report import format_report
from stereo_attn.training.run import build_module, train

from helpers.datasets import write_middlebury2006_scene
from helpers.project import CONF, SHIPPED_CHECKPOINT
from helpers.training import tiny_config

ATTENTIONS = sorted(path.stem for path in (CONF / "model" / "attention").glob("*.yaml"))
# The anchors' GPU recipes; world_files is the CPU recipe for rendered world pairs (test_world.py),
# finetune_folder the recipe for a user's own pairs (test_folder_dataset.py).
OWN_RECIPES = ("world_files", "finetune_folder")
EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml") if p.stem not in OWN_RECIPES)


def test_stage_weights_default_to_gwcnet_from_the_end_and_check_their_count() -> None:
    assert stage_weights(4) == [0.5, 0.5, 0.7, 1.0]
    assert stage_weights(2) == [0.7, 1.0]
    assert stage_weights(1) == [1.0]
    with pytest.raises(ValueError, match="2 entries but the network has 3 outputs"):
        stage_weights(3, [1.0, 1.0])


def test_loss_is_weighted_smooth_l1_over_valid_pixels_below_max_disparity() -> None:
    target = torch.tensor([[[1.0, 5.0, 40.0, 7.0]]])
    valid = torch.tensor([[[True, True, True, False]]])  # 40 >= max disparity 32, 7 has no ground truth
    coarse, final = torch.tensor([[[3.0, 5.5, 0.0, 0.0]]]), torch.tensor([[[1.0, 5.0, 99.0, 99.0]]])
    # smooth-L1 per pixel: |2| -> 1.5, |0.5| -> 0.125; the final output is exact on both kept pixels
    expected = 0.7 * (1.5 + 0.125) / 2 + 1.0 * 0.0
    loss = disparity_loss([coarse, final], target, valid, max_disparity=32)
    torch.testing.assert_close(loss, torch.tensor(expected))


def test_loss_without_valid_pixels_is_zero_and_differentiable() -> None:
    output = torch.ones(1, 2, 2, requires_grad=True)
    loss = disparity_loss([output], torch.zeros(1, 2, 2), torch.zeros(1, 2, 2, dtype=torch.bool), 32)
    loss.backward()
    assert loss.item() == 0 and torch.equal(output.grad, torch.zeros_like(output))


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiments_compose_with_the_anchors_recipe(experiment: str, tmp_path: Path) -> None:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[
                f"experiment={experiment}",
                "data.root=/datasets",
                "init_from=null",
                f"run_dir={tmp_path}",
            ],
        )
    assert cfg.model.max_disparity == 192 and cfg.model.name == "base"
    assert cfg.optimizer._target_ == "torch.optim.AdamW"
    assert cfg.scheduler._target_ == "torch.optim.lr_scheduler.OneCycleLR"
    assert cfg.trainer.max_steps >= 50000 and cfg.trainer.accelerator == "gpu"
    assert cfg.data.batch_size == 8
    assert cfg.model.attention.name == ("soft" if experiment == "sceneflow_soft" else "efficient")
    instantiate(cfg.data)  # the DataModule builds (datasets are read at setup)
    build_module(cfg)  # the base network, optimizer and schedule configs


@pytest.mark.parametrize("trainer", ["cpu", "gpu", "ddp"])
@pytest.mark.parametrize("logger", ["wandb", "csv", "none"])
def test_trainer_and_logger_configs_compose(trainer: str, logger: str, tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path, f"trainer={trainer}", f"logger={logger}")
    assert cfg.trainer.use_distributed_sampler is False
    if trainer == "ddp":
        assert cfg.trainer.strategy._target_.endswith("DDPStrategy") and cfg.trainer.sync_batchnorm
    if trainer == "cpu":
        instantiate(cfg.trainer, default_root_dir=tmp_path, logger=False)
    if logger == "none":
        assert cfg.logger is None
    else:
        instantiate(cfg.logger)  # W&B: offline, nothing started until first use


@pytest.mark.parametrize("attention", ATTENTIONS)
def test_fast_dev_run_trains_and_validates_with_every_block(attention: str, tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path, f"model/attention={attention}", "+trainer.fast_dev_run=true")
    result = train(cfg)
    assert result["steps"] == 1 and math.isfinite(result["epe"]) and 0 <= result["bad3"] <= 100


def test_run_writes_best_and_last_checkpoints_that_load_weights_only(tmp_path: Path) -> None:
    result = train(tiny_config(tmp_path, "logger=csv", "trainer.max_steps=3", "trainer.val_check_interval=1"))
    checkpoints = tmp_path / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == ["best.ckpt", "last.ckpt"]
    last = torch.load(checkpoints / "last.ckpt", map_location="cpu", weights_only=True)
    assert last["global_step"] == 3 and isinstance(last["hyper_parameters"]["model"], dict)
    assert last["optimizer_states"] and last["lr_schedulers"]
    # The network rebuilt from the checkpoint alone reproduces the run's final validation EPE.
    network = network_from_checkpoint(checkpoints / "last.ckpt")
    datamodule = instantiate(tiny_config(tmp_path).data)
    datamodule.setup("validate")
    epes = []
    with torch.no_grad():
        for batch in datamodule.val_dataloader():
            prediction = network(batch["left"], batch["right"])["disparity"]
            mask = batch["valid"] & (batch["disparity"] < 32) & (batch["disparity"] > 0)
            epes.append(((prediction - batch["disparity"]).abs()[mask].sum(), mask.sum()))
    epe = sum(e for e, _ in epes) / sum(n for _, n in epes)
    assert epe.item() == pytest.approx(result["epe"], rel=1e-4)
    images = sorted((tmp_path / "images").glob("*.png"))
    assert [p.name for p in images] == [f"val_step{s:07d}.png" for s in (1, 2, 3)]
    assert (tmp_path / "csv" / "version_0" / "metrics.csv").read_text().count("val/epe") == 1


def test_real_pairs_are_validated_on_densely_next_to_the_split(tmp_path: Path) -> None:
    real = tmp_path / "real"
    truth = write_middlebury2006_scene(real, size=(40, 64))
    assert (truth > 32).any()  # beyond the model's range: dense scoring still counts these pixels
    overrides = [f"real_validation={{root:'{real}',scale:1.0}}", "baseline=sgbm", "trainer.max_steps=2"]
    result = train(tiny_config(tmp_path / "run", "trainer.val_check_interval=1", *overrides))
    # The final weights, scored on the pair as evaluate.py scores data=aloe: every pixel with ground truth.
    network = network_from_checkpoint(tmp_path / "run" / "checkpoints" / "last.ckpt")
    sample = Middlebury2006(real)[0]
    methods = {"model": network_predictor(network, torch.device("cpu")), "sgbm": sgbm_predictor(32)}
    _, expected = evaluate([sample], methods, PROTOCOLS["aloe"], 32)
    for key in ("epe", "bad1", "bad2", "bad3", "d1"):
        assert result[f"real_{key}"] == pytest.approx(expected["model"][key], rel=1e-4, abs=1e-6), key
        assert result[f"real_sgbm_{key}"] == pytest.approx(expected["sgbm"][key], rel=1e-6), key
    assert "epe" in result and "sgbm_epe" in result  # the synthetic split's figures are still there
    images = sorted(p.name for p in (tmp_path / "run" / "images").glob("val_real_*.png"))
    assert images == ["val_real_step0000001.png", "val_real_step0000002.png"]
    report = format_report(result, tmp_path / "run")
    assert f"| real pair EPE (px) | {result['real_epe']:.3f} | {result['real_sgbm_epe']:.3f} |" in report


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{root:'ROOT',scale:0}", "real_validation.scale=0: expected a finite number > 0"),
        ("{root:'ROOT',scale:2.0}", "real_validation.scale=2: expected a size in (0, 1]"),
        ("{root:'ROOT'}", "expected null or {root: FOLDER, scale: 0.333333}"),
        ("{root:'ROOT/missing',scale:0.5}", "missing: no such directory; expected"),
    ],
)
def test_a_bad_real_validation_option_fails_before_training(value: str, message: str, tmp_path: Path) -> None:
    write_middlebury2006_scene(tmp_path / "real")
    cfg = tiny_config(tmp_path / "run", f"real_validation={value.replace('ROOT', str(tmp_path / 'real'))}")
    with pytest.raises(ValueError, match=re.escape(message)):
        train(cfg)
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_reading_a_missing_or_foreign_checkpoint_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"nothing\.ckpt: checkpoint not found"):
        read_checkpoint(tmp_path / "nothing.ckpt")
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=r"junk\.ckpt: not a readable weights-only checkpoint"):
        read_checkpoint(junk)


def test_an_unreadable_checkpoint_says_which_of_three_things_is_wrong(tmp_path: Path) -> None:
    truncated, junk, pickled = tmp_path / "cut.ckpt", tmp_path / "junk.ckpt", tmp_path / "code.ckpt"
    truncated.write_bytes(SHIPPED_CHECKPOINT.read_bytes()[:100_000])
    junk.write_bytes(b"not a checkpoint")
    torch.save({"state_dict": {}, "args": argparse.Namespace(lr=1.0)}, pickled)
    expected = {
        truncated: "truncated, or another kind of file; it starts b'PK\\x03\\x04",
        junk: "truncated, or another kind of file; it starts b'not a ch'",
        pickled: "it holds Python objects besides weights: argparse.Namespace; no code in a file is run",
    }
    for path, reason in expected.items():
        with pytest.raises(CheckpointError) as refused:
            read_checkpoint(path)
        message = str(refused.value)
        assert message.startswith(f"{path}: not a readable weights-only checkpoint (") and reason in message
        assert "\n" not in message and "PyTorch 2.6" not in message


def test_fine_tuning_from_another_architecture_fails_clearly(tmp_path: Path) -> None:
    train(tiny_config(tmp_path / "small", "trainer.max_steps=1"))
    source = tmp_path / "small" / "checkpoints" / "last.ckpt"
    with pytest.raises(CheckpointError, match=r"last.ckpt: weights do not fit this network's architecture"):
        build_module(
            tiny_config(tmp_path / "base", "model=base", "model.max_disparity=32", f"init_from={source}")
        )


class InterruptAt(Callback):
    """Presses Ctrl-C (as Lightning sees it) when training reaches ``step``."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer: L.Trainer, *_) -> None:
        if trainer.global_step == self.step:
            raise KeyboardInterrupt


class ValidationSteps(Callback):
    def __init__(self) -> None:
        self.steps: list[int] = []

    def on_validation_end(self, trainer: L.Trainer, *_) -> None:
        self.steps.append(trainer.global_step)


def network_state(run_dir: Path) -> dict[str, torch.Tensor]:
    return read_checkpoint(run_dir / "checkpoints" / "last.ckpt")["state_dict"]


@pytest.mark.parametrize("interrupt_at", [5, 8, 11])  # mid-epoch, at the epoch boundary, in the second epoch
def test_resuming_after_an_interruption_matches_an_uninterrupted_run(
    interrupt_at: int, tmp_path: Path
) -> None:
    # 16 pairs at batch 2 = 8 steps per epoch; 16 steps with augmentation and a one-cycle schedule.
    common = ["trainer.max_steps=16", "trainer.val_check_interval=8", "trainer.deterministic=true"]
    train(tiny_config(tmp_path / "whole", *common))
    try:
        with pytest.raises(SystemExit):  # Lightning exits after saving on Ctrl-C
            train(tiny_config(tmp_path / "parts", *common), extra_callbacks=[InterruptAt(interrupt_at)])
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # Lightning ignores further Ctrl-C
    halfway = read_checkpoint(tmp_path / "parts" / "checkpoints" / "last.ckpt")
    assert halfway["global_step"] == interrupt_at
    validations = ValidationSteps()
    resume = f"ckpt_path={tmp_path}/parts/checkpoints/last.ckpt"
    resumed = train(tiny_config(tmp_path / "parts", *common, resume), extra_callbacks=[validations])
    assert resumed["steps"] == 16
    assert validations.steps == [s for s in (8, 16) if s > interrupt_at]  # the uninterrupted schedule
    whole, parts = network_state(tmp_path / "whole"), network_state(tmp_path / "parts")
    assert whole.keys() == parts.keys()
    for key in whole:
        torch.testing.assert_close(parts[key], whole[key], rtol=1e-5, atol=1e-6, msg=key)
    # ... and not trivially: the interrupted state differs from the final one.
    assert not all(torch.allclose(halfway["state_dict"][k].float(), whole[k].float()) for k in whole)


def test_a_schedule_that_cannot_be_built_names_itself(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"scheduler .*OneCycleLR.* over 20 steps: ZeroDivisionError"):
        train(tiny_config(tmp_path, "trainer.max_steps=20"))  # pct_start 0.05: a one-step warm-up


def test_bf16_mixed_on_cpu_trains_without_non_finite_values(tmp_path: Path) -> None:
    result = train(tiny_config(tmp_path, "trainer.precision=bf16-mixed", "trainer.max_steps=3"))
    assert all(math.isfinite(result[k]) for k in ("epe", "bad1", "bad3"))
    weights = network_state(tmp_path)
    assert all(torch.isfinite(w).all() for w in weights.values() if w.is_floating_point())


class PoisonLosses(Callback):
    """Makes the network's outputs NaN from a given step on."""

    def __init__(self, from_step: int) -> None:
        self.from_step = from_step

    def on_train_batch_start(self, trainer: L.Trainer, module: L.LightningModule, *_) -> None:
        if trainer.global_step >= self.from_step and not hasattr(module.network, "poisoned"):
            module.network.poisoned = module.network.register_forward_hook(
                lambda _m, _i, out: {**out, "disparities": [d * math.nan for d in out["disparities"]]}
            )


def test_non_finite_losses_are_skipped_then_stop_the_run(tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path, "trainer.max_steps=30", "max_nonfinite_losses=3")
    skipped = pytest.warns(UserWarning, match=r"non-finite loss \(nan\), batch skipped \(1 of at most 3")
    stopped = pytest.raises(NonFiniteLossError, match="3 non-finite losses in a row, the last at step 4")
    with skipped, stopped:
        train(cfg, extra_callbacks=[PoisonLosses(from_step=2)])


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["data=synthetic"], 96),  # the built-in scenes' range
        (["data=sceneflow", "data.root=/x"], 192),
        (["data=kitti2015", "data.root=/x", "model=base"], 192),
        (["data=synthetic", "model.max_disparity=128"], 128),  # an explicit value wins
    ],
)
def test_the_model_range_follows_the_data_config(overrides: list[str], expected: int, tmp_path: Path) -> None:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=[*overrides, f"run_dir={tmp_path}"])
    assert cfg.model.max_disparity == expected
    assert build_module(cfg).network.max_disparity == expected
