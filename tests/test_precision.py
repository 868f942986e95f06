"""trainer.precision=auto: bf16 autocast only where the hardware has bf16, and what the trainer then runs."""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import Callback

from stereo_attn.training import precision
from stereo_attn.training.precision import native_bf16, resolve_precision
from stereo_attn.training.run import train

from helpers.project import compose_config
from helpers.training import tiny_config


def cpu_with(monkeypatch: pytest.MonkeyPatch, **flags: bool) -> None:
    """Pretend the CPU reports these flags (every bf16 flag not named reads False)."""
    for name in precision.CPU_BF16_FLAGS:
        value = flags.get(name, False)
        monkeypatch.setattr(torch.cpu, name, lambda value=value: value)


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ({}, "32-true"),
        ({"_is_avx512_bf16_supported": True}, "bf16-mixed"),
        ({"_is_amx_tile_supported": True}, "bf16-mixed"),
    ],
)
def test_auto_on_a_cpu_picks_bf16_only_with_bf16_units(monkeypatch, flags, expected) -> None:
    cpu_with(monkeypatch, **flags)
    assert resolve_precision("auto", "cpu") == expected


@pytest.mark.parametrize(("bf16", "expected"), [(True, "bf16-mixed"), (False, "16-mixed")])
def test_auto_on_a_gpu_falls_back_to_fp16_before_ampere(monkeypatch, bf16, expected) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    asked = []
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda **kw: asked.append(kw) or bf16)
    assert resolve_precision("auto", "gpu") == expected
    assert resolve_precision("auto", "auto") == expected  # Lightning's auto accelerator finds the GPU
    assert asked[0] == {"including_emulation": False}  # emulated bf16 is what auto must avoid


def test_auto_accelerator_without_a_gpu_is_the_cpu(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    cpu_with(monkeypatch)
    assert resolve_precision("auto", "auto") == "32-true"


@pytest.mark.parametrize("value", ["32-true", "16-mixed", "bf16-mixed", "64-true"])
def test_an_explicit_precision_is_kept(monkeypatch, value) -> None:
    cpu_with(monkeypatch, _is_amx_tile_supported=True)
    assert resolve_precision(value, "cpu") == value


def test_explicit_bf16_without_bf16_units_warns_but_is_kept(monkeypatch, caplog) -> None:
    cpu_with(monkeypatch)
    with caplog.at_level(logging.WARNING, logger=precision.__name__):
        assert resolve_precision("bf16-mixed", "cpu") == "bf16-mixed"
    assert "no native bf16" in caplog.text and "trainer.precision=auto" in caplog.text
    caplog.clear()
    cpu_with(monkeypatch, _is_avx512_bf16_supported=True)
    with caplog.at_level(logging.WARNING, logger=precision.__name__):
        resolve_precision("bf16-mixed", "cpu")
    assert caplog.text == ""


def test_this_cpu_reports_bf16_consistently_with_its_instruction_set() -> None:
    """A CPU whose best kernels are AVX2 or older cannot have AVX512-BF16; torch's two views agree."""
    capability = torch.backends.cpu.get_cpu_capability()
    if capability not in ("DEFAULT", "AVX2"):
        pytest.skip(f"this CPU's kernels are {capability}: it may or may not have bf16 units")
    assert not native_bf16("cpu")


def test_the_shipped_trainers_default_to_auto() -> None:
    for trainer in ("cpu", "gpu", "ddp"):
        assert compose_config("train", f"trainer={trainer}").trainer.precision == "auto", trainer


class RecordPrecision(Callback):
    def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.precision = trainer.precision


@pytest.mark.parametrize("bf16_units", [False, True])
def test_training_with_auto_runs_the_resolved_precision(tmp_path: Path, monkeypatch, bf16_units) -> None:
    cpu_with(monkeypatch, _is_amx_tile_supported=bf16_units)
    cfg = tiny_config(tmp_path, "trainer.precision=auto", "trainer.max_steps=1")
    seen = RecordPrecision()
    train(cfg, extra_callbacks=[seen])
    expected = "bf16-mixed" if bf16_units else "32-true"
    assert seen.precision == expected
    assert cfg.trainer.precision == expected  # what the logged hyperparameters record
