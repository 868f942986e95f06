"""Training augmentation: geometric consistency, determinism, switches, and no mutation of the input.

The key check is geometric: on a synthetic pair rendered as left(y, x) = right(y, x - d(y, x)), warping
the right image by the ground-truth disparity reproduces the left image, before and after every
geometric transform. Deliberately wrong variants (disparity not rescaled, views cropped apart, a shift
left uncompensated) must fail the same check, so the check has teeth.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import cv2
import numpy as np
import pytest
from torch.utils.data import default_collate

from stereo_attn.data import transforms as T
from stereo_attn.data.sample import ARRAY_KEYS, Sample, make_sample

HEIGHT, WIDTH = 96, 128
MEAN_TOL, P99_TOL = 0.01, 0.04  # bilinear resampling error on the smooth texture (measured: <= 0.0065, 0.014)


def smooth_texture(rng: np.random.Generator, height: int, width: int, cell: int = 4) -> np.ndarray:
    """Low-pass colour noise (features of a few pixels), so bilinear sampling of it is accurate."""
    rows, cols = height // cell + 4, width // cell + 4
    coarse = rng.random((rows, cols, 3)).astype(np.float32)
    image = cv2.resize(coarse, (cols * cell, rows * cell), interpolation=cv2.INTER_CUBIC)
    image = cv2.GaussianBlur(
        image[2 * cell : 2 * cell + height, 2 * cell : 2 * cell + width], (0, 0), cell / 2
    )
    image = (image - image.min()) / (image.max() - image.min())
    return (0.05 + 0.9 * image).astype(np.float32)


def stereo_pair(
    seed: int = 0, height: int = HEIGHT, width: int = WIDTH, sparse: float | None = None
) -> Sample:
    """A consistent pair: slanted background, a constant box, a slanted patch.

    ``valid`` marks visible pixels (their match lies inside the right image); ``valid_noc`` drops pixels
    near depth edges, where resampling a discontinuous image cannot agree with any single disparity.
    ``sparse``: keep only that fraction of the pixels as ground truth (KITTI-like).
    """
    rng = np.random.default_rng(seed)
    right = smooth_texture(rng, height, width)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    disparity = 6 + 0.04 * xs + 0.02 * ys
    disparity[height // 4 : height // 2, width // 3 : 2 * width // 3] = 14
    patch = (ys >= 2 * height // 3) & (ys < height - 4) & (xs >= width // 8) & (xs < width // 2)
    disparity[patch] = (10 - 0.03 * xs + 0.05 * ys)[patch]
    map_x = xs - disparity
    left = cv2.remap(right, map_x, ys, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    visible = (map_x >= 0) & (map_x <= width - 1)
    if sparse is not None:
        visible &= rng.random((height, width)) < sparse
    jump = np.zeros((height, width), bool)
    jump[:, 1:] |= np.abs(np.diff(disparity, axis=1)) > 0.5
    jump[1:, :] |= np.abs(np.diff(disparity, axis=0)) > 0.5
    near_edge = cv2.dilate(jump.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    return make_sample(left, right, disparity, visible, {"dataset": "test"}, valid_noc=visible & ~near_edge)


def warp_error(sample: Sample, dy: float = 0.0, margin: int = 3) -> tuple[float, float, int]:
    """Warp the right image by the disparity (and ``dy`` rows) onto the left; (mean, 99th pct, count).

    Compared on ``valid_noc`` pixels whose source lies ``margin`` pixels inside the right image.
    """
    disparity = sample["disparity"]
    height, width = disparity.shape
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    map_x, map_y = xs - disparity, ys + np.float32(dy)
    warped = cv2.remap(sample["right"], map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    inside = (
        (map_x >= margin) & (map_x <= width - 1 - margin) & (map_y >= margin) & (map_y <= height - 1 - margin)
    )
    errors = np.abs(warped - sample["left"]).max(axis=2)[sample["valid_noc"] & inside]
    return float(errors.mean()), float(np.percentile(errors, 99)), int(errors.size)


def assert_consistent(sample: Sample, dy: float = 0.0, min_pixels: int = 50) -> None:
    mean, p99, count = warp_error(sample, dy)
    assert count >= min_pixels, f"only {count} pixels to compare"
    assert mean < MEAN_TOL and p99 < P99_TOL, f"warp error mean {mean:.4f}, p99 {p99:.4f}"


def assert_inconsistent(sample: Sample, dy: float = 0.0) -> None:
    mean, _, count = warp_error(sample, dy)
    assert count >= 50
    assert mean > 2 * MEAN_TOL, f"a wrong variant passed the warp check (mean {mean:.4f})"


def with_disparity(sample: Sample, disparity: np.ndarray) -> Sample:
    return {**sample, "disparity": disparity.astype(np.float32)}


def assert_same_sample(a: Sample, b: Sample) -> None:
    for key in ARRAY_KEYS:
        assert a[key].dtype == b[key].dtype and np.array_equal(a[key], b[key]), key
    assert a["meta"] == b["meta"]


# --- geometric consistency ------------------------------------------------------------------------


def test_the_warp_check_passes_on_the_pair_and_fails_on_a_wrong_disparity() -> None:
    sample = stereo_pair()
    assert_consistent(sample, min_pixels=HEIGHT * WIDTH // 2)
    assert_inconsistent(with_disparity(sample, sample["disparity"] + 0.5))


def test_crop_keeps_geometry_and_a_misaligned_crop_does_not() -> None:
    sample = stereo_pair()
    out = T.RandomCrop(64, 80)(sample, np.random.default_rng(1))
    assert_consistent(out)
    top, left = out["meta"]["crop"]
    assert left >= 2
    shifted_right = sample["right"][top : top + 64, left - 2 : left + 78]  # views cropped 2 px apart
    assert_inconsistent({**out, "right": shifted_right})


@pytest.mark.parametrize(
    ("min_scale", "max_scale", "max_stretch", "sparse"),
    [
        (1.3, 1.3, 0.0, None),
        (0.7, 0.7, 0.0, None),
        (1.0, 1.0, 0.4, None),
        (1.3, 1.6, 0.2, None),
        (1.3, 1.3, 0.2, 0.3),
    ],
    ids=["up", "down", "stretch", "scale+stretch", "sparse"],
)
def test_scale_stretch_keeps_geometry_and_unscaled_disparity_does_not(
    min_scale: float, max_scale: float, max_stretch: float, sparse: float | None
) -> None:
    sample = stereo_pair(sparse=sparse)
    out = T.RandomScaleStretch(min_scale, max_scale, max_stretch, prob=1.0)(sample, np.random.default_rng(3))
    sx, sy = out["meta"]["scale"]
    assert out["left"].shape[:2] == (round(HEIGHT * sy), round(WIDTH * sx))
    assert abs(sx - 1) > 0.08  # precondition: forgetting the rescale must matter
    if max_stretch:
        assert abs(sx / sy - 1) > 0.05
    assert_consistent(out, min_pixels=300 if sparse else 2000)
    assert_inconsistent(with_disparity(out, out["disparity"] / sx))  # forgot `disparity *= sx`
    if max_stretch:
        assert_inconsistent(with_disparity(out, out["disparity"] / sx * sy))  # scaled by sy instead


def test_vertical_shift_is_consistent_once_compensated() -> None:
    sample = stereo_pair()
    out = T.VerticalShift(max_shift=2.0, prob=1.0)(sample, np.random.default_rng(0))
    dy = out["meta"]["vertical_shift"]
    assert 0.5 < abs(dy) <= 2.0 and dy != round(dy)
    assert_consistent(out, dy=dy)
    assert_inconsistent(out)  # not compensated
    assert_inconsistent(out, dy=-dy)  # compensated with the wrong sign
    for key in ("left", "disparity", "valid", "valid_noc"):
        assert out[key] is sample[key]


def test_training_pipeline_keeps_geometry() -> None:
    pipeline = T.build_train_transforms(
        crop=(64, 96), color=None, occlusion=None, scale={"prob": 1.0}, vertical_shift={"prob": 1.0}
    )
    sample = stereo_pair()
    for seed in range(3):
        out = pipeline(sample, T.sample_rng(0, seed))
        assert out["left"].shape == (64, 96, 3)
        assert_consistent(out, dy=out["meta"]["vertical_shift"])


# --- determinism ------------------------------------------------------------------------------------


def test_same_seed_same_output_and_other_seeds_differ() -> None:
    pipeline = T.build_train_transforms(crop=(64, 96), occlusion={"prob": 1.0, "min_size": 8, "max_size": 20})
    sample = stereo_pair()
    first, again = pipeline(sample, T.sample_rng(7, 3)), pipeline(sample, T.sample_rng(7, 3))
    assert_same_sample(first, again)
    for other in (T.sample_rng(8, 3), T.sample_rng(7, 4), T.sample_rng(7, 3, epoch=1)):
        assert not np.array_equal(pipeline(sample, other)["right"], first["right"])


# --- individual transforms --------------------------------------------------------------------------


def test_crop_shape_and_content() -> None:
    sample = stereo_pair()
    out = T.RandomCrop(40, 50)(sample, np.random.default_rng(0))
    top, left = out["meta"]["crop"]
    for key in ARRAY_KEYS:
        assert out[key].shape[:2] == (40, 50)
        assert np.array_equal(out[key], sample[key][top : top + 40, left : left + 50])
        assert not np.shares_memory(out[key], sample[key])
    crops = {T.RandomCrop(40, 50)(sample, np.random.default_rng(seed))["meta"]["crop"] for seed in range(5)}
    assert len(crops) > 1


@pytest.mark.parametrize("crop", [(120, 160), (64, 160), (120, 100)], ids=["both", "width", "height"])
def test_crop_pads_small_images_with_invalid_zeros(crop: tuple[int, int]) -> None:
    sample = stereo_pair()
    out = T.RandomCrop(*crop)(sample, np.random.default_rng(0))
    top, left = out["meta"]["crop"]
    height, width = min(HEIGHT, crop[0]), min(WIDTH, crop[1])
    for key in ARRAY_KEYS:
        assert out[key].shape[:2] == crop and out[key].dtype == sample[key].dtype
        assert np.array_equal(out[key][:height, :width], sample[key][top : top + height, left : left + width])
        outside = np.ones(crop, bool)
        outside[:height, :width] = False
        assert not out[key][outside].any()
    assert_consistent(out)


def test_color_jitter_is_photometric_and_stays_in_range() -> None:
    sample = stereo_pair()
    jitter = T.ColorJitter(brightness=0.5, contrast=0.5, saturation=0.5, gamma=0.3, asymmetric_prob=0.5)
    for seed in range(4):
        out = jitter(sample, np.random.default_rng(seed))
        for key in ("disparity", "valid", "valid_noc"):
            assert out[key] is sample[key]
        for view in ("left", "right"):
            assert out[view].dtype == np.float32 and out[view].shape == sample[view].shape
            assert out[view].min() >= 0 and out[view].max() <= 1
            assert not np.allclose(out[view], sample[view], atol=1e-3)


def test_color_jitter_is_asymmetric_only_when_asked() -> None:
    sample = stereo_pair()
    same_views = {**sample, "right": sample["left"]}
    jitter = dict(brightness=0.4, contrast=0.4, saturation=0.4, gamma=0.2)
    for seed in range(3):
        symmetric = T.ColorJitter(**jitter, asymmetric_prob=0.0)(same_views, np.random.default_rng(seed))
        assert np.array_equal(symmetric["left"], symmetric["right"])
        assert symmetric["meta"]["color_asymmetric"] is False
        asymmetric = T.ColorJitter(**jitter, asymmetric_prob=1.0)(same_views, np.random.default_rng(seed))
        assert np.abs(asymmetric["left"] - asymmetric["right"]).mean() > 0.01
        assert asymmetric["meta"]["color_asymmetric"] is True


@pytest.mark.parametrize("fill", ["mean", "patch"])
def test_occlusion_changes_only_a_box_of_the_right_image(fill: str) -> None:
    sample = stereo_pair()
    out = T.RandomOcclusion(prob=1.0, min_size=10, max_size=20, fill=fill)(sample, np.random.default_rng(2))
    for key in ("left", "disparity", "valid", "valid_noc"):
        assert out[key] is sample[key]
    top, left, height, width = out["meta"]["occlusion_box"]
    assert 10 <= height <= 20 and 10 <= width <= 20
    box = np.zeros((HEIGHT, WIDTH), bool)
    box[top : top + height, left : left + width] = True
    changed = np.any(out["right"] != sample["right"], axis=2)
    assert changed[box].mean() > 0.9 and not changed[~box].any()
    painted = out["right"][box].reshape(height, width, 3)
    if fill == "mean":
        assert np.allclose(painted, sample["right"].mean(axis=(0, 1)))
    else:  # a patch of the original right image, from somewhere else
        windows = np.lib.stride_tricks.sliding_window_view(sample["right"], (height, width, 3))[
            ..., 0, :, :, :
        ]
        matches = np.argwhere(np.all(windows == painted, axis=(2, 3, 4)))
        assert len(matches) >= 1 and (top, left) not in {tuple(m) for m in matches}


def bilinear_sources(new_size: int, old_size: int) -> tuple[np.ndarray, np.ndarray]:
    """For each output index, the two input indices OpenCV's bilinear resize reads (pixel centres)."""
    source = (np.arange(new_size) + 0.5) * old_size / new_size - 0.5
    below = np.floor(source)
    assert np.all(np.abs(source - np.round(source)) > 2e-3)  # no weight below the 1e-3 cut: the rule is exact
    return np.clip(below, 0, old_size - 1).astype(int), np.clip(below + 1, 0, old_size - 1).astype(int)


