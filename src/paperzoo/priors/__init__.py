"""Autoregressive priors over discrete codes (VQ-VAE section 3.3) and their samplers."""

from paperzoo.priors.pixelcnn import GatedPixelCNN
from paperzoo.priors.samplers import sample_fast, sample_naive

__all__ = ["GatedPixelCNN", "sample_fast", "sample_naive"]
