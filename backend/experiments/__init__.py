"""Benchmarks against real data (not tests: they report figures, they do not assert targets)."""
