"""Metric conventions, written once: images, codebooks (and later audio, ranking, video)."""
