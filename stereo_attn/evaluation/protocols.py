"""Each benchmark's scoring protocol: which pixels count, and which region the headline figures come from.

From ../shared/DESIGN.md:
- Scene Flow, synthetic: every pixel with 0 < gt < max disparity (192 on Scene Flow), full frames.
- KITTI 2012/2015: all pixels with ground truth (the occ maps), and the non-occluded (noc) maps too.
- Middlebury 2014, ETH3D: non-occluded pixels (mask0nocc == 255) with finite ground truth; all valid too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from stereo_attn.evaluation.metrics import in_range_mask


@dataclass(frozen=True)
class Protocol:
    headline: str  # "all" or "noc": the region the summary's top-level metrics come from
    range_cut: bool  # count only 0 < gt < max disparity (Scene Flow's rule)


PROTOCOLS = {
    "synthetic": Protocol("all", range_cut=True),
    "world": Protocol("all", range_cut=True),
    "aloe": Protocol("all", range_cut=False),  # dense: every pixel with ground truth
    "sceneflow": Protocol("all", range_cut=True),
    "kitti2015": Protocol("all", range_cut=False),
    "kitti2012": Protocol("all", range_cut=False),
    "kitti_mix": Protocol("all", range_cut=False),
    "middlebury": Protocol("noc", range_cut=False),
    "eth3d": Protocol("noc", range_cut=False),
    "folder": Protocol("all", range_cut=False),  # your own pairs: every pixel with ground truth (and mask)
}


def regions(sample: dict[str, Any], protocol: Protocol, max_disparity: float) -> dict[str, np.ndarray]:
    """The masks a sample is scored on: "all" (every valid pixel) and "noc" (non-occluded)."""
    target = np.asarray(sample["disparity"])
    masks = {"all": np.asarray(sample["valid"]), "noc": np.asarray(sample["valid_noc"])}
    if protocol.range_cut:
        masks = {name: in_range_mask(target, mask, max_disparity) for name, mask in masks.items()}
    return masks
