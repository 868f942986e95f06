"""The 3D world: its ground truth explains its images, its geometry is exact, its pairs are reproducible."""

from __future__ import annotations

import math
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from hydra.utils import instantiate

from stereo_attn.data.readers.sceneflow import SceneFlow
from stereo_attn.data.synthetic.export import export_synthetic
from stereo_attn.data.synthetic.masks import FULL, Mask
from stereo_attn.data.synthetic.world.camera import StereoRig
from stereo_attn.data.synthetic.world.config import WorldConfig
from stereo_attn.data.synthetic.world.dataset import WorldStereo, render_pair
from stereo_attn.data.synthetic.world.layout import random_lighting, random_material
from stereo_attn.data.synthetic.world.render import World, cast, render_view, shade, visible_in_right
from stereo_attn.data.synthetic.world.shapes import Cutout, Polyhedron, Sphere, frame_from_normal, room

from helpers.project import ROOT, compose_config

SMALL = WorldConfig(
    height=48, width=96, min_disparity=2.0, max_disparity=30.0, min_objects=12, max_objects=20
)


def rendered(index: int, cfg: WorldConfig = SMALL):
    return render_pair(np.random.default_rng([7, index]), cfg)


def surface_points(world: World, side: str, x: np.ndarray, y: np.ndarray):
    """Shape, face and surface coordinates of the first hits of rays through (x, y), cast afresh."""
    hits = cast(world, side, x, y)
    _, face, uv = shade(world, side, x, y, hits)
    return hits, face, uv


@pytest.mark.parametrize("index", range(3))
def test_the_right_view_sees_the_left_surface_point_at_x_minus_d(index: int) -> None:
    pair = rendered(index)
    world, sample = pair.world, pair.sample
    ys, xs = np.nonzero(sample["valid_noc"])
    disparity = sample["disparity"][ys, xs].astype(float)
    left_hits, left_face, left_uv = surface_points(world, "left", xs.astype(float), ys.astype(float))
    right_hits, right_face, right_uv = surface_points(world, "right", xs - disparity, ys.astype(float))
    assert len(xs) > 0.5 * sample["disparity"].size
    np.testing.assert_array_equal(left_hits.shape, pair.left.shape[ys, xs])
    np.testing.assert_array_equal(right_hits.shape, left_hits.shape)
    np.testing.assert_array_equal(right_face, left_face)
    scale = np.maximum(1.0, np.abs(left_uv))
    assert np.max(np.abs(right_uv - left_uv) / scale) < 1e-3
    np.testing.assert_allclose(right_hits.depth, left_hits.depth, rtol=1e-5)


@pytest.mark.parametrize("index", range(3))
def test_occlusion_mask_is_where_the_right_ray_meets_something_else(index: int) -> None:
    pair = rendered(index)
    world, sample = pair.world, pair.sample
    height, width = sample["disparity"].shape
    ys, xs = np.mgrid[:height, :width]
    target = xs - sample["disparity"].astype(float)
    hits = cast(world, "right", target.ravel(), ys.ravel().astype(float))
    same_point = (hits.shape == pair.left.shape.ravel()) & np.isclose(
        hits.depth, pair.left.depth.ravel(), rtol=1e-5
    )
    expected = (same_point & (target.ravel() >= -0.5)).reshape(height, width)
    assert 0 < (~expected).sum() < expected.sum()  # both kinds occur
    # Grazing rays can tie within the tolerance: allow a handful of pixels of disagreement.
    assert (expected != sample["valid_noc"]).sum() <= 0.002 * expected.size


