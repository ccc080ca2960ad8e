"""The margin classifier without the training stack: ``paperzoo.load(RUN_OR_EXPORT).predict(x)``."""

from __future__ import annotations

import torch

from paperzoo.errors import InvalidArgumentError
from paperzoo.io.bundle import Bundle, Pretrained


class MarginPredictor(Pretrained):
    """A trained linear margin classifier (its training-set standardisation inside).

    ``scores(x)``: (B, D) -> (B,) signed margins f(x); ``predict(x)``: (B,) labels in {-1, +1};
    ``.classes``: the names of the -1 and +1 classes when the data had them."""

    def __init__(self, bundle: Bundle):
        super().__init__(bundle)
        self.classes: list[str] | None = bundle.info.get("classes")

    @classmethod
    def from_bundle(cls, bundle: Bundle) -> "MarginPredictor":
        return cls(bundle)

    @torch.no_grad()
    def scores(self, x) -> torch.Tensor:
        x = torch.as_tensor(x, dtype=torch.float32)
        features = self.model.linear.in_features
        if x.dim() != 2 or x.shape[1] != features:
            raise InvalidArgumentError(f"x must be (B, {features}), got {tuple(x.shape)}")
        return self.model(x)

    def predict(self, x) -> torch.Tensor:
        return torch.where(self.scores(x) > 0, 1, -1)
