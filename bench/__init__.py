"""Benchmarks: wsgiapp against the same job in Flask and against a constant-bytes floor."""
