"""The built-in stereo generators, by name in ``generators.py``: the flat layered scenes (``scenes.py``,
``data=synthetic``) and the ray-cast 3D world (``world/``, ``data=world``); their shared 2D masks and
procedural textures, and the export of pairs in Scene Flow's layout for the scripts that read files."""
