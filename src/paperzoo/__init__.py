"""paperzoo: faithful, fast, tested PyTorch implementations of the systems in the papers."""

from paperzoo.errors import PaperzooError
from paperzoo.registry import create_model as _create_model, list_models

from paperzoo.version import __version__


def create_model(name: str, *, pretrained: bool = False, weights=None, **kwargs):
    """Build a registered model (timm style); ``pretrained=True`` loads its shipped zoo weights
    (offline, sha256 checked; ``paperzoo zoo list`` shows the entries); ``weights=`` an export
    directory, or a released video checkpoint file (torchvision, pytorchvideo, I3D, C3D:
    ``paperzoo weights list``), converted on the fly."""
    if pretrained and weights is not None:
        from paperzoo.errors import InvalidArgumentError

        raise InvalidArgumentError("give pretrained=True or weights=..., not both")
    if weights is not None:
        from paperzoo.video.weights import model_with_weights

        return model_with_weights(name, weights, **kwargs)
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
