"""The TensorFlow (Keras 3) backend. Importing this package imports tensorflow and keras."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow start-up chatter (cuInit etc.)
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from ..quiet import quiet_stderr  # noqa: E402

with quiet_stderr():  # TensorFlow's C++ start-up lines ("Could not find cuda drivers", ...)
    import keras
    import tensorflow as tf

import numpy as np  # noqa: E402

from ...graph import Graph  # noqa: E402
from ..base import Built, LayerRow, Weights, translate_oom  # noqa: E402
from . import runtime, weights  # noqa: E402
from .model import build_model  # noqa: E402


def _oom():
    return translate_oom(tf.errors.ResourceExhaustedError)


class TensorFlowBackend:
    name = "tensorflow"
    framework = "tensorflow"
    CHECKPOINT = runtime.CHECKPOINT  # the file `save_checkpoint` writes in a run directory

    @property
    def DEVICES(self) -> tuple[str, ...]:  # noqa: N802 - a capability constant, computed
        return runtime.devices()

    @property
    def PRECISIONS(self) -> dict[str, tuple[str, ...]]:  # noqa: N802
        return runtime.precisions()

    def version(self) -> str:
        return f"tensorflow {tf.__version__}, keras {keras.__version__}"

    def build(self, graph: Graph, device: str = "cpu", precision: str = "fp32") -> Built:
        if keras.backend.backend() != "tensorflow":
            from ...errors import UnavailableError

            raise UnavailableError(
                f"Keras is set to the {keras.backend.backend()!r} backend; "
                "set KERAS_BACKEND=tensorflow"
            )
        runtime.check(device, precision)
        with runtime.placement(device), runtime.dtype_policy(precision):
            model = build_model(graph)
        return Built(graph, model, self.name, device, precision)

    def count_params(self, built: Built) -> tuple[int, int]:
        m = built.model.keras
        trainable = sum(int(np.prod(v.shape)) for v in m.trainable_weights)
        frozen = sum(int(np.prod(v.shape)) for v in m.non_trainable_weights)
        return trainable, frozen

    def summary(self, built: Built) -> list[LayerRow]:
        return [LayerRow(*row) for row in weights.summary_rows(built.model)]

    def get_weights(self, built: Built) -> Weights:
        return weights.get_weights(built.model)

    def set_weights(self, built: Built, new: Weights) -> None:
        weights.set_weights(built.model, new)

    def make_inputs(self, built: Built, batch: int, seed: int = 0):
        with _oom(), runtime.placement(built.device):
            return tf.constant(runtime.make_inputs(built.graph, batch, seed))

    def make_targets(self, built: Built, batch: int, seed: int = 0):
        with _oom(), runtime.placement(built.device):
            return tf.constant(runtime.make_targets(built.graph, batch, seed))

    def release_memory(self, built: Built) -> None:
        built.model.compiled.pop("train", None)

    def _compiled(self, built: Built, key: str, factory):
        fns = built.model.compiled
        if key not in fns:
            fns[key] = factory()
        return fns[key]

    def forward(self, built: Built, inputs):
        model = built.model.keras
        fn = self._compiled(
            built, "forward", lambda: tf.function(lambda x: model(x, training=False))
        )
        with _oom(), runtime.placement(built.device):
            return fn(inputs)

    def to_numpy(self, outputs):
        return np.asarray(outputs, dtype="float32")

    def make_optimizer(
        self,
        built: Built,
        lr: float = 1e-3,
        weight_decay: float = 0.01,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ):
        # PyTorch's AdamW defaults (Keras's own are weight_decay 0.004, epsilon 1e-7), so that
        # the same recipe means the same update in both backends.
        opt = keras.optimizers.AdamW(
            learning_rate=lr,
            weight_decay=weight_decay,
            beta_1=betas[0],
            beta_2=betas[1],
            epsilon=eps,
        )
        if built.precision == "fp16":
            opt = keras.optimizers.LossScaleOptimizer(opt)
        return opt

    def set_learning_rate(self, optimizer, lr: float) -> None:
        inner = getattr(optimizer, "inner_optimizer", optimizer)
        inner.learning_rate.assign(lr)

    def seed(self, seed: int) -> None:
        """Seed what the framework draws from (weight init, dropout masks)."""
        keras.utils.set_random_seed(seed)

    def to_batch(self, built: Built, x, y=None):
        """numpy inputs (and targets, as the data layer gives them) -> tensors in the form the
        model and `train_step`'s loss take."""
        with _oom(), runtime.placement(built.device):
            return runtime.to_batch(built.graph, x, y)

    def predict_numpy(self, built: Built, x):
        """Inference on numpy inputs; the model's outputs as float32 numpy."""
        return self.to_numpy(self.forward(built, self.to_batch(built, x)[0]))

    def save_checkpoint(self, built: Built, directory) -> str:
        """Write the weights into `directory` (a `.keras` archive); returns the file name.
        Written to a temporary name and renamed, so a crash never leaves half a checkpoint."""
        return runtime.save_state(built.model.keras, directory)

    def load_checkpoint(self, built: Built, directory) -> None:
        runtime.load_state(built.model.keras, directory)

    def train_step(self, built: Built, optimizer, inputs, targets):
        model = built.model.keras
        loss_obj = runtime.loss_fn(built.graph)

        def step(x, y):
            with tf.GradientTape() as tape:
                out = model(x, training=True)
                loss = loss_obj(y, tf.cast(out, "float32"))
                scaled = optimizer.scale_loss(loss) if hasattr(optimizer, "scale_loss") else loss
            grads = tape.gradient(scaled, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            return loss

        # One traced step per optimizer; a new optimizer (bench's batch search makes one per
        # probe) replaces the old trace, so that its slot variables can be freed.
        cached = built.model.compiled.get("train")
        if cached is None or cached[0] is not optimizer:
            built.model.compiled["train"] = (optimizer, tf.function(step))
        fn = built.model.compiled["train"][1]
        with _oom(), runtime.placement(built.device):
            return fn(inputs, targets)

    def synchronize(self, built: Built) -> None:
        runtime.synchronize(built.device)

    def reset_peak_memory(self, built: Built) -> None:
        runtime.reset_peak_memory(built.device)

    def peak_memory_bytes(self, built: Built) -> int | None:
        return runtime.peak_memory_bytes(built.device)


BACKEND = TensorFlowBackend()
