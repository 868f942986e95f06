"""Helpers the tests share: the project's paths, tiny configs and data, random blocks, W&B records.

The two programs here (``killed_training.py``, ``memory_probe.py``) run in fresh processes.
"""
