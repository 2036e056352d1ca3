"""Benchmarks: wsgiapp against Flask, Falcon, a constant-bytes floor and a replay of its own answers.

Run from the repository root (`python -m bench`), which puts the root on sys.path: the servers are
started with bench.servers, which the tests and docs/screenshots.py use too.
"""
