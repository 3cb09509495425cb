"""Helpers for tests and benchmarks: the fixtures' deterministic weight recipe and fixture reading."""