@pytest.mark.parametrize("index", range(3))
def test_left_and_right_disparity_maps_agree_where_both_see_the_point(index: int) -> None:
    pair = rendered(index)
    sample, rig = pair.sample, pair.world.rig
    right_disparity = rig.disparity(pair.right.depth)
    ys, xs = np.nonzero(sample["valid_noc"])
    target = xs - sample["disparity"][ys, xs].astype(float)
    low = np.floor(target).astype(int)
    inside = (low >= 0) & (low + 1 < rig.width)
    ys, xs, target, low = ys[inside], xs[inside], target[inside], low[inside]
    # Linear interpolation between right pixels is exact for planes: compare where both neighbours
    # show the left pixel's shape, and where that shape is a plane or a polyhedron face.
    shapes = pair.left.shape[ys, xs]
    same = (pair.right.shape[ys, low] == shapes) & (pair.right.shape[ys, low + 1] == shapes)
    planar = np.array([isinstance(shape, (Cutout, Polyhedron)) for shape in pair.world.shapes])
    keep = same & planar[shapes]
    weight = target[keep] - low[keep]
    interpolated = (1 - weight) * right_disparity[ys[keep], low[keep]] + weight * right_disparity[
        ys[keep], low[keep] + 1
    ]
    assert keep.sum() > 100
    # Faces of one polyhedron meet at edges where interpolation bends: allow rare outliers.
    errors = np.abs(interpolated - sample["disparity"][ys[keep], xs[keep]])
    assert np.quantile(errors, 0.99) < 1e-3


def _world(rig: StereoRig, shapes: list) -> World:
    rng = np.random.default_rng(0)
    materials = [[random_material(rng, SMALL, None, 0.01)] for _ in shapes]
    return World(rig, shapes, materials, random_lighting(rng))


def test_disparity_of_a_slanted_plane_and_a_sphere_is_f_b_over_z() -> None:
    rig = StereoRig(height=60, width=80, focal=70.0, baseline=0.3)
    normal = np.array([0.3, -0.2, -1.0])
    normal /= np.linalg.norm(normal)
    plane_point = np.array([0.2, 0.1, 9.0])
    plane = Cutout(plane_point, frame_from_normal(normal), math.inf, FULL)
    sphere_centre, radius = np.array([-0.5, 0.3, 4.0]), 0.8
    sphere = Sphere(sphere_centre, np.eye(3), radius, radius)
    walls = room(np.zeros(3), np.eye(3), np.array([50.0, 50.0, 50.0]))
    world = _world(rig, [*walls, plane, sphere])
    view = render_view(world, "left")
    ys, xs = np.mgrid[: rig.height, : rig.width]
    rays = np.stack(
        [(xs - (rig.width - 1) / 2) / rig.focal, (ys - (rig.height - 1) / 2) / rig.focal, np.ones(xs.shape)],
        -1,
    )
    # Plane n . p = n . p0 along p = z * ray: z = n . p0 / n . ray.
    plane_z = (normal @ plane_point) / (rays @ normal)
    # Sphere |z * ray - c|^2 = r^2, the textbook quadratic in z, nearer root.
    a, b, c = (rays**2).sum(-1), -2 * rays @ sphere_centre, sphere_centre @ sphere_centre - radius**2
    disc = b * b - 4 * a * c
    sphere_z = np.where(disc >= 0, (-b - np.sqrt(np.maximum(disc, 0))) / (2 * a), np.inf)
    expected_z = np.minimum(np.where(plane_z > 0, plane_z, np.inf), sphere_z)
    on_sphere, on_plane = view.shape == 7, view.shape == 6
    assert on_sphere.sum() > 200 and on_plane.sum() > 200
    np.testing.assert_array_equal(on_sphere, sphere_z < plane_z)
    disparity = rig.disparity(view.depth)
    np.testing.assert_allclose(disparity, rig.focal * rig.baseline / expected_z, rtol=1e-9)
    # In the right view the same formulas hold with the camera moved by the baseline.
    right = render_view(world, "right")
    origin = np.array([rig.baseline, 0, 0])  # the rays are the same; the origin moves
    plane_z_right = (normal @ (plane_point - origin)) / (rays @ normal)
    np.testing.assert_allclose(right.depth[right.shape == 6], plane_z_right[right.shape == 6], rtol=1e-9)


