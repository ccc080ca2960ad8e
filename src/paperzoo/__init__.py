"""paperzoo: faithful, fast, tested PyTorch implementations of the systems in the papers."""

from paperzoo.errors import PaperzooError
from paperzoo.registry import create_model as _create_model, list_models

from paperzoo.version import __version__


def create_model(name: str, *, pretrained: bool = False, **kwargs):
    """Build a registered model (timm style); ``pretrained=True`` loads its shipped zoo weights
    (offline, sha256 checked; ``paperzoo zoo list`` shows the entries)."""
    if pretrained:
        from paperzoo.io.bundle import pretrained_model

        return pretrained_model(name, **kwargs)
    return _create_model(name, **kwargs)


def load(path):
    """A run directory, an export (``paperzoo export``) or a zoo entry (``"zoo:NAME"``) as its family's
    inference object, eval mode:
    ``.separate`` (AudioSlots), ``.predict`` (video, margin), ``.encode`` / ``.decode`` / ``.reconstruct``
    (VQ-VAE), ``.sample`` (priors), ``.convert`` (audio VQ-VAE), ``.recommend`` (recommenders); the bare
    model for the others. Each has ``.model`` and ``.card``. Nothing is unpickled; no Lightning involved."""
    from paperzoo.io.bundle import load as load_bundle

    return load_bundle(path)


__all__ = ["PaperzooError", "create_model", "list_models", "load", "__version__"]
