"""The PyTorch backend. Importing this package imports torch."""

from __future__ import annotations

import torch

from ...graph import Graph, cost
from ..base import Built, LayerRow, Weights, translate_oom
from . import runtime, weights
from .model import build_module


def _oom():
    return translate_oom(torch.cuda.OutOfMemoryError)


class TorchBackend:
    name = "torch"
    framework = "torch"
    CHECKPOINT = runtime.CHECKPOINT  # the file `save_checkpoint` writes in a run directory

    @property
    def DEVICES(self) -> tuple[str, ...]:  # noqa: N802 - a capability constant, computed
        return runtime.devices()

    @property
    def PRECISIONS(self) -> dict[str, tuple[str, ...]]:  # noqa: N802
        return runtime.precisions()

    def version(self) -> str:
        return f"torch {torch.__version__}"

    def build(self, graph: Graph, device: str = "cpu", precision: str = "fp32") -> Built:
        runtime.check(device, precision)
        with _oom():
            model = build_module(graph).to(device)
        if device == "cuda" and graph.layout == "image":
            model = model.to(memory_format=torch.channels_last)  # faster convolutions on GPU
        model.eval()
        return Built(graph, model, self.name, device, precision)

    def count_params(self, built: Built) -> tuple[int, int]:
        model = built.model
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        buffers = sum(
            b.numel() for n, b in model.named_buffers() if not n.endswith("num_batches_tracked")
        )
        return trainable, buffers

    def summary(self, built: Built) -> list[LayerRow]:
        leaves = built.model.leaves
        rows = []
        for r in cost(built.graph, "torch").rows:
            if not r.leaf:
                continue
            module = leaves[r.path]
            rows.append(
                LayerRow(
                    r.path,
                    r.kind,
                    r.out_shape,
                    r.cost.params,
                    sum(p.numel() for p in module.parameters()),
                )
            )
        return rows

    def get_weights(self, built: Built) -> Weights:
        return weights.get_weights(built.model.leaves)

    def set_weights(self, built: Built, new: Weights) -> None:
        weights.set_weights(built.model.leaves, new)

    def make_inputs(self, built: Built, batch: int, seed: int = 0):
        with _oom():
            return runtime.make_inputs(built.graph, batch, built.device, seed)

    def make_targets(self, built: Built, batch: int, seed: int = 0):
        with _oom():
            return runtime.make_targets(built.graph, batch, built.device, seed)

    def release_memory(self, built: Built) -> None:
        built.model.zero_grad(set_to_none=True)
        if built.device == "cuda":
            torch.cuda.empty_cache()

    def forward(self, built: Built, inputs):
        built.model.eval()
        with _oom(), torch.inference_mode(), runtime.autocast(built.device, built.precision):
            return built.model(inputs)

    def to_numpy(self, outputs):
        return outputs.detach().float().cpu().numpy()

    def make_optimizer(
        self,
        built: Built,
        lr: float = 1e-3,
        weight_decay: float = 0.01,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ):
        opt = torch.optim.AdamW(
            built.model.parameters(), lr=lr, weight_decay=weight_decay, betas=betas, eps=eps
        )
        scaler = torch.amp.GradScaler(built.device) if built.precision == "fp16" else None
        return opt, scaler

    def set_learning_rate(self, optimizer, lr: float) -> None:
        for group in optimizer[0].param_groups:
            group["lr"] = lr

    def seed(self, seed: int) -> None:
        """Seed what the framework draws from (weight init, dropout masks)."""
        torch.manual_seed(seed)

    def to_batch(self, built: Built, x, y=None):
        """numpy inputs (and targets, as the data layer gives them) -> device tensors in the
        form the model and `train_step`'s loss take."""
        with _oom():
            return runtime.to_batch(built.graph, built.device, x, y)

    def predict_numpy(self, built: Built, x):
        """Inference on numpy inputs; the model's outputs as float32 numpy."""
        return self.to_numpy(self.forward(built, self.to_batch(built, x)[0]))

    def save_checkpoint(self, built: Built, directory) -> str:
        """Write the weights (a torch `state_dict`) into `directory`; returns the file name.
        Written to a temporary name and renamed, so a crash never leaves half a checkpoint."""
        return runtime.save_state(built.model, directory)

    def load_checkpoint(self, built: Built, directory) -> None:
        runtime.load_state(built.model, directory, built.device)

    def train_step(self, built: Built, optimizer, inputs, targets):
        with _oom():  # raised "from None": a traceback would keep the step's tensors alive
            return self._train_step(built, optimizer, inputs, targets)

    def _train_step(self, built: Built, optimizer, inputs, targets):
        opt, scaler = optimizer
        built.model.train()
        opt.zero_grad(set_to_none=True)
        with runtime.autocast(built.device, built.precision):
            outputs = built.model(inputs)
        loss = runtime.loss_fn(built.graph, outputs, targets)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            opt.step()
        return loss.detach()

    def synchronize(self, built: Built) -> None:
        runtime.synchronize(built.device)

    def reset_peak_memory(self, built: Built) -> None:
        runtime.reset_peak_memory(built.device)

    def peak_memory_bytes(self, built: Built) -> int | None:
        return runtime.peak_memory_bytes(built.device)


BACKEND = TorchBackend()
