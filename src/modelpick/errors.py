"""The exception tree. Every user-facing failure is one of these; the CLI catches only these.

    ModelpickError                  exit_code
    ├── InputError                  2  bad input: profile, catalog, arguments
    │   ├── ProfileError               a task profile that does not validate
    │   ├── CatalogError               a catalog file that does not validate
    │   ├── UnknownNameError           an architecture / device name that is not known
    │   └── DataError                  a data set that cannot be read or does not match the profile
    ├── NoAnswerError               1  the question has no answer (nothing fits the budget)
    └── UnavailableError            3  a requested backend or device is not available

Third-party exceptions are translated at the boundary (`raise ProfileError(...) from exc`).
"""

from __future__ import annotations


class ModelpickError(Exception):
    """Base of every error modelpick shows to a user."""

    exit_code = 1


class InputError(ModelpickError):
    exit_code = 2


class ProfileError(InputError):
    """A task profile that cannot be read or does not validate."""


class CatalogError(InputError):
    """A catalog file that cannot be read or does not validate."""


class UnknownNameError(InputError):
    """A name (architecture, device) that is not known; the message suggests the closest."""


class DataError(InputError):
    """A data set (or a saved preprocess file) that cannot be read or does not match the
    profile; the message is one line: `file: what differs (expected …, received …)`."""


class NoAnswerError(ModelpickError):
    exit_code = 1


class UnavailableError(ModelpickError):
    exit_code = 3
