"""Inference: the per-video session and the drivers built on it."""
