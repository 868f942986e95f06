"""Speed and memory benchmarks: attention blocks, whole models, training steps, the synthetic data.

Each configuration runs in a fresh process (``sweep.py``); ``scripts/bench_*.py`` print a table and write
the records as JSON. Nothing outside this package imports from it.
"""
