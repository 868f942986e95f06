"""Readers for the stereo benchmarks (Scene Flow, KITTI 2012/2015, Middlebury 2014, ETH3D), one module each.

``base`` holds what they share: ``StereoDataset`` (the entry list, image loading and sample assembly),
``FolderDataset`` (the constructor of the benchmarks read from their folder layout: root, split and
empty-dataset checks, then the scan), the layout errors, and the plain-text file lists. Each benchmark
module keeps only its own folder layout, splits, ground-truth format and meta fields.
"""
