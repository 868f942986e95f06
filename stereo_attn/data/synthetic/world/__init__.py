"""The 3D synthetic world: ray-cast stereo scenes with exact disparity."""
