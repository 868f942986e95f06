"""Scoring on benchmarks: metrics, each benchmark's protocol, the StereoSGBM baseline, the evaluate job
(``run.py``, behind scripts/evaluate.py) and the demo (``demo.py``, behind scripts/demo.py)."""
