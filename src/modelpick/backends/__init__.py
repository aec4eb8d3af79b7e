"""Framework backends, resolved by name on first use: nothing here imports a framework until
`get_backend` is called, so the commands that do not build models stay fast."""

from __future__ import annotations

import importlib

from ..errors import InputError, UnavailableError
from .base import Backend, Built, DeviceOutOfMemory, LayerRow, Weights

# name -> (module, pip distribution, extra)
REGISTRY = {
    "torch": ("modelpick.backends.torch", "torch", "torch"),
    "tensorflow": ("modelpick.backends.tensorflow", "tensorflow", "tensorflow"),
}
_LOADED: dict[str, Backend] = {}


def get_backend(name: str) -> Backend:
    """The backend called `name`; InputError (exit 2) for a name that is no backend,
    UnavailableError (exit 3) with the pip command if its framework is not installed."""
    if name in _LOADED:
        return _LOADED[name]
    if name not in REGISTRY:
        raise InputError(f"--backend: expected one of {', '.join(REGISTRY)}; received {name!r}")
    module, dist, extra = REGISTRY[name]
    try:
        backend = importlib.import_module(module).BACKEND
    except ImportError as exc:
        missing = (exc.name or "").split(".")[0]
        if missing in (dist, "keras") or not missing:
            raise UnavailableError(
                f"the {name} backend needs {dist}, which is not installed; install it via "
                f"`pip install 'modelpick[{extra}]'`"
            ) from exc
        raise
    _LOADED[name] = backend
    return backend


__all__ = [
    "REGISTRY",
    "Backend",
    "Built",
    "DeviceOutOfMemory",
    "LayerRow",
    "Weights",
    "get_backend",
]
