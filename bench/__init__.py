"""Benchmarks: wsgiapp against the same job in Flask and against a constant-bytes floor."""

import sys
from pathlib import Path

# The benchmarks start servers with the tests' helpers (tests/servers.py).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