def test_dense_resize_is_valid_only_where_all_sources_are_valid() -> None:
    rng = np.random.default_rng(0)
    disparity = rng.uniform(20, 30, (HEIGHT, WIDTH)).astype(np.float32)
    valid = np.ones((HEIGHT, WIDTH), bool)
    valid[30:60, 40:90] = False  # a hole: its zeros must not leak into the resized map
    valid[5:70, 10] = False  # a thin line of unknown pixels
    image = smooth_texture(rng, HEIGHT, WIDTH)
    sample = make_sample(image, image, disparity, valid, {})
    out = T.RandomScaleStretch(1.37, 1.37, 0.0, prob=1.0, sparse=False)(sample, rng)
    sx, _ = out["meta"]["scale"]
    (row0, row1), (col0, col1) = (
        bilinear_sources(n, m) for n, m in zip(out["valid"].shape, valid.shape, strict=True)
    )
    expected = np.ones(out["valid"].shape, bool)
    for rows in (row0, row1):
        for cols in (col0, col1):
            expected &= valid[np.ix_(rows, cols)]
    assert np.array_equal(out["valid"], expected)
    resized = cv2.resize(disparity, out["valid"].shape[::-1], interpolation=cv2.INTER_LINEAR) * sx
    assert np.allclose(out["disparity"][expected], resized[expected], atol=1e-3)
    assert not out["disparity"][~expected].any()
    assert not (out["valid_noc"] & ~out["valid"]).any()


