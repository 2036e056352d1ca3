"""Benchmarks: wsgiapp against Flask, Falcon, a constant-bytes floor and a replay of its own answers."""

import sys
from pathlib import Path

# The benchmarks start servers with the tests' helpers (tests/servers.py).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
