"""scripts/export.py's job: a checkpoint's network to ONNX, checked against torch, with a report."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

from stereo_attn import options
from stereo_attn.checkpoint import network_from_checkpoint
from stereo_attn.data.writers import markdown_table
from stereo_attn.deploy.onnx_export import TOLERANCE, check_sizes, export_onnx


def run(cfg: DictConfig) -> dict[str, Any]:
    checkpoint = options.path(cfg.checkpoint, "checkpoint")
    output = options.path(cfg.output, "output")
    if output.suffix != ".onnx":
        raise options.OptionError(f"output={output}: expected a file name ending in .onnx")
    if output.is_dir():
        raise options.OptionError(f"output={output}: is a folder; expected the path of an .onnx file")
    if output.exists() and not options.boolean(cfg.overwrite, "overwrite"):
        raise options.OptionError(f"output={output}: exists; choose another output or set overwrite=true")
    sizes = check_sizes(OmegaConf.to_container(cfg.check_sizes) if cfg.check_sizes is not None else None)
    inverse = options.choice(cfg.soft_inverse, "soft_inverse", [None, "newton"])
    reference = network_from_checkpoint(checkpoint, cfg.max_disparity).eval()
    network = reference
    if (
        inverse is not None
    ):  # a copy whose SOFT blocks use the exportable inverse; checked against the original
        network = network_from_checkpoint(checkpoint, cfg.max_disparity).eval()
        for module in network.modules():
            if getattr(module, "inverse", None) == "solve":
                module.inverse = inverse
    metadata = {"max_disparity": network.max_disparity, "checkpoint": checkpoint.name}
    rows = export_onnx(network, output, metadata, sizes, reference=reference)
    return {"output": output, "max_disparity": network.max_disparity, "checks": rows}


def report(summary: dict[str, Any]) -> str:
    rows = [[f"{r['width']}x{r['height']}", f"{r['max_abs_difference']:.2e}"] for r in summary["checks"]]
    table = markdown_table(["size", "max abs disparity difference from torch (px)"], rows)
    written = f"wrote {summary['output']} (max_disparity {summary['max_disparity']}; at most {TOLERANCE} px)"
    return f"{table}\n{written}"
