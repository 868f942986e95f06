"""Command-line overrides checked before Hydra runs a script, so a mistyped option costs one line.

Hydra reports an unknown key, a missing config of a group or a malformed override in five to twenty
lines that end in a hint about HYDRA_FULL_ERROR. Composing the script's config once beforehand with the
same overrides finds the same mistakes (in about 0.15 s); each becomes one ``error:`` line naming the
override and what was expected, with exit code 1. Under ``--multirun`` every value of a choice or
range sweep is checked (one composition per value). Hydra's other flags (``--cfg``, ``-cn``, ...) and
other sweeps leave the check to Hydra.
"""

from __future__ import annotations

import difflib
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, RangeSweep
from hydra.errors import HydraException, MissingConfigException, OverrideParseException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from stereo_attn.cli import fail, one_line

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
MULTIRUN_FLAGS = {"-m", "--multirun"}
# Each checked run is one composition (0.15 s); longer sweeps are left to Hydra's own validation.
MAX_SWEEP_RUNS = 32
UNKNOWN_KEY = re.compile(r"Could not override '([^']+)'\.\nTo append to your config use")


def check_overrides(config_name: str, arguments: Sequence[str] | None = None) -> None:
    """Exit with one error line if Hydra would refuse the command line's overrides."""
    arguments = list(sys.argv[1:] if arguments is None else arguments)
    overrides = [argument for argument in arguments if not argument.startswith("-")]
    flags = {argument for argument in arguments if argument.startswith("-")}
    # Hydra's flags change what is composed; a package installed away from the repository has no conf/.
    if not flags <= MULTIRUN_FLAGS or not CONF_DIR.is_dir():
        return
    runs = sweep_runs(overrides) if flags else [overrides]
    for run in runs or []:
        message = override_error(config_name, run)
        if message is not None:
            fail(message)


def sweep_runs(overrides: Sequence[str]) -> list[list[str]] | None:
    """Override lists that together try every value of every choice or range sweep once: all sweeps at
    their first value, then one sweep at a time at each other value. None where a sweep of another kind
    (glob, interval), a value that does not read back or more than MAX_SWEEP_RUNS runs make the check
    Hydra's alone."""
    parser = OverridesParser.create()
    try:
        parsed = parser.parse_overrides(list(overrides))
    except OverrideParseException:
        return [list(overrides)]  # override_error names the unreadable one
    choices = []
    for text, override in zip(overrides, parsed, strict=True):
        if not override.is_sweep_override():
            choices.append([text])
            continue
        if not isinstance(override.value(), ChoiceSweep | RangeSweep):
            return None
        values = [f"{override.get_key_element()}={value}" for value in override.sweep_string_iterator()]
        try:
            parser.parse_overrides(values)
        except OverrideParseException:
            return None
        choices.append(values)
    first = [values[0] for values in choices]
    runs = [first]
    for index, values in enumerate(choices):
        runs += [[*first[:index], value, *first[index + 1 :]] for value in values[1:]]
    return runs if len(runs) <= MAX_SWEEP_RUNS else None


def override_error(config_name: str, overrides: Sequence[str]) -> str | None:
    """The one-line message for the first override Hydra would refuse, None if it takes them all."""
    parser = OverridesParser.create()
    for override in overrides:
        try:
            parser.parse_overrides([override])
        except OverrideParseException as error:
            return f"{override}: not an override Hydra can read ({one_line(error)}); expected key=value"
    try:
        compose_config(config_name, overrides)
    except MissingConfigException as error:
        group = (error.missing_cfg_file or "").rpartition("/")[0]
        given = [o for o in overrides if o.lstrip("+").split("=", 1)[0] == group] or overrides
        if group and error.options:
            return f"{given[0]}: no {group} config of that name; expected one of {', '.join(error.options)}"
        return one_line(error)
    except (HydraException, OmegaConfBaseException) as error:
        unknown = UNKNOWN_KEY.match(str(error))
        if unknown is not None:
            return unknown_key_message(config_name, overrides, unknown.group(1))
        # e.g. "Error merging override data.test.3.scale=1" caused by "list index out of range"
        cause = error.__cause__
        return f"{one_line(error)}: {str(cause).splitlines()[0]}" if cause is not None else one_line(error)
    return None


def unknown_key_message(config_name: str, overrides: Sequence[str], key: str) -> str:
    """``data.rooot=/x: no option 'rooot' in data (did you mean root?); +data.rooot=... adds it``."""
    override = next((o for o in overrides if o.split("=", 1)[0] == key), key)
    position = overrides.index(override) if override in overrides else len(overrides)
    # The options beside the key come from the config without it; another bad override among the
    # rest falls back to the ones before it (Hydra applied those), then to the script's own config.
    others = [o for o in overrides if o != override]
    config = first_composable(config_name, [others, list(overrides[:position]), []])
    parts = key.split(".")
    # The first part of the key that the config lacks, and the options beside it.
    parent, depth = config, 0
    while depth < len(parts) - 1:
        child = OmegaConf.select(config, ".".join(parts[: depth + 1]))
        if child is None:
            break
        parent, depth = child, depth + 1
    missing = parts[depth]
    where = ".".join(parts[:depth]) or f"{config_name}'s config"
    siblings = [str(k) for k in parent] if isinstance(parent, DictConfig) else []
    close = difflib.get_close_matches(missing, siblings, n=3, cutoff=0.7)
    hint = f" (did you mean {' or '.join(close)}?)" if close else ""
    return f"{override}: no option {missing!r} in {where}{hint}; +{override} would add it as a new key"


def first_composable(config_name: str, candidates: Sequence[Sequence[str]]) -> DictConfig:
    """The config composed with the first list of overrides that Hydra takes (an empty one if none)."""
    for overrides in candidates:
        try:
            return compose_config(config_name, overrides)
        except (HydraException, OmegaConfBaseException):
            continue
    return OmegaConf.create()


def compose_config(config_name: str, overrides: Sequence[str]) -> DictConfig:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name, overrides=list(overrides), return_hydra_config=True)