def test_min_size_raises_the_output_to_the_crop_size() -> None:
    sample = stereo_pair()
    out = T.RandomScaleStretch(0.5, 0.5, 0.0, prob=1.0, min_size=(64, 100))(sample, np.random.default_rng(0))
    assert out["left"].shape == (64, 100, 3) and out["disparity"].shape == (64, 100)
    assert out["meta"]["scale"] == (100 / WIDTH, 64 / HEIGHT)
    assert_consistent(out)


def kitti_like(height: int = 40, width: int = 60, ratio: float = 0.15, seed: int = 0) -> Sample:
    rng = np.random.default_rng(seed)
    disparity = rng.uniform(1, 50, (height, width)).astype(np.float32)
    valid = rng.random((height, width)) < ratio
    noc = valid & (rng.random((height, width)) < 0.8)
    image = rng.random((height, width, 3)).astype(np.float32)
    return make_sample(image, image, disparity, valid, {"dataset": "kitti"}, valid_noc=noc)


def test_sparse_ground_truth_is_scattered_not_interpolated() -> None:
    sample = kitti_like()
    out = T.RandomScaleStretch(2.0, 2.0, 0.0, prob=1.0)(sample, np.random.default_rng(0))  # sparse: auto
    assert out["meta"]["scale"] == (2.0, 2.0)
    ys, xs = np.nonzero(sample["valid"])
    expected = np.zeros((80, 120), bool)
    expected[2 * ys + 1, 2 * xs + 1] = True  # the pixel that holds each point's new centre
    assert np.array_equal(out["valid"], expected)
    assert np.array_equal(out["disparity"][2 * ys + 1, 2 * xs + 1], 2 * sample["disparity"][ys, xs])
    assert np.array_equal(out["valid_noc"][2 * ys + 1, 2 * xs + 1], sample["valid_noc"][ys, xs])
    assert not out["disparity"][~out["valid"]].any()
    dense = T.RandomScaleStretch(2.0, 2.0, 0.0, prob=1.0, sparse=False)(sample, np.random.default_rng(0))
    assert not np.array_equal(dense["valid"], expected)  # interpolation would not keep the points


