"""modelpick: pick the neural architecture, size and precision to train and ship.

The Python API mirrors the command line, one function per command; each result's `to_dict()`
is that command's `--json` document:

    import modelpick as mp
    rec = mp.recommend("task.yaml", top=5)      # or a dict, or mp.load_profile(...)
    rec.candidates[0].name, rec.to_dict()
    mp.estimate("task.yaml", "resnet18").params

Names load on first use (PEP 562): `import modelpick` imports no framework, Typer or rich.
Errors are `modelpick.errors.ModelpickError` and its subclasses (see docs/api.md).
"""

from __future__ import annotations

__version__ = "0.1.0"

# name -> module that defines it; loaded on first attribute access
_LAZY = {
    name: "modelpick.api"
    for name in (
        "load_profile",
        "load_catalog",
        "recommend",
        "estimate",
        "validate",
        "catalog_list",
        "catalog_show",
        "schema",
        "doctor",
        "build",
        "bench",
        "calibrate",
        "report",
        "get_backend",
        "load_data",
        "train_model",  # `train` is the subpackage modelpick.train
        "predict",
        "trial",
        "trial_report",
    )
}
_LAZY.update(
    {
        "errors": "modelpick.errors",
        "ModelpickError": "modelpick.errors",
        "InputError": "modelpick.errors",
        "ProfileError": "modelpick.errors",
        "CatalogError": "modelpick.errors",
        "UnknownNameError": "modelpick.errors",
        "NoAnswerError": "modelpick.errors",
        "UnavailableError": "modelpick.errors",
        "DataError": "modelpick.errors",
    }
)

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'modelpick' has no attribute {name!r}")
    import importlib

    if name == "errors":
        value = importlib.import_module(module)
    else:
        value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
