"""Raw-waveform VQ-VAE (paper section 4.3): strided-conv encoder, K = 512 codes, WaveNet decoder
conditioned on the latents and on the speaker.

    encoder   (B, 1, T) waveform in [-1, 1] -> 6 x [conv k=4, stride 2, pad 1, ReLU] -> 1x1 conv to D
              -> z_e (B, D, T / 64): 64x fewer time steps than samples
    quantiser K = 512 codes of D = 64 (D is not given in the paper; 64 as for images), beta = 0.25
    decoder   WaveNet over 8-bit mu-law samples; local conditioning = z_q repeated 64x in time
              (nearest upsampling to the sample rate), global conditioning = speaker embedding
              (the one-hot of the paper, as an embedding: the same thing)
    context   optional (``context_layers`` > 0; not in the paper, which gives no conditioning network):
              residual convolutions (window 3, non-causal) over z_q at the latent rate before the
              upsampling, so each sample's conditioning also sees the neighbouring codes (with L
              layers, L codes = L x 8 ms either side). Without it a sample knows only its own 64-sample
              code; free-running generation then has nothing that says where the next code goes.
    input noise optional (``input_noise`` = sigma > 0; not in the paper): in training only, the previous
              samples the WaveNet reads are the true ones plus rounded Gaussian noise of sigma mu-law
              classes, while the targets stay clean (LPCNet's remedy for exposure bias). Teacher forcing
              never shows the network its own sampling errors; free-running generation feeds them back,
              so a net that trusts its past over its conditioning drifts off the content.

    loss = cross-entropy of the WaveNet's 256-way softmax on the mu-law samples (teacher forcing)
           + the quantiser's codebook and commitment terms

Speaker conversion (the paper's third audio experiment): encode an utterance of speaker A, decode
its codes with speaker B's id. Lengths must be multiples of 64 samples; ``pad_to_hop`` pads.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from paperzoo.registry import register_model
from paperzoo.vq.quantizer import QuantizerOutput, VectorQuantizer
from paperzoo.vq.wavenet import WaveNet, mu_law_decode, mu_law_encode


class AudioEncoder(nn.Module):
    """(B, 1, T) -> (B, D, T / 2^downsamplings): strided convolutions, stride 2, window 4."""

    def __init__(self, hidden: int, dim: int, downsamplings: int = 6):
        super().__init__()
        layers, cin = [], 1
        for _ in range(downsamplings):
            layers += [nn.Conv1d(cin, hidden, 4, 2, 1), nn.ReLU(inplace=True)]
            cin = hidden
        layers.append(nn.Conv1d(hidden, dim, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        return self.net(wave)


class LatentContext(nn.Module):
    """(B, D, L) -> (B, D, L): ``layers`` residual blocks h + conv3(relu(h)), at the latent rate."""

    def __init__(self, dim: int, layers: int):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv1d(dim, dim, 3, padding=1) for _ in range(layers))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            z = z + conv(F.relu(z))
        return z


class AudioVQVAE(nn.Module):
    """Waveforms (B, T) in [-1, 1] and speaker ids (B,) -> WaveNet logits; see the module docstring."""

    def __init__(self, *, speakers: int, num_codes: int = 512, dim: int = 64, hidden: int = 256, downsamplings: int = 6,
                 residual: int = 128, skip: int = 256, layers: int = 10, cycles: int = 3, beta: float = 0.25,
                 ema: bool = False, decay: float = 0.99, kmeans_init: bool = False, restart_after: int | None = None,
                 context_layers: int = 0, input_noise: float = 0.0):
        super().__init__()
        if input_noise < 0:
            raise ValueError(f"input_noise is a standard deviation in mu-law classes, >= 0; got {input_noise}")
        self.hop = 2**downsamplings
        self.input_noise = input_noise
        self.speakers = speakers
        self.encoder = AudioEncoder(hidden, dim, downsamplings)
        self.quantizer = VectorQuantizer(num_codes, dim, beta, ema=ema, decay=decay, kmeans_init=kmeans_init,
                                         restart_after=restart_after)
        self.context = LatentContext(dim, context_layers) if context_layers else None
        self.decoder = WaveNet(classes=256, residual=residual, skip=skip, layers=layers, cycles=cycles, local_channels=dim,
                               global_classes=speakers)

    def _check(self, wave: torch.Tensor, speaker: torch.Tensor) -> None:
        if wave.dim() != 2 or wave.shape[1] % self.hop:
            raise ValueError(f"waveforms must be (B, T) with T a multiple of {self.hop}, got {tuple(wave.shape)}")
        if speaker.shape != (wave.shape[0],) or speaker.min() < 0 or speaker.max() >= self.speakers:
            raise ValueError(f"speaker ids must be (B,) in [0, {self.speakers}), got {speaker.tolist()}")

    def quantize(self, wave: torch.Tensor) -> QuantizerOutput:
        return self.quantizer(self.encoder(wave.unsqueeze(1)))

    def upsample(self, z_q: torch.Tensor) -> torch.Tensor:
        """(B, D, T / hop) -> (B, D, T): each latent (after the optional context stack) conditions the hop
        samples it encodes."""
        if self.context is not None:
            z_q = self.context(z_q)
        return z_q.repeat_interleave(self.hop, dim=-1)

    def forward(self, wave: torch.Tensor, speaker: torch.Tensor) -> tuple[torch.Tensor, QuantizerOutput]:
        """Teacher forcing: (logits (B, 256, T), quantiser output)."""
        self._check(wave, speaker)
        vq = self.quantize(wave)
        return self.decoder(self._past_samples(mu_law_encode(wave)), self.upsample(vq.quantized), speaker), vq

    def _past_samples(self, classes: torch.Tensor) -> torch.Tensor:
        """The samples the decoder reads as its past: in training with ``input_noise``, perturbed."""
        if not (self.training and self.input_noise):
            return classes
        noise = torch.randn(classes.shape, device=classes.device) * self.input_noise
        return (classes + noise.round().long()).clamp(0, self.decoder.classes - 1)

    def training_loss(self, wave: torch.Tensor, speaker: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        logits, vq = self(wave, speaker)
        ce = F.cross_entropy(logits, mu_law_encode(wave))
        return ce + vq.loss, {"ce": ce.detach(), "vq": vq.loss.detach(), "perplexity": vq.perplexity.detach()}

    @torch.no_grad()
    def encode(self, wave: torch.Tensor) -> torch.Tensor:
        """(B, T) -> codes (B, T / hop)."""
        z = self.encoder(wave.unsqueeze(1))
        flat, spatial = self.quantizer._flatten(z)
        return self.quantizer.nearest(flat).reshape(wave.shape[0], *spatial)

    @torch.no_grad()
    def decode(self, codes: torch.Tensor, speaker: torch.Tensor, *, temperature: float = 1.0,
               generator: torch.Generator | None = None, progress: bool = False) -> torch.Tensor:
        """Codes (B, L) and speaker ids (B,) -> waveforms (B, L x hop) by fast WaveNet generation (the latents
        are handed over at their own rate: the decoder repeats them block by block, in bounded memory)."""
        z = self.quantizer.lookup(codes)
        z = self.context(z) if self.context is not None else z
        samples = self.decoder.generate(z.shape[-1] * self.hop, z, speaker, c_hop=self.hop, temperature=temperature,
                                        generator=generator, progress=progress)
        return mu_law_decode(samples)

    @torch.no_grad()
    def convert(self, wave: torch.Tensor, target_speaker: torch.Tensor, **kwargs) -> torch.Tensor:
        """Speaker conversion: the content of ``wave`` (B, T) in the voice of ``target_speaker`` (B,)."""
        return self.decode(self.encode(wave), target_speaker, **kwargs)


def pad_to_hop(wave: torch.Tensor, hop: int = 64) -> torch.Tensor:
    """Zero-pad the last axis up to a multiple of ``hop`` samples."""
    return F.pad(wave, (0, -wave.shape[-1] % hop))


@register_model("vqvae_audio", family="vq")
def vqvae_audio(*, speakers: int = 109, **overrides) -> AudioVQVAE:
    """Raw-audio VQ-VAE (section 4.3): 6 strided convs (64x), K = 512, WaveNet decoder (3 cycles of
    dilations 1..512, 128 residual / 256 skip channels: our sizes; the paper gives none) conditioned on
    the latents and a speaker id (VCTK: 109 speakers)."""
    return AudioVQVAE(speakers=speakers, **overrides)
