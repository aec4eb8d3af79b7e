"""The training recipe: AdamW, linear warm-up, cosine decay, early stopping on validation loss.

Sources, so that the defaults are not ours:
- AdamW (decoupled weight decay): Loshchilov & Hutter, "Decoupled Weight Decay Regularization",
  ICLR 2019. lr 1e-3, betas (0.9, 0.999), eps 1e-8 and weight decay 0.01 are PyTorch's
  `torch.optim.AdamW` defaults (Kingma & Ba's Adam settings plus PyTorch's decay); the
  TensorFlow backend is given the same numbers.
- Cosine decay to zero: Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm
  Restarts", ICLR 2017 (one cycle, no restart).
- Linear warm-up from zero over the first 5 % of training: Goyal et al., "Accurate, Large
  Minibatch SGD: Training ImageNet in 1 Hour", 2017 (5 of 90 epochs); the Transformer recipe
  (Vaswani et al. 2017) warms up likewise.
- Early stopping on validation loss with patience, keeping the best epoch's weights: Prechelt,
  "Early Stopping - But When?", 1998. Patience is 5 epochs *and* 200 optimizer steps: on a
  data set of a few dozen samples an epoch is one step, and 5 steps judge nothing (measured on
  the UCR Coffee set: every 1-D CNN stopped at chance after 7-11 steps).

The schedule runs on *progress* in [0, 1]: the larger of the share of the epoch limit done and
the share of the time budget spent. Whichever limit binds, the learning rate reaches zero as
it is met (budgeted training: Li, Yumer & Ramanan, "Budgeted Training: Rethinking Deep Neural
Network Training Under Resource Constraints", ICLR 2020).
"""

from __future__ import annotations

import math
from typing import NamedTuple


class Recipe(NamedTuple):
    lr: float = 1e-3
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    warmup_fraction: float = 0.05
    min_lr_fraction: float = 0.0
    patience: int = 5  # epochs without a better validation loss before stopping
    patience_steps: int = 200  # ... and at least this many optimizer steps (tiny data sets)
    min_delta: float = 1e-4  # relative: a val loss must beat the best by this share to count

    def lr_at(self, progress: float) -> float:
        """The learning rate at `progress` (0 = start, 1 = the binding limit reached)."""
        p = min(max(progress, 0.0), 1.0)
        if p < self.warmup_fraction:
            return self.lr * max(p / self.warmup_fraction, 1e-3)
        rest = (p - self.warmup_fraction) / max(1e-12, 1.0 - self.warmup_fraction)
        low = self.lr * self.min_lr_fraction
        return low + (self.lr - low) * 0.5 * (1.0 + math.cos(math.pi * rest))

    def improved(self, val_loss: float, best: float | None) -> bool:
        return best is None or val_loss < best - self.min_delta * abs(best)

    def to_dict(self) -> dict:
        return {
            "optimizer": "AdamW",
            "lr": self.lr,
            "weight_decay": self.weight_decay,
            "betas": list(self.betas),
            "eps": self.eps,
            "schedule": "linear warm-up, then cosine decay to "
            + ("zero" if not self.min_lr_fraction else f"{self.min_lr_fraction:g} × lr"),
            "warmup_fraction": self.warmup_fraction,
            "early_stopping": {
                "monitor": "val_loss",
                "patience_epochs": self.patience,
                "patience_steps": self.patience_steps,
                "min_delta_relative": self.min_delta,
                "restore_best": True,
            },
        }


DEFAULT_RECIPE = Recipe()