def test_a_cutout_is_seen_only_inside_its_mask() -> None:
    rig = StereoRig(height=40, width=40, focal=40.0, baseline=0.1)
    mask = Mask("rectangle", {"angle": 0.0, "ra": 1.0, "rb": 0.5}, math.hypot(1.0, 0.5))
    cutout = Cutout(np.array([0.0, 0.0, 5.0]), np.eye(3), mask.bound, mask)
    walls = room(np.zeros(3), np.eye(3), np.array([50.0, 50.0, 50.0]))
    view = render_view(_world(rig, [*walls, cutout]), "left")
    ys, xs = np.mgrid[:40, :40]
    x, y = (xs - 19.5) / 40 * 5, (ys - 19.5) / 40 * 5
    np.testing.assert_array_equal(view.shape == 6, (np.abs(x) <= 1.0) & (np.abs(y) <= 0.5))


def test_disparities_stay_in_the_configured_range() -> None:
    cfg = WorldConfig(height=40, width=80, min_disparity=2.0, max_disparity=20.0)
    for index in range(6):
        disparity = render_pair(np.random.default_rng(index), cfg).sample["disparity"]
        assert np.isfinite(disparity).all() and disparity.min() > 0
        assert disparity.max() <= cfg.max_disparity * 1.001


def test_same_index_same_pair_and_splits_differ() -> None:
    first = WorldStereo("train", 4, seed=3, config=SMALL)
    again = WorldStereo("train", 4, seed=3, config=SMALL)
    for key in ("left", "right", "disparity", "valid_noc"):
        np.testing.assert_array_equal(first[2][key], again[2][key])
    other = WorldStereo("val", 4, seed=3, config=SMALL)
    assert not np.array_equal(first[2]["disparity"], other[2]["disparity"])


def test_pairs_do_not_depend_on_the_worker_count() -> None:
    dataset = WorldStereo("train", 4, seed=1, config=SMALL)

    def batches(workers: int) -> list[torch.Tensor]:
        loader = torch.utils.data.DataLoader(dataset, batch_size=2, num_workers=workers, collate_fn=list)
        return [np.stack([s["left"] for s in batch]) for batch in loader]

    for single, parallel in zip(batches(0), batches(2), strict=True):
        np.testing.assert_array_equal(single, parallel)


def _photos(folder, colours) -> None:
    folder.mkdir()
    for index, colour in enumerate(colours):
        image = np.zeros((64, 96, 3), np.uint8)
        image[:] = colour[::-1]  # cv2 writes BGR
        image[::8] //= 2  # some structure
        cv2.imwrite(str(folder / f"photo{index}.png"), image)


def test_photo_textures_from_a_folder_colour_the_surfaces(tmp_path) -> None:
    _photos(tmp_path / "photos", [(230, 20, 20), (200, 40, 10)])
    cfg = WorldConfig(**{**SMALL.__dict__, "textures": str(tmp_path / "photos"), "photo_fraction": 1.0})
    red = WorldStereo("test", 3, config=cfg)
    plain = WorldStereo("test", 3, config=SMALL)
    red_ratio = np.mean([red[i]["left"][..., 0].mean() / red[i]["left"][..., 1:].mean() for i in range(3)])
    plain_ratio = np.mean(
        [plain[i]["left"][..., 0].mean() / plain[i]["left"][..., 1:].mean() for i in range(3)]
    )
    assert red_ratio > 2.5 > 1.5 > plain_ratio


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda root: None, "no such directory"),
        (lambda root: root.mkdir(), "no .jpg, .jpeg or .png files"),
        (lambda root: (root.mkdir(), (root / "a.png").write_bytes(b"not an image")), "readable image"),
    ],
)
def test_a_bad_textures_folder_is_a_one_line_error(tmp_path, make, message: str) -> None:
    root = tmp_path / "photos"
    make(root)
    with pytest.raises(ValueError, match=message) as error:
        WorldStereo("test", 1, config={"textures": str(root)})
    assert "\n" not in str(error.value) and str(root) in str(error.value)


