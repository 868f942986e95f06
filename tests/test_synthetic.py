"""The procedural generator: exact geometry, occlusions, determinism, splits, textures, and export."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from stereo_attn.data.readers.sceneflow import SceneFlow
from stereo_attn.data.synthetic.export import export_synthetic, pair_paths
from stereo_attn.data.synthetic.scenes import SyntheticConfig, SyntheticStereo
from stereo_attn.data.synthetic.textures import KINDS, make_texture

from helpers.project import ROOT

SMALL = SyntheticConfig(height=96, width=192, max_disparity=48.0, min_objects=6, max_objects=10)
CLEAN = SyntheticConfig(height=96, width=192, max_disparity=48.0, photometric=0.0, noise_std=0.0)


def warp_right_to_left(right: np.ndarray, disparity: np.ndarray) -> np.ndarray:
    """left_hat(y, x) = right(y, x - d(y, x)), bilinear."""
    height, width = disparity.shape
    map_x = (np.arange(width, dtype=np.float32)[None, :] - disparity).astype(np.float32)
    map_y = np.repeat(np.arange(height, dtype=np.float32)[:, None], width, axis=1)
    return cv2.remap(right, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def visible_warp_errors(sample: dict, disparity_offset: float = 0.0) -> np.ndarray:
    warped = warp_right_to_left(sample["right"], sample["disparity"] + disparity_offset)
    return np.abs(warped - sample["left"]).max(axis=-1)[sample["valid_noc"]]


def test_right_view_warped_by_the_ground_truth_reproduces_the_left_view() -> None:
    dataset = SyntheticStereo("test", 6, config=CLEAN)
    for index in range(len(dataset)):
        errors = visible_warp_errors(dataset[index])
        # What remains is bilinear resampling of the finest textures, not geometry.
        assert np.median(errors) < 0.01 and np.percentile(errors, 95) < 0.06
        # The check is sensitive: a 1 px disparity error breaks it.
        assert np.median(visible_warp_errors(dataset[index], disparity_offset=1.0)) > 3 * np.median(errors)


def test_occluded_pixels_are_marked_and_really_hidden() -> None:
    dataset = SyntheticStereo("test", 6, config=CLEAN)
    fractions = []
    for index in range(len(dataset)):
        sample = dataset[index]
        fractions.append(sample["valid_noc"].mean())
        hidden = ~sample["valid_noc"]
        if hidden.sum() > 100:
            warped = warp_right_to_left(sample["right"], sample["disparity"])
            hidden_error = np.abs(warped - sample["left"]).max(axis=-1)[hidden]
            assert np.median(hidden_error) > 2 * np.median(visible_warp_errors(sample))
    assert 0.5 < np.mean(fractions) < 0.99  # scenes have occlusions, and most pixels are visible


def test_disparity_is_exact_everywhere_and_spans_the_configured_range() -> None:
    dataset = SyntheticStereo("train", 30, config=SyntheticConfig(height=64, width=256))
    maxima = []
    for index in range(len(dataset)):
        sample = dataset[index]
        disparity = sample["disparity"]
        assert disparity.shape == (64, 256) and sample["valid"].all()
        assert disparity.min() >= 1.0 - 1e-3 and disparity.max() <= 80.0 + 1e-3
        maxima.append(disparity.max())
    assert max(maxima) >= 64  # large disparities occur by default


def test_pairs_are_deterministic_and_splits_disjoint() -> None:
    first, again = (
        SyntheticStereo("train", 3, seed=7, config=SMALL),
        SyntheticStereo("train", 3, seed=7, config=SMALL),
    )
    np.testing.assert_array_equal(first[2]["left"], again[2]["left"])
    np.testing.assert_array_equal(first[2]["disparity"], again[2]["disparity"])
    streams = [
        SyntheticStereo(split, 3, seed=7, config=SMALL).rng(2).random(4) for split in ("train", "val", "test")
    ]
    assert len({tuple(stream) for stream in streams}) == 3
    assert not np.array_equal(first[1]["left"], first[2]["left"])
    assert not np.array_equal(first[2]["left"], SyntheticStereo("train", 3, seed=8, config=SMALL)[2]["left"])


def test_views_differ_photometrically() -> None:
    sample = SyntheticStereo("test", 1, config=SMALL)[0]
    errors = visible_warp_errors(sample)
    clean_config = replace(SMALL, photometric=0.0, noise_std=0.0)
    clean = visible_warp_errors(SyntheticStereo("test", 1, config=clean_config)[0])
    assert np.median(errors) > 2 * np.median(clean)


def test_texture_kinds_cover_flat_repetitive_and_multiscale() -> None:
    rng = np.random.default_rng(0)
    spreads = {kind: float(make_texture(rng, 64, 64, kind).std(axis=(0, 1)).mean()) for kind in KINDS}
    assert spreads["flat"] < 0.02  # nearly textureless
    assert min(spreads[kind] for kind in ("noise", "stripes", "checker", "blotches")) > 0.03
    stripes = make_texture(np.random.default_rng(1), 1, 256, "stripes")[0, :, 0]
    spectrum = np.abs(np.fft.rfft(stripes - stripes.mean()))
    assert spectrum.max() > 5 * np.median(spectrum)  # one dominant period: repetitive
    with pytest.raises(ValueError, match="texture kind"):
        make_texture(rng, 4, 4, "plaid")


def test_invalid_configurations_are_rejected() -> None:
    with pytest.raises(ValueError, match="min_disparity"):
        SyntheticConfig(min_disparity=10, max_disparity=5)
    with pytest.raises(ValueError, match="split"):
        SyntheticStereo("holdout")


def test_exported_pairs_read_back_exactly_through_the_scene_flow_reader(tmp_path: Path) -> None:
    export_synthetic(tmp_path, "test", 4, seed=3, config=SMALL, frames_per_sequence=3, progress=False)
    generated = SyntheticStereo("test", 4, seed=3, config=SMALL)
    read = SceneFlow(tmp_path, split="TEST")
    assert len(read) == 4
    for index in range(4):
        original, loaded = generated[index], read[index]
        assert loaded["meta"]["left_path"] == str(pair_paths(tmp_path, "test", index, 3)["left"])
        np.testing.assert_array_equal(loaded["disparity"], original["disparity"])
        for view in ("left", "right"):  # PNG keeps 8 bits: the writer's rounding, exactly
            expected = (np.rint(original[view].astype(np.float64) * 255) / 255).astype(np.float32)
            np.testing.assert_array_equal(loaded[view], expected)


def test_make_synthetic_script_follows_the_contract(tmp_path: Path) -> None:
    command = [
        sys.executable, "scripts/make_synthetic.py", f"root={tmp_path / 'out'}", "split=test", "count=2",
        "data.synthetic.generator.height=48", "data.synthetic.generator.width=96",
        "data.synthetic.generator.max_disparity=32",
        f"hydra.run.dir={tmp_path / 'run'}",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    for name in ("0000", "0001"):
        assert (tmp_path / f"out/frames_finalpass/TEST/A/0000/left/{name}.png").is_file()
        assert (tmp_path / f"out/frames_finalpass/TEST/A/0000/right/{name}.png").is_file()
        assert (tmp_path / f"out/disparity/TEST/A/0000/left/{name}.pfm").is_file()
