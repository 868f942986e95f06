"""Training augmentation for stereo samples: crop, photometric jitter, occlusions, scale, vertical shift.

The anchors (PSMNet, GwcNet, RAFT-Stereo, IGEV) train on random crops with asymmetric colour jitter, grey
boxes pasted into the right image, random scale/stretch and small vertical shifts; this module provides
each of them as a small, separately switchable transform. Evaluation uses none (``build_eval_transforms``).

Conventions (``sample.py`` describes the sample dict):

- A transform is called as ``transform(sample, rng) -> new sample``. It never mutates its input: arrays
  it changes are new, arrays it does not change are shared (no transform writes into an array), and
  ``meta`` is copied.
- Determinism: every random number comes from the ``numpy.random.Generator`` passed in per call, so the
  same sample and the same generator state give the same output. Training makes one generator per
  item, ``sample_rng(seed, index, epoch)``, which makes results independent of the number of
  DataLoader workers and of the order they take items.
- Geometry stays consistent: the left view is the reference, so for every valid pixel
  ``left(y, x) == right(y, x - disparity(y, x))`` holds before and after each geometric transform
  (``VerticalShift`` breaks it on purpose, by the shift it records in ``meta``).
- Each transform records what it drew in ``meta`` under a fixed key (``crop``, ``color_asymmetric``,
  ``occlusion_box``, ``scale``, ``vertical_shift``), also when it drew "do nothing", so all samples of a
  batch carry the same keys and PyTorch's default collate can batch them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, Literal, Protocol

import cv2
import numpy as np

from stereo_attn.data.sample import ARRAY_KEYS, Sample

Range = float | tuple[float, float]

_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


class Transform(Protocol):
    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample: ...


def sample_rng(seed: int, index: int, epoch: int = 0) -> np.random.Generator:
    """The generator for one item: a different stream per (seed, epoch, index), the same on every run."""
    return np.random.default_rng([seed, epoch, index])


def _updated(sample: Sample, meta: Mapping[str, Any] | None = None, **arrays: np.ndarray) -> Sample:
    """A new sample dict: ``arrays`` replace entries, ``meta`` entries go into a copy of the meta."""
    return {**sample, **arrays, "meta": {**sample["meta"], **(meta or {})}}


def _check_prob(prob: float, name: str = "prob") -> float:
    if not 0.0 <= prob <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {prob}")
    return float(prob)


def _corner(rng: np.random.Generator, size: tuple[int, int], box: tuple[int, int]) -> tuple[int, int]:
    """A uniformly random top-left corner for a ``box`` (height, width) inside ``size``."""
    return int(rng.integers(0, size[0] - box[0] + 1)), int(rng.integers(0, size[1] - box[1] + 1))


class RandomCrop:
    """Cut the same random ``height`` x ``width`` window out of both views and the ground truth.

    Moving both views by the same horizontal offset leaves ``x_left - x_right`` unchanged, so the
    disparity values stay as they are. An image smaller than the crop is first padded at the bottom and
    right with zeros (``valid`` False there), which keeps pixel coordinates, so every crop has the
    requested size and samples batch together. Records ``meta["crop"] = (top, left)``.
    """

    def __init__(self, height: int, width: int) -> None:
        if height <= 0 or width <= 0:
            raise ValueError(f"crop size must be positive, got {height}x{width}")
        self.height, self.width = int(height), int(width)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        height, width = sample["left"].shape[:2]
        pad_h, pad_w = max(self.height - height, 0), max(self.width - width, 0)
        top, left = _corner(rng, (height + pad_h, width + pad_w), (self.height, self.width))
        arrays = {}
        for key in ARRAY_KEYS:
            array = sample[key]
            if pad_h or pad_w:
                array = np.pad(array, [(0, pad_h), (0, pad_w)] + [(0, 0)] * (array.ndim - 2))
            arrays[key] = array[top : top + self.height, left : left + self.width].copy()
        return _updated(sample, {"crop": (top, left)}, **arrays)

    def __repr__(self) -> str:
        return f"RandomCrop({self.height}, {self.width})"


def _factor_range(value: Range, name: str) -> tuple[float, float]:
    """``v`` means factors in [max(0, 1 - v), 1 + v] (torchvision's convention); a pair is taken as is."""
    low, high = (max(0.0, 1.0 - value), 1.0 + value) if isinstance(value, (int, float)) else value
    if not 0.0 <= low <= high:
        raise ValueError(f"{name}: need 0 <= low <= high, got ({low}, {high})")
    return float(low), float(high)


class ColorJitter:
    """Random brightness, contrast, saturation and gamma; geometry and ground truth untouched.

    Real stereo cameras differ in exposure and white balance, so with probability ``asymmetric_prob``
    the two views get independent factors (the network must not rely on equal intensities), otherwise
    the same ones. Each factor range is ``v`` -> [1 - v, 1 + v] or an explicit ``(low, high)``; the
    steps run in a fixed order, each clipped to [0, 1]. Records ``meta["color_asymmetric"]``.
    """

    def __init__(
        self,
        brightness: Range = 0.4,
        contrast: Range = 0.4,
        saturation: Range = 0.4,
        gamma: Range = 0.2,
        asymmetric_prob: float = 0.2,
    ) -> None:
        self.ranges = {
            "brightness": _factor_range(brightness, "brightness"),
            "contrast": _factor_range(contrast, "contrast"),
            "saturation": _factor_range(saturation, "saturation"),
            "gamma": _factor_range(gamma, "gamma"),
        }
        if self.ranges["gamma"][0] <= 0:
            raise ValueError(f"gamma must stay positive, got range {self.ranges['gamma']}")
        self.asymmetric_prob = _check_prob(asymmetric_prob, "asymmetric_prob")

    def _draw(self, rng: np.random.Generator) -> dict[str, float]:
        return {name: float(rng.uniform(low, high)) for name, (low, high) in self.ranges.items()}

    @staticmethod
    def _apply(
        image: np.ndarray, brightness: float, contrast: float, saturation: float, gamma: float
    ) -> np.ndarray:
        image = np.clip(image * brightness, 0, 1)
        mean = float((image @ _LUMA).mean())
        image = np.clip((image - mean) * contrast + mean, 0, 1)
        gray = (image @ _LUMA)[..., None]
        image = np.clip((image - gray) * saturation + gray, 0, 1)
        return (image**gamma).astype(np.float32)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        asymmetric = bool(rng.random() < self.asymmetric_prob)
        left_factors = self._draw(rng)
        right_factors = self._draw(rng) if asymmetric else left_factors
        return _updated(
            sample,
            {"color_asymmetric": asymmetric},
            left=self._apply(sample["left"], **left_factors),
            right=self._apply(sample["right"], **right_factors),
        )

    def __repr__(self) -> str:
        return f"ColorJitter({self.ranges}, asymmetric_prob={self.asymmetric_prob})"


class RandomOcclusion:
    """With probability ``prob``, cover a random rectangle of the right image; ground truth unchanged.

    The left view is the reference, so its ground truth stays; the covered pixels lose their match and
    the network learns to fill such regions from context, as it must in real occlusions. ``fill="mean"``
    paints the right image's mean colour (RAFT-Stereo's eraser), ``"patch"`` copies a same-sized patch
    from a random place of the right image. Sides are drawn in [min_size, max_size] (clipped to the
    image). Records ``meta["occlusion_box"] = (top, left, height, width)``, all 0 when nothing was drawn.
    """

    def __init__(
        self,
        prob: float = 0.5,
        min_size: int = 50,
        max_size: int = 100,
        fill: Literal["mean", "patch"] = "mean",
    ) -> None:
        if not 0 < min_size <= max_size:
            raise ValueError(f"need 0 < min_size <= max_size, got {min_size}, {max_size}")
        if fill not in ("mean", "patch"):
            raise ValueError(f"fill must be 'mean' or 'patch', got {fill!r}")
        self.prob, self.min_size, self.max_size, self.fill = _check_prob(prob), min_size, max_size, fill

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        right = sample["right"]
        if not rng.random() < self.prob:
            return _updated(sample, {"occlusion_box": (0, 0, 0, 0)})
        height, width = right.shape[:2]
        box_h = min(int(rng.integers(self.min_size, self.max_size + 1)), height)
        box_w = min(int(rng.integers(self.min_size, self.max_size + 1)), width)
        top, left = _corner(rng, (height, width), (box_h, box_w))
        if self.fill == "mean":
            content = right.mean(axis=(0, 1))
        else:
            src_top, src_left = _corner(rng, (height, width), (box_h, box_w))
            content = right[src_top : src_top + box_h, src_left : src_left + box_w]
        occluded = right.copy()
        occluded[top : top + box_h, left : left + box_w] = content
        return _updated(sample, {"occlusion_box": (top, left, box_h, box_w)}, right=occluded)

    def __repr__(self) -> str:
        return (
            f"RandomOcclusion(prob={self.prob}, size=[{self.min_size}, {self.max_size}], fill={self.fill!r})"
        )


def _resize(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize to (height, width) with OpenCV's pixel-centre alignment."""
    return cv2.resize(array.astype(np.float32), (size[1], size[0]), interpolation=cv2.INTER_LINEAR)


def _resize_dense(sample: Sample, size: tuple[int, int], sx: float) -> dict[str, np.ndarray]:
    """Bilinear disparity; valid only where every pixel with bilinear weight (> 1e-3) was valid.

    Values are averaged over valid pixels only, so the zeros of unknown pixels never leak in.
    """
    weight = _resize(sample["valid"], size)
    valid = weight > 1 - 1e-3
    disparity = _resize(sample["disparity"] * sample["valid"], size) / np.maximum(weight, 1e-6) * sx
    valid_noc = valid & (_resize(sample["valid_noc"], size) > 1 - 1e-3)
    return {
        "disparity": np.where(valid, disparity, 0).astype(np.float32),
        "valid": valid,
        "valid_noc": valid_noc,
    }


def _scatter_sparse(sample: Sample, size: tuple[int, int], sx: float, sy: float) -> dict[str, np.ndarray]:
    """Move each valid point to the pixel containing its new position, with disparity * sx.

    Where several points land on one pixel the largest disparity (the nearest surface) wins.
    """
    height, width = size
    ys, xs = np.nonzero(sample["valid"])
    values = sample["disparity"][ys, xs] * np.float32(sx)
    new_y = np.minimum(np.floor((ys + 0.5) * sy).astype(np.int64), height - 1)
    new_x = np.minimum(np.floor((xs + 0.5) * sx).astype(np.int64), width - 1)
    flat = new_y * width + new_x
    order = np.lexsort((values, flat))  # by pixel, then by disparity: the last of each pixel wins
    flat, values, noc = flat[order], values[order], sample["valid_noc"][ys, xs][order]
    last = np.append(flat[1:] != flat[:-1], True)
    disparity, valid, valid_noc = np.zeros(size, np.float32), np.zeros(size, bool), np.zeros(size, bool)
    pixels = np.unravel_index(flat[last], size)
    disparity[pixels], valid[pixels], valid_noc[pixels] = values[last], True, noc[last]
    return {"disparity": disparity, "valid": valid, "valid_noc": valid_noc}


class RandomScaleStretch:
    """With probability ``prob``, resize both views by (sx, sy) = (scale * stretch, scale).

    Teaches the network other object sizes and disparity ranges than the dataset's. Resizing the width
    by sx multiplies every horizontal distance, disparity included, by sx; the height factor does not
    touch disparity. ``scale`` is drawn log-uniformly from [min_scale, max_scale], ``stretch``
    log-uniformly from [1 / (1 + max_stretch), 1 + max_stretch]. Sizes are rounded to whole pixels, then
    raised to ``min_size`` (height, width) if given (the crop size, so crops need no padding); the
    factors actually used, new size / old size, scale the disparity and go to ``meta["scale"] = (sx, sy)``.

    Ground truth, images are always bilinear:

    - dense (Scene Flow, synthetic): bilinear disparity; a pixel stays valid only if all pixels its
      bilinear weights touch were valid (same rule for ``valid_noc``), so unknown pixels never blend in.
      Valid pixels on both sides of a depth edge do blend, as in the anchors' training.
    - sparse (KITTI's scattered LiDAR points): each valid point moves to the pixel containing its new
      position and keeps ``d * sx``; interpolating across holes would invent values. Where points collide
      the largest disparity wins.

    ``sparse=None`` decides per sample: sparse when less than ``sparse_below`` of the pixels are valid.
    """

    def __init__(
        self,
        min_scale: float = 2**-0.2,
        max_scale: float = 2**0.4,
        max_stretch: float = 0.15,
        prob: float = 0.8,
        *,
        min_size: Sequence[int] | None = None,
        sparse: bool | None = None,
        sparse_below: float = 0.5,
    ) -> None:
        if not 0 < min_scale <= max_scale:
            raise ValueError(f"need 0 < min_scale <= max_scale, got {min_scale}, {max_scale}")
        if max_stretch < 0:
            raise ValueError(f"max_stretch must be >= 0, got {max_stretch}")
        self.min_scale, self.max_scale = float(min_scale), float(max_scale)
        self.max_stretch = float(max_stretch)
        self.prob = _check_prob(prob)
        self.min_size = None if min_size is None else (int(min_size[0]), int(min_size[1]))
        self.sparse, self.sparse_below = sparse, float(sparse_below)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        if not rng.random() < self.prob:
            return _updated(sample, {"scale": (1.0, 1.0)})
        scale = math.exp(rng.uniform(math.log(self.min_scale), math.log(self.max_scale)))
        log_stretch = math.log1p(self.max_stretch)
        stretch = math.exp(rng.uniform(-log_stretch, log_stretch))
        height, width = sample["left"].shape[:2]
        new_h, new_w = max(1, round(height * scale)), max(1, round(width * scale * stretch))
        if self.min_size is not None:
            new_h, new_w = max(new_h, self.min_size[0]), max(new_w, self.min_size[1])
        size, sx, sy = (new_h, new_w), new_w / width, new_h / height
        sparse = self.sparse if self.sparse is not None else bool(sample["valid"].mean() < self.sparse_below)
        gt = _scatter_sparse(sample, size, sx, sy) if sparse else _resize_dense(sample, size, sx)
        return _updated(
            sample,
            {"scale": (sx, sy)},
            left=_resize(sample["left"], size),
            right=_resize(sample["right"], size),
            **gt,
        )

    def __repr__(self) -> str:
        return (
            f"RandomScaleStretch(scale=[{self.min_scale:.3g}, {self.max_scale:.3g}], max_stretch="
            f"{self.max_stretch}, prob={self.prob}, min_size={self.min_size}, sparse={self.sparse})"
        )


class VerticalShift:
    """With probability ``prob``, move the right image down by dy ~ U(-max_shift, max_shift) pixels.

    Real rectification is off by a pixel or so; a network trained only on exact epipolar lines breaks on
    it. Ground truth is unchanged (it belongs to the left view): the network should find the match
    despite the offset. ``new_right(y, x) = right(y - dy, x)``, linear between rows (sub-pixel), border
    rows repeated. Records ``meta["vertical_shift"] = dy`` (0.0 when not drawn).
    """

    def __init__(self, max_shift: float = 2.0, prob: float = 0.5) -> None:
        if max_shift < 0:
            raise ValueError(f"max_shift must be >= 0, got {max_shift}")
        self.max_shift, self.prob = float(max_shift), _check_prob(prob)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        if not rng.random() < self.prob:
            return _updated(sample, {"vertical_shift": 0.0})
        dy = float(rng.uniform(-self.max_shift, self.max_shift))
        right = sample["right"]
        rows = np.arange(right.shape[0]) - dy
        below = np.floor(rows)
        frac = (rows - below).astype(np.float32)[:, None, None]
        row0 = np.clip(below, 0, right.shape[0] - 1).astype(np.int64)
        row1 = np.clip(below + 1, 0, right.shape[0] - 1).astype(np.int64)
        shifted = (right[row0] * (1 - frac) + right[row1] * frac).astype(np.float32)
        return _updated(sample, {"vertical_shift": dy}, right=shifted)

    def __repr__(self) -> str:
        return f"VerticalShift(max_shift={self.max_shift}, prob={self.prob})"


class Compose:
    """Apply transforms in order, all drawing from one generator. An empty Compose is the identity
    (a new dict, arrays shared)."""

    def __init__(self, transforms: Sequence[Transform]) -> None:
        self.transforms = list(transforms)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        out = _updated(sample)
        for transform in self.transforms:
            out = transform(out, rng)
        return out

    def __repr__(self) -> str:
        return "Compose([" + ", ".join(map(repr, self.transforms)) + "])"


ENABLED: Mapping[str, Any] = MappingProxyType({})  # on, with the transform's own defaults


def _options(given: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A transform's arguments from its config; None when ``given`` is None or says ``enabled: false``."""
    if given is None:
        return None
    options = dict(given)
    return options if options.pop("enabled", True) else None


def build_train_transforms(
    crop: Sequence[int] | None = (256, 512),
    color: Mapping[str, Any] | None = ENABLED,
    occlusion: Mapping[str, Any] | None = ENABLED,
    scale: Mapping[str, Any] | None = ENABLED,
    vertical_shift: Mapping[str, Any] | None = ENABLED,
) -> Compose:
    """The training pipeline from plain config values (dicts, e.g. a Hydra group as a container).

    Each dict overrides that transform's own defaults (its class's arguments); None or
    ``enabled: false`` turns it off, ``crop=None`` too. Order: scale/stretch (raised to at least the
    crop size), vertical shift, crop, colour, occlusion, so the cheap photometric steps run on the crop
    and the occluder's size is relative to it.
    """
    crop = None if crop is None else (int(crop[0]), int(crop[1]))
    transforms: list[Transform] = []
    if (options := _options(scale)) is not None:
        transforms.append(RandomScaleStretch(**{"min_size": crop, **options}))
    if (options := _options(vertical_shift)) is not None:
        transforms.append(VerticalShift(**options))
    if crop is not None:
        transforms.append(RandomCrop(*crop))
    if (options := _options(color)) is not None:
        transforms.append(ColorJitter(**options))
    if (options := _options(occlusion)) is not None:
        transforms.append(RandomOcclusion(**options))
    return Compose(transforms)