def test_an_unreadable_photo_among_good_ones_is_skipped_with_a_warning(tmp_path, caplog) -> None:
    _photos(tmp_path / "photos", [(230, 20, 20)])
    (tmp_path / "photos" / "broken.jpg").write_bytes(b"garbage")
    dataset = WorldStereo("test", 1, config={**SMALL.__dict__, "textures": str(tmp_path / "photos")})
    assert len(dataset.photos) == 1
    assert sum("broken.jpg" in record.getMessage() for record in caplog.records) == 1


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"jpeg": 1.5}, "jpeg=1.5: expected a probability"),
        ({"textures": 3}, "textures=3: expected a folder path"),
        ({"rooms": 2}, "rooms: unknown option"),
        ({"height": 4}, "at least 8x8"),
    ],
)
def test_world_options_are_checked(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WorldConfig.from_options(options)


def test_every_left_pixel_shows_a_surface_and_the_views_differ() -> None:
    pair = rendered(5)
    assert (pair.left.shape >= 0).all() and (pair.right.shape >= 0).all()
    assert not np.array_equal(pair.sample["left"], pair.sample["right"])
    np.testing.assert_array_equal(visible_in_right(pair.world, pair.left.depth), pair.sample["valid_noc"])


def test_make_synthetic_writes_the_world_in_the_scene_flow_layout_read_back_exactly(tmp_path) -> None:
    _photos(tmp_path / "photos", [(200, 120, 40), (30, 90, 200)])
    size = ["data.synthetic.generator.height=48", "data.synthetic.generator.width=96"]
    command = [
        sys.executable, "scripts/make_synthetic.py", "data=world", f"root={tmp_path / 'out'}", "count=3",
        f"textures={tmp_path / 'photos'}", *size, f"hydra.run.dir={tmp_path / 'run'}",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    generated = WorldStereo("test", 3, 0, {"height": 48, "width": 96, "textures": str(tmp_path / "photos")})
    read = SceneFlow(tmp_path / "out", split="TEST")
    assert len(read) == 3
    for index in range(3):
        original, loaded = generated[index], read[index]
        np.testing.assert_array_equal(loaded["disparity"], original["disparity"])
        np.testing.assert_array_equal(loaded["valid_noc"], original["valid_noc"])
        assert not loaded["valid_noc"].all()  # the occlusion masks came through
        for view in ("left", "right"):  # PNG keeps 8 bits: the writer's rounding, exactly
            expected = (np.rint(original[view].astype(np.float64) * 255) / 255).astype(np.float32)
            np.testing.assert_array_equal(loaded[view], expected)


def test_exporting_with_worker_processes_writes_the_same_files(tmp_path) -> None:
    for workers in (0, 2):
        export_synthetic(tmp_path / str(workers), "train", 3, 5, SMALL, progress=False, workers=workers)
    written = sorted(
        path.relative_to(tmp_path / "0") for path in (tmp_path / "0").rglob("*") if path.is_file()
    )
    assert len(written) == 3 * 4  # left, right, disparity, occlusion
    for relative in written:
        assert (tmp_path / "0" / relative).read_bytes() == (tmp_path / "2" / relative).read_bytes()


def test_the_world_files_experiment_trains_on_exported_pairs(tmp_path) -> None:
    export_synthetic(tmp_path / "pairs", "train", 3, 0, SMALL, progress=False)
    overrides = ["experiment=world_files", f"data.root={tmp_path / 'pairs'}", "data.crop=[32,64]"]
    data = compose_config("train", *overrides).data
    assert data.max_disparity == 96 and data.val[0].name == "world"
    on_the_fly = compose_config("train", "data=world").data
    # The same steps as data=world: batch, range and augmentation (the crop is overridden here).
    assert data.batch_size == on_the_fly.batch_size and data.augment == on_the_fly.augment
    module = instantiate(data)
    module.setup("fit")
    training = module.dataset("train")
    assert len(training) == 3 and module.dataset("val")[0]["meta"]["dataset"] == "world"
    exported = WorldStereo("train", 3, 0, SMALL)
    # The training stream reads the exported pairs (augmented): each crop is a window of one of them.
    crop = np.asarray(training[0]["disparity"])
    assert any(
        np.isin(crop[crop > 0].round(3), exported[i]["disparity"].round(3)).mean() > 0.99 for i in range(3)
    )
