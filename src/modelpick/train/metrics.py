"""Validation loss and metrics in numpy, from the model's outputs: the same arithmetic for
every backend, matching the loss each backend trains with (backends/*/runtime.py `loss_fn`)."""

from __future__ import annotations

import numpy as np

_EPS = 1e-7


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def probabilities(outputs: np.ndarray, final_activation: str) -> np.ndarray:
    """Class probabilities (N, K); a single sigmoid unit gives (N, 2)."""
    out = np.asarray(outputs, dtype=np.float64).reshape(len(outputs), -1)
    if out.shape[1] == 1:
        p1 = out[:, 0] if final_activation == "sigmoid" else 1.0 / (1.0 + np.exp(-out[:, 0]))
        return np.stack([1.0 - p1, p1], axis=1)
    if final_activation == "softmax":
        return out
    return np.exp(_log_softmax(out))


def classification(outputs: np.ndarray, labels: np.ndarray, final_activation: str) -> dict:
    """Mean cross-entropy (as the backends compute it) and accuracy."""
    out = np.asarray(outputs, dtype=np.float64).reshape(len(outputs), -1)
    y = np.asarray(labels).astype(np.int64).reshape(-1)
    if out.shape[1] == 1:
        z = out[:, 0]
        if final_activation == "sigmoid":
            p = np.clip(z, _EPS, 1 - _EPS)
            loss = -(y * np.log(p) + (1 - y) * np.log(1 - p))
            pred = (z > 0.5).astype(np.int64)
        else:  # binary cross-entropy with logits, the stable form
            loss = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
            pred = (z > 0).astype(np.int64)
    else:
        if final_activation == "softmax":
            logp = np.log(np.clip(out, _EPS, None))
        else:
            logp = _log_softmax(out)
        loss = -logp[np.arange(len(y)), y]
        pred = out.argmax(axis=1)
    return {"loss": float(loss.mean()), "accuracy": float((pred == y).mean())}


def regression(outputs: np.ndarray, targets: np.ndarray) -> dict:
    """MSE (the training loss), RMSE and R² (averaged over targets, as scikit-learn's
    `r2_score` does by default)."""
    out = np.asarray(outputs, dtype=np.float64).reshape(len(outputs), -1)
    y = np.asarray(targets, dtype=np.float64).reshape(len(targets), -1)
    err = out - y
    mse = float((err**2).mean())
    ss_res = (err**2).sum(axis=0)
    ss_tot = ((y - y.mean(axis=0)) ** 2).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(ss_tot > 0, 1.0 - ss_res / np.where(ss_tot > 0, ss_tot, 1.0), 0.0)
    return {"loss": mse, "rmse": float(np.sqrt(mse)), "r2": float(r2.mean())}


def evaluate(outputs: np.ndarray, labels: np.ndarray, task: str, final_activation: str) -> dict:
    if task == "regression":
        return regression(outputs, labels)
    return classification(outputs, labels, final_activation)
