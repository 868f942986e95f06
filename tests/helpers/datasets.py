"""Tiny fixture trees in each benchmark's exact layout, with the arrays written, for reader tests."""

from __future__ import annotations

import zlib
from pathlib import Path

import cv2
import numpy as np

from stereo_attn.data.io import write_image, write_kitti_disparity, write_pfm
from stereo_attn.data.readers.kitti import Kitti2012, Kitti2015

H, W = 8, 12


def _rng(*key: object) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def put_image(path: Path, *key: object, size: tuple[int, int] = (H, W)) -> np.ndarray:
    """Write a random RGB image whose values survive 8-bit storage; return it as read back."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rgb = _rng("image", *key).integers(0, 256, (*size, 3)).astype(np.float32) / 255
    write_image(path, rgb)
    return rgb


def put_pfm(path: Path, *key: object) -> np.ndarray:
    """Random positive disparity with a few inf/nan pixels (invalid), as Middlebury/ETH3D mark them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    disparity = _rng("pfm", *key).uniform(0.5, 60.0, (H, W)).astype(np.float32)
    disparity[0, :3] = np.inf
    disparity[5, 7] = np.nan
    write_pfm(path, disparity)
    return disparity


def put_mask(path: Path, *key: object) -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    mask = _rng("mask", *key).choice(np.array([0, 128, 255], np.uint8), (H, W))
    assert cv2.imwrite(str(path), mask)
    return mask


