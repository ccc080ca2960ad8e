"""paperzoo: faithful, fast, tested PyTorch implementations of the systems in the papers."""

from paperzoo.errors import PaperzooError
from paperzoo.registry import create_model, list_models

__version__ = "0.1.0"


def load(path):
    """Rebuild a model exported by ``paperzoo export`` (safetensors + JSON; nothing is unpickled)."""
    from paperzoo.io.checkpoints import load_export

    return load_export(path)


__all__ = ["PaperzooError", "create_model", "list_models", "load", "__version__"]
