"""The 3D world's options (``data.synthetic.generator`` of ``conf/data/world.yaml``)."""

from __future__ import annotations

from dataclasses import dataclass

from stereo_attn.data.synthetic.options import PREFIX, GeneratorOptions


@dataclass(frozen=True)
class WorldConfig(GeneratorOptions):
    """What a rendered world looks like; sized for a CPU like the flat generator (160x320, up to 80 px)."""

    height: int = 160
    width: int = 320
    min_disparity: float = 1.0
    max_disparity: float = 80.0
    min_objects: int = 10
    max_objects: int = 30
    textures: str | None = None  # a folder of photos (searched recursively); None: procedural only
    photo_fraction: float = 0.7  # of surfaces textured with a photo when a folder is given
    texture_cache_mb: int = 256  # decoded photos kept per process
    specular: float = 0.25  # share of glossy surfaces
    noise_std: float = 0.01  # sensor noise per view
    photometric: float = 1.0  # scale of the differences in exposure, white balance and gamma between views
    defocus: float = 0.15  # chance that a pair is shot with a shallow depth of field
    jpeg: float = 0.3  # chance that each view is JPEG-compressed

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.textures is not None and not isinstance(self.textures, str):
            raise ValueError(f"{PREFIX}.textures={self.textures}: expected a folder path or null")
        for name in ("photo_fraction", "specular", "defocus", "jpeg"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{PREFIX}.{name}={getattr(self, name)}: expected a probability in [0, 1]")
        for name in ("texture_cache_mb", "noise_std", "photometric"):
            if getattr(self, name) < 0:
                raise ValueError(f"{PREFIX}.{name}={getattr(self, name)}: expected a number >= 0")
