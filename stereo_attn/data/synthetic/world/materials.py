"""Surface appearance: textures mapped onto surface coordinates, and the light they reflect.

A material maps a surface's 2D coordinates (scene units, from shapes.py) to texels by a rotation, a
texel size and an offset, so a texture foreshortens with perspective like paint on the surface. The
texture is a procedural patch (textures.py) or a photo from the user's library, held as a mip pyramid:
each pixel reads the level whose texels are about its footprint on the surface, so distant and grazing
surfaces do not alias. Colours are read in display space, turned linear for lighting (Lambertian
diffuse from one or two directional lights plus ambient, and a Blinn-Phong highlight that depends on
the viewing direction, so it moves between the two views), and the camera model encodes them again.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from stereo_attn.data.synthetic.textures import KINDS, make_texture
from stereo_attn.data.synthetic.world.photos import PhotoLibrary, build_pyramid

PROCEDURAL_SIZE = 256  # texels per side; surfaces larger than that see it mirrored
# Procedural textures come from a fixed pool, each made once per process: making one costs more than
# rendering the surface. Materials vary them by scale, rotation, offset, tint and saturation.
PROCEDURAL_POOL = 256
FLAT_POOL = 32
REMAP_ROW = 1024  # cv2.remap takes maps narrower than 32767 columns: scattered reads go in rows


def sample_bilinear(image: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``image`` (H, W, 3) at scattered texel positions, bilinear and mirrored at the borders: (n, 3)."""
    count = len(x)
    rows = max(1, math.ceil(count / REMAP_ROW))
    padded = rows * REMAP_ROW
    map_x = np.zeros(padded, np.float32)
    map_y = np.zeros(padded, np.float32)
    map_x[:count], map_y[:count] = x, y
    shape = (rows, REMAP_ROW)
    out = cv2.remap(
        image, map_x.reshape(shape), map_y.reshape(shape), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
    )
    return out.reshape(padded, -1)[:count]


@functools.lru_cache(maxsize=PROCEDURAL_POOL + FLAT_POOL)
def procedural_pyramid(kind: str | None, index: int) -> list[np.ndarray]:
    """Texture ``index`` of the pool of ``kind`` (None: any kind), as a uint8 mip pyramid."""
    rng = np.random.default_rng([index, 0 if kind is None else 1 + KINDS.index(kind)])
    texture = make_texture(rng, PROCEDURAL_SIZE, PROCEDURAL_SIZE, kind)
    return build_pyramid((texture * 255 + 0.5).astype(np.uint8))


@dataclass
class Material:
    """A texture source and how it lies on the surface; made into pixels only if the surface is seen."""

    seed: int  # picks the procedural texture, also the fallback when a photo cannot be decoded
    texel_size: float  # scene units per texel
    angle: float
    offset: tuple[float, float]  # texels
    tint: tuple[float, float, float]  # per-channel gain of the albedo
    saturation: float
    specular: float  # 0 for matte surfaces
    shininess: float
    photo: int | None = None  # index into the photo library, None for a procedural texture
    kind: str | None = None  # of the procedural texture (textures.KINDS); None: a random one
    _pyramid: list[np.ndarray] | None = field(default=None, repr=False)

    def pyramid(self, photos: PhotoLibrary | None) -> list[np.ndarray]:
        if self._pyramid is None:
            levels = photos.pyramid(self.photo) if photos is not None and self.photo is not None else None
            if levels is None:
                pool = FLAT_POOL if self.kind == "flat" else PROCEDURAL_POOL
                levels = procedural_pyramid(self.kind, self.seed % pool)
            self._pyramid = levels
        return self._pyramid

    def albedo(
        self, face: np.ndarray, uv: np.ndarray, footprint: np.ndarray, photos: PhotoLibrary | None
    ) -> np.ndarray:
        """Linear reflectance (n, 3) at surface coordinates ``uv``; ``footprint``: scene units per pixel."""
        levels = self.pyramid(photos)
        cos, sin = math.cos(self.angle), math.sin(self.angle)
        # Faces of one solid share the texture at different places, so a box's sides do not repeat.
        shift = face * 97.0
        tx = (cos * uv[:, 0] - sin * uv[:, 1]) / self.texel_size + self.offset[0] + shift
        ty = (sin * uv[:, 0] + cos * uv[:, 1]) / self.texel_size + self.offset[1] + shift * 0.61
        # Trilinear: a blend of the two levels around each pixel's footprint, so the sharpness of a
        # texture changes smoothly, alike in both views (a rounded level would put seams at
        # different places in the two views, a difference the network should not have to learn).
        level = np.clip(np.log2(np.maximum(footprint / self.texel_size, 1.0)), 0, len(levels) - 1)
        lower = np.floor(level).astype(np.int64)
        upper_weight = (level - lower).astype(np.float32)
        colour = np.zeros((len(uv), 3), np.float32)
        for index in range(int(lower.max(initial=0)) + 1):
            for which, weight in ((index, 1 - upper_weight), (index + 1, upper_weight)):
                chosen = (lower == index) & (weight > 0)
                if which >= len(levels) or not chosen.any():
                    continue
                scale = 0.5**which  # pyrDown halves: texel t of level 0 is (t + 0.5) / 2 - 0.5 one up
                sampled = sample_bilinear(
                    levels[which], (tx[chosen] + 0.5) * scale - 0.5, (ty[chosen] + 0.5) * scale - 0.5
                )
                colour[chosen] += sampled * weight[chosen, None]
        colour *= np.float32(1 / 255)
        if self.saturation != 1:
            grey = colour @ np.full((3, 1), 1 / 3, np.float32)
            colour = grey + np.float32(self.saturation) * (colour - grey)
        colour *= np.asarray(self.tint, np.float32)
        np.clip(colour, 0, 1, out=colour)
        return cv2.pow(colour, 2.2)  # display to linear


@dataclass(frozen=True)
class Lighting:
    directions: np.ndarray  # (k, 3) unit vectors towards the lights
    intensities: np.ndarray  # (k,)
    ambient: float

    def shade(
        self, albedo: np.ndarray, normal: np.ndarray, view: np.ndarray, material: Material
    ) -> np.ndarray:
        """Radiance (n, 3) of surface points with unit ``normal`` seen along unit ``view`` (to the camera)."""
        cosines = normal @ self.directions.T  # (n, k)
        diffuse = self.ambient + np.maximum(cosines, 0) @ self.intensities
        radiance = albedo * diffuse[:, None].astype(np.float32)
        if material.specular > 0:
            highlight = np.zeros(len(normal), np.float32)
            for light, intensity in zip(self.directions.astype(np.float32), self.intensities, strict=True):
                halfway = view + light
                length = np.sqrt(np.einsum("ij,ij->i", halfway, halfway))
                alignment = np.einsum("ij,ij->i", normal, halfway) / length
                lit = np.maximum(alignment, 0) * (normal @ light > 0)
                highlight += np.float32(intensity) * lit ** np.float32(material.shininess)
            radiance += (material.specular * highlight)[:, None].astype(np.float32)
        return radiance
