"""Stereo datasets: file formats, benchmark readers, the procedural generator, augmentation."""
