"""Autoregressive priors over discrete codes (VQ-VAE section 3.3) and their samplers."""

from paperzoo.priors.pixelcnn import GatedPixelCNN
from paperzoo.priors.pixelsnail import PixelSNAIL
from paperzoo.priors.samplers import sample_codes, sample_fast, sample_naive

__all__ = ["GatedPixelCNN", "PixelSNAIL", "sample_codes", "sample_fast", "sample_naive"]
