"""The model zoo: paperzoo's own trained weights, shipped in the package and loaded offline.

No public weights exist for most of these systems (and none can be downloaded on an offline
machine), so paperzoo trains its own on real data and ships each one as an export folder
``paperzoo/zoo/<entry>/`` (``model.safetensors``, optional ``assets.safetensors``, ``card.json``).
The card carries, beside what every export has (architecture, arguments, training command, data,
steps, seed, metrics, sha256 of every file), a ``zoo`` section: what the entry is for, its CPU
training time, its size / quality trade-off and a *check*: a metric re-measured on a small fixed
real subset (``paperzoo zoo check``, and a test per entry in CI) so a shipped file cannot rot
silently.

    paperzoo.load("zoo:vqvae_sonnet_cifar10")              # the family's inference object
    paperzoo.create_model("vqvae_sonnet_cifar10", pretrained=True)   # the bare network

This module only finds entries (it reads no weights): ``paperzoo.io.bundle`` reads them, sha256
checked.
"""

from __future__ import annotations

import json
from pathlib import Path

from paperzoo.errors import CheckpointError, InvalidArgumentError

ZOO_DIR = Path(__file__).parent
PREFIX = "zoo:"


def entry_names() -> list[str]:
    return sorted(p.name for p in ZOO_DIR.iterdir() if (p / "card.json").is_file())


def entry_path(name: str) -> Path:
    """The export folder of a zoo entry; an unknown entry is a one-line error listing them."""
    name = name.removeprefix(PREFIX)
    if name not in entry_names():
        raise InvalidArgumentError(f"unknown zoo entry {name!r}; entries: {', '.join(entry_names()) or 'none'}")
    return ZOO_DIR / name


def is_zoo(spec) -> bool:
    return isinstance(spec, str) and spec.startswith(PREFIX)


def card(name: str) -> dict:
    path = entry_path(name) / "card.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: unreadable zoo card ({exc})") from None


def entry_for(architecture: str) -> str:
    """The zoo entry of an architecture: the entry of that name, else the only entry built on it."""
    names = entry_names()
    if architecture in names:
        return architecture
    matches = [n for n in names if card(n).get("architecture") == architecture]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise InvalidArgumentError(f"{architecture!r} has several zoo entries ({', '.join(matches)}): "
                                   f"load one with paperzoo.load('zoo:ENTRY')")
    raise InvalidArgumentError(f"no pretrained weights for {architecture!r}; zoo entries: {', '.join(names) or 'none'}")
