"""Vector quantisation and the VQ-VAE family."""

from paperzoo.vq.quantizer import QuantizerOutput, VectorQuantizer, perplexity_from_counts

__all__ = ["QuantizerOutput", "VectorQuantizer", "perplexity_from_counts"]