def put_kitti(path: Path, *key: object) -> tuple[np.ndarray, np.ndarray]:
    """KITTI 16-bit disparity: multiples of 1/256 (stored exactly), about a third of pixels without gt."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = _rng("kitti", *key)
    disparity = rng.integers(1, 200 * 256, (H, W)).astype(np.float32) / 256
    valid = rng.random((H, W)) > 0.3
    write_kitti_disparity(path, disparity, valid)
    return np.where(valid, disparity, 0).astype(np.float32), valid


def expected_valid(disparity: np.ndarray) -> np.ndarray:
    return np.isfinite(disparity)


# Scene Flow: (subset, split, path of the frame relative to frames_<pass>/ without "left/NNNN.png") in
# the order the reader must return them.
SF_FRAMES = [
    ("FlyingThings3D", "TRAIN", "TRAIN/A/0000", "0006"),
    ("FlyingThings3D", "TRAIN", "TRAIN/A/0000", "0007"),
    ("FlyingThings3D", "TRAIN", "TRAIN/B/0001", "0010"),
    ("FlyingThings3D", "TEST", "TEST/A/0000", "0006"),
    ("FlyingThings3D", "TEST", "TEST/C/0002", "0008"),
    ("Monkaa", "TRAIN", "a_rain_of_stones_x2", "0000"),
    ("Monkaa", "TRAIN", "eating_x2", "0000"),
    ("Monkaa", "TRAIN", "eating_x2", "0001"),
    ("Driving", "TRAIN", "15mm_focallength/scene_forwards/fast", "0001"),
    ("Driving", "TRAIN", "35mm_focallength/scene_backwards/slow", "0001"),
]


def make_sceneflow(root: Path, layout: str) -> dict[str, tuple]:
    """Both passes of all three subsets; {left path: (left, right, disparity, subset, split, pass)}."""
    written = {}
    # Written in reverse so that creation order differs from the sorted order.
    for subset, split, sequence, frame in reversed(SF_FRAMES):
        base = root / subset if layout == "per-subset" else root
        disparity = put_pfm(base / "disparity" / sequence / "left" / f"{frame}.pfm", subset, sequence, frame)
        for pass_name in ("finalpass", "cleanpass"):
            frames = base / f"frames_{pass_name}" / sequence
            left = put_image(frames / "left" / f"{frame}.png", pass_name, sequence, frame, "L")
            right = put_image(frames / "right" / f"{frame}.png", pass_name, sequence, frame, "R")
            key = str(frames / "left" / f"{frame}.png")
            written[key] = (left, right, disparity, subset, split, pass_name)
    return written


def sf_expected(root: Path, layout: str, split: str, pass_name: str, subsets=None) -> list[str]:
    return [
        str(
            (root / subset if layout == "per-subset" else root)
            / f"frames_{pass_name}"
            / seq
            / "left"
            / f"{f}.png"
        )
        for subset, s, seq, f in SF_FRAMES
        if s == split and (subsets is None or subset in subsets)
    ]


KITTI = [
    (Kitti2015, "kitti2015", ("image_2", "image_3", "disp_occ_0", "disp_noc_0")),
    (Kitti2012, "kitti2012", ("colored_0", "colored_1", "disp_occ", "disp_noc")),
]


def make_kitti(root: Path, folders: tuple[str, ...]) -> dict[str, tuple]:
    left_f, right_f, occ_f, noc_f = folders
    written = {}
    for frame in ("000002", "000000", "000001"):
        name = f"{frame}_10.png"
        left = put_image(root / "training" / left_f / name, frame, "L")
        right = put_image(root / "training" / right_f / name, frame, "R")
        occ, valid = put_kitti(root / "training" / occ_f / name, frame, "occ")
        _, noc_valid = put_kitti(root / "training" / noc_f / name, frame, "noc")
        written[frame] = (left, right, occ, valid, noc_valid)
        # _11 frames (scene flow's second frame) are no stereo pairs with ground truth.
        put_image(root / "training" / left_f / f"{frame}_11.png", frame, "L11")
        put_image(root / "training" / right_f / f"{frame}_11.png", frame, "R11")
    for frame in ("000001", "000000"):
        put_image(root / "testing" / left_f / f"{frame}_10.png", frame, "TL")
        put_image(root / "testing" / right_f / f"{frame}_10.png", frame, "TR")
    return written


CALIB = """cam0=[3997.684 0 1176.728; 0 3997.684 1011.728; 0 0 1]
cam1=[3997.684 0 1307.839; 0 3997.684 1011.728; 0 0 1]
doffs=131.111
baseline=193.001
width=2964
height=1988
ndisp=280
isint=0
vmin=31
vmax=257
dyavg=0.918
dymax=1.516
"""


def make_middlebury(root: Path) -> dict[str, tuple]:
    written = {}
    for scene in ("Motorcycle", "Adirondack", "Australia"):
        left = put_image(root / scene / "im0.png", scene, "L")
        right = put_image(root / scene / "im1.png", scene, "R")
        (root / scene / "calib.txt").write_text(CALIB.replace("280", {"Motorcycle": "270"}.get(scene, "280")))
        written[scene] = (left, right)
    written["Adirondack"] += (
        put_pfm(root / "Adirondack" / "disp0GT.pfm", "A"),
        put_mask(root / "Adirondack" / "mask0nocc.png", "A"),
    )
    # The full 2014 data set's naming: disp0.pfm, no mask; Australia is a test scene without ground truth.
    written["Motorcycle"] += (put_pfm(root / "Motorcycle" / "disp0.pfm", "M"), None)
    (root / "not_a_scene").mkdir()
    return written


def make_eth3d(root: Path) -> dict[str, tuple]:
    written = {}
    for scene in ("electro_1l", "delivery_area_1l"):
        left = put_image(root / "two_view_training" / scene / "im0.png", scene, "L")
        right = put_image(root / "two_view_training" / scene / "im1.png", scene, "R")
        disparity = put_pfm(root / "two_view_training_gt" / scene / "disp0GT.pfm", scene)
        mask = put_mask(root / "two_view_training_gt" / scene / "mask0nocc.png", scene)
        written[scene] = (left, right, disparity, mask)
    for scene in ("lakeside_1l", "facade_1s"):
        written[scene] = (
            put_image(root / "two_view_test" / scene / "im0.png", scene, "TL"),
            put_image(root / "two_view_test" / scene / "im1.png", scene, "TR"),
        )
    return written


def make_folder(root: Path) -> dict[str, tuple]:
    """data=folder: left/, right/, disparity/ in each of its formats (PFM, KITTI PNG, NPY), one mask."""
    written = {}
    for stem, kind in (("c_pfm", "pfm"), ("a_png", "png"), ("b_npy", "npy")):
        left = put_image(root / "left" / f"{stem}.png", stem, "L")
        right = put_image(root / "right" / f"{stem}.png", stem, "R")
        if kind == "pfm":
            disparity = put_pfm(root / "disparity" / f"{stem}.pfm", stem)
        elif kind == "png":
            disparity, _ = put_kitti(root / "disparity" / f"{stem}.png", stem)
        else:
            disparity = _rng(stem, "npy").uniform(-1, 30, (H, W)).astype(np.float32)
            disparity[0, 0] = np.inf
            (root / "disparity").mkdir(parents=True, exist_ok=True)
            np.save(root / "disparity" / f"{stem}.npy", disparity)
        written[stem] = (left, right, disparity)
    mask = np.where(_rng("mask").random((H, W)) < 0.5, 255, 0).astype(np.uint8)
    (root / "mask").mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(root / "mask" / "c_pfm.png"), mask)
    written["c_pfm"] += (mask,)
    return written


def fixture_root(name: str, root: Path) -> Path:
    """A tiny tree in the layout the config ``name`` reads."""
    if name == "sceneflow":
        make_sceneflow(root, "merged")
    elif name in ("kitti2015", "kitti2012"):
        make_kitti(root, dict((n, f) for _, n, f in KITTI)[name])
    elif name == "kitti_mix":
        for year in ("kitti2015", "kitti2012"):
            make_kitti(root / year, dict((n, f) for _, n, f in KITTI)[year])
    elif name == "middlebury":
        make_middlebury(root)
    elif name == "eth3d":
        make_eth3d(root)
    elif name == "folder":
        make_folder(root)
    return root


def write_middlebury2006_scene(
    folder: Path, scene: str = "toy", size: tuple[int, int] = (30, 45)
) -> np.ndarray:
    """A random <scene>L/R.png pair with an 8-bit <scene>GT.png (its first rows unknown); the truth."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    left = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
    cv2.imwrite(str(folder / f"{scene}L.png"), left)
    cv2.imwrite(str(folder / f"{scene}R.png"), np.roll(left, -4, axis=1))
    truth = rng.integers(0, 60, size, dtype=np.uint8)
    truth[:3] = 0  # unknown
    cv2.imwrite(str(folder / f"{scene}GT.png"), truth)
    return truth
