"""Choose texture photos for the 3D world (``textures=``) from folders of images, e.g. wallpapers.

    python scripts/select_photos.py 'sources=[/usr/share/backgrounds,/usr/share/wallpapers]' root=data/photos

Keeps the photos most of whose pixels are textured, one file per picture (the largest), and writes
``selection.json`` listing them.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig, ListConfig

from stereo_attn import options
from stereo_attn.cli import run_reporting_errors
from stereo_attn.data.synthetic.world.photo_selection import select_photos
from stereo_attn.options import OptionError
from stereo_attn.overrides import check_overrides


def run(cfg: DictConfig) -> str:
    if not isinstance(cfg.sources, ListConfig):
        raise OptionError(f"sources={cfg.sources}: expected a list of folders, e.g. 'sources=[DIR]'")
    sources = [options.path(source, "sources") for source in cfg.sources]
    root = options.path(cfg.root, "root")
    min_textured = options.number(cfg.min_textured, "min_textured", minimum=0)
    if min_textured > 1:
        raise OptionError(f"min_textured={min_textured}: expected a share between 0 and 1")
    chosen = select_photos(
        sources, root, min_textured, options.number(cfg.gradient, "gradient", positive=True),
        overwrite=options.boolean(cfg.overwrite, "overwrite"),
    )  # fmt: skip
    return f"kept {len(chosen)} photos under {root}"


@hydra.main(version_base="1.3", config_path="../conf", config_name="select_photos")
def main(cfg: DictConfig) -> None:
    print(run_reporting_errors(lambda: run(cfg)))


if __name__ == "__main__":
    check_overrides("select_photos")
    main()
