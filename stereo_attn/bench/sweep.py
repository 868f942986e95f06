"""The loop every benchmark shares: one fresh process per configuration, a progress line each, and the
body of the ``scripts/bench_*.py`` sweeps."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from omegaconf import OmegaConf

from stereo_attn import options
from stereo_attn.bench.measure import run_isolated
from stereo_attn.data.writers import write_json_atomic


def sweep(
    configurations: Sequence[tuple[dict[str, Any], dict[str, Any] | None]],
    module: str,
    timeout_s: float,
    outcome: Callable[[dict[str, Any]], str],
) -> list[dict[str, Any]]:
    """Measure each ``(record, spec)``: ``python -m module spec`` in a fresh process, its result merged
    into the record with ``feasible`` (False with an ``error`` when the process failed). A spec of None
    keeps the record as it is (known infeasible without running). Prints ``[i/n] outcome(record)``."""
    records = []
    for record, spec in configurations:
        if spec is not None:
            result = run_isolated(module, spec, timeout_s)
            record = {**record, **result, "feasible": "error" not in result}
        records.append(record)
        print(f"[{len(records)}/{len(configurations)}] {outcome(record)}", flush=True)
    return records


def run_sweep(
    cfg: Any, run_benchmark: Callable[..., list[dict[str, Any]]], summarize: Callable[[list], str]
) -> None:
    """The body of every scripts/bench_*.py sweep: run with the config's settings, print the table,
    write the records to ``cfg.output``. Model presets lose their own ``attention``: each run gets
    one of the configured blocks instead."""
    settings = OmegaConf.to_container(cfg, resolve=True)
    settings.pop("paths", None)  # already resolved into the settings that use it
    output = options.path(settings.pop("output"), "output")
    if output.is_dir():  # found now rather than after an hour of measuring
        raise options.OptionError(f"output={output}: is a folder; expected the path of a .json file")
    options.check_arguments(settings, run_benchmark)
    for model in settings.get("models", {}).values():
        model.pop("attention", None)
    records = run_benchmark(**settings)
    print(summarize(records))
    write_json_atomic(output, records)
    print(f"wrote {len(records)} records to {output}")
