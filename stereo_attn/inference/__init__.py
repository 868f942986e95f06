"""Running a checkpoint on a user's image pairs: finding and checking the pairs, the device and memory
check, prediction, the files written per pair, and camera calibrations for depth and point clouds."""
