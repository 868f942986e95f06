"""Writing generated pairs to disk in the Scene Flow (FlyingThings3D) layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torch.utils.data import DataLoader
from tqdm import tqdm

from stereo_attn import options
from stereo_attn.data.io import write_image, write_pfm
from stereo_attn.data.synthetic.generators import generator_dataset
from stereo_attn.data.synthetic.options import GeneratorOptions
from stereo_attn.data.synthetic.scenes import SyntheticConfig
from stereo_attn.staging import Staging

SPLIT_FOLDERS = {"train": "TRAIN", "test": "TEST"}


def pair_paths(root: Path, split: str, index: int, frames_per_sequence: int) -> dict[str, Path]:
    """Where pair ``index`` goes: frames_finalpass/<SPLIT>/A/<seq>/{left,right}/<frame>.png,
    disparity/<SPLIT>/A/<seq>/left/<frame>.pfm and its occlusion mask
    disparity_occlusions/<SPLIT>/A/<seq>/left/<frame>.png."""
    sequence, frame = divmod(index, frames_per_sequence)
    relative = Path(SPLIT_FOLDERS[split], "A", f"{sequence:04d}")
    name = f"{frame:04d}"
    return {
        "left": root / "frames_finalpass" / relative / "left" / f"{name}.png",
        "right": root / "frames_finalpass" / relative / "right" / f"{name}.png",
        "disparity": root / "disparity" / relative / "left" / f"{name}.pfm",
        "occlusion": root / "disparity_occlusions" / relative / "left" / f"{name}.png",
    }


def _as_is(sample: dict) -> dict:
    return sample


def export_synthetic(
    root: str | Path,
    split: str,
    count: int,
    seed: int = 0,
    config: GeneratorOptions | None = None,
    frames_per_sequence: int = 10,
    progress: bool = True,
    overwrite: bool = False,
    workers: int = 0,
) -> int:
    """Write ``count`` pairs of a split under ``root``; returns the count.

    The occlusion mask of a pair is a uint8 single-channel PNG, 255 where the left pixel is not visible
    in the right view and 0 where it is (FlyingThings3D's ``disparity_occlusions`` convention); a sample
    without ``valid_noc`` gets none. The split's three folders (``frames_finalpass/<SPLIT>``,
    ``disparity/<SPLIT>``, ``disparity_occlusions/<SPLIT>``) appear only when every pair is written. A
    root that already holds that split is refused unless ``overwrite``, which replaces it: pairs of two
    runs are never mixed. ``workers`` > 0 generates pairs in that many processes (written in order).
    """
    options.choice(split, "split", list(SPLIT_FOLDERS))
    count = options.integer(count, "count", minimum=1)
    frames_per_sequence = options.integer(frames_per_sequence, "frames_per_sequence", minimum=1)
    options.boolean(overwrite, "overwrite")
    workers = options.integer(workers, "workers", minimum=0)
    dataset = generator_dataset(config or SyntheticConfig(), split, count, seed)
    kinds = ("frames_finalpass", "disparity", "disparity_occlusions")
    folders = [str(Path(kind, SPLIT_FOLDERS[split])) for kind in kinds]
    with Staging(Path(root), folders, "root", replace=overwrite) as staging:
        for folder in folders:  # each one is published, even if no sample had a mask to put in it
            (staging / folder).mkdir(parents=True)
        # One pair per item, in index order; with workers the generation runs beside the writing.
        samples = DataLoader(dataset, batch_size=None, num_workers=workers, collate_fn=_as_is)
        bar = tqdm(samples, total=count, desc=f"writing {split} pairs", unit="pair", disable=not progress)
        for index, sample in enumerate(bar):
            paths = pair_paths(staging, split, index, frames_per_sequence)
            valid_noc = sample.get("valid_noc")
            if valid_noc is None:
                del paths["occlusion"]
            for path in paths.values():
                path.parent.mkdir(parents=True, exist_ok=True)
            write_image(paths["left"], sample["left"])
            write_image(paths["right"], sample["right"])
            write_pfm(paths["disparity"], sample["disparity"])
            if valid_noc is not None:
                occluded = ~np.asarray(valid_noc, dtype=bool)
                write_image(paths["occlusion"], np.where(occluded, 255, 0).astype(np.uint8))
    return count
