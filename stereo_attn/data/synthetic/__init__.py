"""The built-in procedural stereo scenes: the generator and its dataset (``scenes.py``), its textures,
and the export of pairs in Scene Flow's layout for the scripts that read files."""
