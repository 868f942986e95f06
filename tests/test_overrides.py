"""Mistyped command-line overrides: one line naming the override and what was expected, before Hydra runs."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from stereo_attn.overrides import check_overrides, override_error, sweep_runs

from helpers.project import ROOT


@pytest.mark.parametrize(
    ("config", "overrides", "message"),
    [
        ("train", ["trainer.max_step=3"],
         "trainer.max_step=3: no option 'max_step' in trainer (did you mean max_steps?); "
         "+trainer.max_step=3 would add it as a new key"),
        ("evaluate", ["data=aloe", "data.test.0.scal=0.5"],
         "data.test.0.scal=0.5: no option 'scal' in data.test.0 (did you mean scale?); "
         "+data.test.0.scal=0.5 would add it as a new key"),
        ("infer", ["output_dir=/tmp/x", "scale=0"],
         "scale=0: no option 'scale' in infer's config; +scale=0 would add it as a new key"),
        ("evaluate", ["model.max_disparity=64"],
         "model.max_disparity=64: no option 'model' in evaluate's config; "
         "+model.max_disparity=64 would add it as a new key"),
        ("train", ["model/attention=sfot"],
         "model/attention=sfot: no model/attention config of that name; expected one of dot_product, "
         "efficient, guided, none, polynl, soft, soft_lean"),
        # Two mistakes: Hydra stops at the first; the options beside it still come from the others.
        ("evaluate", ["nosuch=1", "data.rooot=/x"],
         "nosuch=1: no option 'nosuch' in evaluate's config; +nosuch=1 would add it as a new key"),
        ("evaluate", ["data.rooot=/x", "nosuch=1"],
         "data.rooot=/x: no option 'rooot' in data (did you mean root?); "
         "+data.rooot=/x would add it as a new key"),
        ("evaluate", ["data=aloe", "data.test.3.scale=1"],
         "Error merging override data.test.3.scale=1: list index out of range"),
    ],
)  # fmt: skip
def test_each_refused_override_is_one_line_naming_it(config: str, overrides: list[str], message: str) -> None:
    assert override_error(config, overrides) == message


def test_a_malformed_override_names_itself_and_the_expected_form() -> None:
    message = override_error("evaluate", ["limit=2", "a=[1,"])
    assert message.startswith("a=[1,: not an override Hydra can read (")
    assert message.endswith("expected key=value") and "\n" not in message


@pytest.mark.parametrize(
    ("config", "overrides"),
    [
        ("evaluate", ["data=aloe", "data.test.0.scale=0.5", "hydra.run.dir=/tmp/x", "+extra=1"]),
        ("train", ["model/attention=soft", "trainer.max_steps=3", "~callbacks.progress"]),
        ("infer", []),
    ],
)
def test_overrides_hydra_takes_pass(config: str, overrides: list[str]) -> None:
    assert override_error(config, overrides) is None


def test_hydra_flags_other_than_multirun_leave_the_check_to_hydra() -> None:
    check_overrides("train", ["--cfg", "job", "nosuch=1"])  # returns
    check_overrides("train", ["--multirun", "data=glob(*)", "nosuch=1"])  # a glob sweep: Hydra's


def test_a_multirun_checks_every_value_of_its_sweeps_once() -> None:
    runs = sweep_runs(["model/attention=efficient,soft,sfot", "trainer.max_steps=range(1,3)", "seed=0"])
    assert runs == [
        ["model/attention=efficient", "trainer.max_steps=1", "seed=0"],
        ["model/attention=soft", "trainer.max_steps=1", "seed=0"],
        ["model/attention=sfot", "trainer.max_steps=1", "seed=0"],
        ["model/attention=efficient", "trainer.max_steps=2", "seed=0"],
    ]
    assert sweep_runs(["+name='a b',c"]) == [["+name='a b'"], ["+name=c"]]
    assert len(sweep_runs(["seed=range(0,32)"])) == 32 and sweep_runs(["seed=range(0,33)"]) is None


def test_a_multirun_with_a_bad_sweep_value_exits_1(capsys) -> None:
    check_overrides("train", ["-m", "model/attention=efficient,soft", "trainer.max_steps=1,2"])  # returns
    with pytest.raises(SystemExit) as stopped:
        check_overrides("train", ["-m", "model/attention=efficient,sfot"])
    assert stopped.value.code == 1
    assert capsys.readouterr().err.startswith(
        "error: model/attention=sfot: no model/attention config of that name; expected one of"
    )


def test_a_refused_override_exits_1(capsys) -> None:
    with pytest.raises(SystemExit) as stopped:
        check_overrides("evaluate", ["data.rooot=/x"])
    assert stopped.value.code == 1
    assert capsys.readouterr().err == (
        "error: data.rooot=/x: no option 'rooot' in data (did you mean root?); "
        "+data.rooot=/x would add it as a new key\n"
    )


def test_every_script_checks_its_own_config() -> None:
    for script in sorted((ROOT / "scripts").glob("*.py")):
        source = script.read_text()
        (config,) = re.findall(r'config_name="(\w+)"', source)
        assert f'    check_overrides("{config}")\n    main()' in source, script.name


def test_the_train_script_refuses_a_typo_in_one_line_before_it_starts() -> None:
    command = [sys.executable, "scripts/train.py", "trainer.max_step=3"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.splitlines() == [
        "error: trainer.max_step=3: no option 'max_step' in trainer (did you mean max_steps?); "
        "+trainer.max_step=3 would add it as a new key"
    ]