def test_sparse_downscale_keeps_the_nearest_point_per_pixel() -> None:
    sample = kitti_like(ratio=0.4)
    out = T.RandomScaleStretch(0.5, 0.5, 0.0, prob=1.0, sparse=True)(sample, np.random.default_rng(0))
    assert out["meta"]["scale"] == (0.5, 0.5)
    blocks = np.where(sample["valid"], sample["disparity"], -1).reshape(20, 2, 30, 2).max(axis=(1, 3))
    assert np.array_equal(out["valid"], blocks >= 0)
    assert np.array_equal(out["disparity"][out["valid"]], 0.5 * blocks[blocks >= 0])


def test_sparsity_is_detected_from_the_valid_ratio() -> None:
    transform = T.RandomScaleStretch(2.0, 2.0, 0.0, prob=1.0)
    sparse = transform(kitti_like(ratio=0.15), np.random.default_rng(0))
    dense = transform(kitti_like(ratio=0.95), np.random.default_rng(0))
    assert sparse["valid"].sum() == kitti_like(ratio=0.15)["valid"].sum()  # scattered: one pixel per point
    assert dense["valid"].mean() > 0.5  # interpolated: filled in


# --- switches, identity, no mutation ----------------------------------------------------------------

PIPELINE_TYPES = {
    "scale": T.RandomScaleStretch,
    "vertical_shift": T.VerticalShift,
    "crop": T.RandomCrop,
    "color": T.ColorJitter,
    "occlusion": T.RandomOcclusion,
}


