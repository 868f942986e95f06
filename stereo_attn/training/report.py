"""The final report a training run prints: its validation metrics next to StereoSGBM's."""

from __future__ import annotations

from pathlib import Path

from stereo_attn.data.writers import markdown_table

METRICS = (
    ("epe", "EPE (px)"),
    ("bad1", "bad-1 (%)"),
    ("bad2", "bad-2 (%)"),
    ("bad3", "bad-3 (%)"),
    ("d1", "D1 (%)"),
)


def format_report(result: dict[str, float], run_dir: str | Path) -> str:
    """The validation split's figures, then (with ``real_validation``) the real pairs' (``real_*``)."""
    has_baseline = "sgbm_epe" in result
    headers = ["validation", "model", *(["StereoSGBM"] if has_baseline else [])]
    rows = []
    for prefix, name in (("", ""), ("real_", "real pair ")):
        if f"{prefix}epe" not in result:
            continue
        for key, label in METRICS:
            baseline = [f"{result[f'{prefix}sgbm_{key}']:.3f}"] if has_baseline else []
            rows.append([f"{name}{label}", f"{result[f'{prefix}{key}']:.3f}", *baseline])
    checkpoints = Path(run_dir) / "checkpoints"
    return f"{markdown_table(headers, rows)}\nafter {result['steps']} steps; checkpoints in {checkpoints}"
