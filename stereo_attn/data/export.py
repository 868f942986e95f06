"""Writing generated pairs to disk in the Scene Flow (FlyingThings3D) layout."""

from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from .io import write_image, write_pfm
from .synthetic import SyntheticConfig, SyntheticStereo

SPLIT_FOLDERS = {"train": "TRAIN", "test": "TEST"}


def pair_paths(root: Path, split: str, index: int, frames_per_sequence: int) -> dict[str, Path]:
    """Where pair ``index`` goes: frames_finalpass/<SPLIT>/A/<seq>/{left,right}/<frame>.png and
    disparity/<SPLIT>/A/<seq>/left/<frame>.pfm."""
    sequence, frame = divmod(index, frames_per_sequence)
    relative = Path(SPLIT_FOLDERS[split], "A", f"{sequence:04d}")
    name = f"{frame:04d}"
    return {
        "left": root / "frames_finalpass" / relative / "left" / f"{name}.png",
        "right": root / "frames_finalpass" / relative / "right" / f"{name}.png",
        "disparity": root / "disparity" / relative / "left" / f"{name}.pfm",
    }


def export_synthetic(
    root: str | Path,
    split: str,
    count: int,
    seed: int = 0,
    config: SyntheticConfig | None = None,
    frames_per_sequence: int = 10,
    progress: bool = True,
) -> int:
    """Write ``count`` pairs of a split; each file is written atomically. Returns the count."""
    if split not in SPLIT_FOLDERS:
        raise ValueError(
            f"split must be one of {list(SPLIT_FOLDERS)} (Scene Flow has no validation folder), got {split!r}"
        )
    if count < 1 or frames_per_sequence < 1:
        raise ValueError(f"count and frames_per_sequence must be >= 1, got {count} and {frames_per_sequence}")
    dataset = SyntheticStereo(split, count, seed, config)
    for index in tqdm(range(count), desc=f"writing {split} pairs", unit="pair", disable=not progress):
        sample = dataset[index]
        paths = pair_paths(Path(root), split, index, frames_per_sequence)
        for path in paths.values():
            path.parent.mkdir(parents=True, exist_ok=True)
        write_image(paths["left"], sample["left"])
        write_image(paths["right"], sample["right"])
        write_pfm(paths["disparity"], sample["disparity"])
    return count