def test_train_pipeline_order_and_defaults() -> None:
    pipeline = T.build_train_transforms(crop=(64, 96), color={"asymmetric_prob": 1.0})
    assert [type(t) for t in pipeline.transforms] == list(PIPELINE_TYPES.values())
    scale, _, _, color, _ = pipeline.transforms
    assert scale.min_size == (64, 96)  # scaled images are never smaller than the crop
    assert color.asymmetric_prob == 1.0 and color.ranges["brightness"] == (0.6, 1.4)
    with pytest.raises(TypeError):
        T.build_train_transforms(color={"brightnes": 0.3})


SWITCHES = [
    ("crop", None),
    *(
        (name, off)
        for name in ("scale", "vertical_shift", "color", "occlusion")
        for off in (None, {"enabled": False})
    ),
]


@pytest.mark.parametrize(("name", "off"), SWITCHES)
def test_each_transform_can_be_switched_off(name: str, off: dict | None) -> None:
    pipeline = T.build_train_transforms(**{"crop": (64, 96), name: off})
    assert [type(t) for t in pipeline.transforms] == [
        kind for key, kind in PIPELINE_TYPES.items() if key != name
    ]
    if off is not None:
        enabled = T.build_train_transforms(crop=(64, 96), **{name: {"enabled": True}})
        assert [type(t) for t in enabled.transforms] == list(PIPELINE_TYPES.values())


def test_everything_off_is_the_identity() -> None:
    sample = stereo_pair()
    off = T.build_train_transforms(crop=None, color=None, occlusion=None, scale=None, vertical_shift=None)
    for pipeline in (off, T.Compose([])):
        assert pipeline.transforms == []
        out = pipeline(sample, np.random.default_rng(0))
        assert out is not sample and out["meta"] is not sample["meta"]
        assert_same_sample(out, sample)


@pytest.mark.parametrize(
    "transform",
    [T.RandomOcclusion(prob=0.0), T.RandomScaleStretch(prob=0.0), T.VerticalShift(prob=0.0)],
    ids=lambda t: type(t).__name__,
)
def test_probability_zero_is_the_identity(transform: T.Transform) -> None:
    sample = stereo_pair()
    out = transform(sample, np.random.default_rng(0))
    for key in ARRAY_KEYS:
        assert out[key] is sample[key]


def test_color_jitter_without_ranges_is_the_identity() -> None:
    sample = stereo_pair()
    out = T.ColorJitter(0.0, 0.0, 0.0, 0.0, asymmetric_prob=1.0)(sample, np.random.default_rng(0))
    assert np.allclose(out["left"], sample["left"]) and np.allclose(out["right"], sample["right"])


@pytest.mark.parametrize(
    "transform",
    [
        T.RandomCrop(64, 80),
        T.RandomCrop(120, 160),
        T.ColorJitter(0.4, 0.4, 0.4, 0.2, asymmetric_prob=1.0),
        T.RandomOcclusion(prob=1.0, min_size=10, max_size=30, fill="mean"),
        T.RandomOcclusion(prob=1.0, min_size=10, max_size=30, fill="patch"),
        T.RandomScaleStretch(0.7, 1.4, 0.2, prob=1.0, sparse=False),
        T.RandomScaleStretch(0.7, 1.4, 0.2, prob=1.0, sparse=True),
        T.VerticalShift(2.0, prob=1.0),
        T.build_train_transforms(crop=(64, 96)),
    ],
    ids=lambda t: repr(t)[:40],
)
def test_the_input_sample_is_not_mutated(transform: T.Transform) -> None:
    sample = stereo_pair()
    before = copy.deepcopy(sample)
    for seed in range(3):
        out = transform(sample, np.random.default_rng(seed))
        assert out is not sample and out["meta"] is not sample["meta"]
        assert_same_sample(sample, before)


def test_meta_keys_do_not_depend_on_the_draws_so_batches_collate() -> None:
    pipeline = T.build_train_transforms(crop=(64, 96), occlusion={"min_size": 8, "max_size": 20})
    sample = stereo_pair()
    outs = [pipeline(sample, T.sample_rng(0, index)) for index in range(8)]
    keys = {"crop", "color_asymmetric", "occlusion_box", "scale", "vertical_shift"}
    assert all(set(out["meta"]) == set(sample["meta"]) | keys for out in outs)
    assert {out["meta"]["vertical_shift"] == 0.0 for out in outs} == {True, False}  # both branches drawn
    batch = default_collate(outs)
    assert tuple(batch["left"].shape) == (8, 64, 96, 3)


@pytest.mark.parametrize(
    "make",
    [
        lambda: T.RandomCrop(0, 10),
        lambda: T.ColorJitter(brightness=(1.2, 0.8)),
        lambda: T.ColorJitter(gamma=1.0),
        lambda: T.ColorJitter(asymmetric_prob=1.5),
        lambda: T.RandomOcclusion(min_size=20, max_size=10),
        lambda: T.RandomOcclusion(fill="noise"),
        lambda: T.RandomScaleStretch(1.5, 1.0),
        lambda: T.RandomScaleStretch(max_stretch=-0.1),
        lambda: T.VerticalShift(max_shift=-1.0),
        lambda: T.VerticalShift(prob=-0.1),
    ],
)
def test_bad_arguments_are_refused(make: Callable[[], object]) -> None:
    with pytest.raises(ValueError):
        make()
