"""The arranger's exceptions, one tree so a caller can catch as widely or narrowly as it needs::

    ArrangerError                 anything the arranger raises on purpose
    ├── RequestError (ValueError) a request that cannot be arranged: names the field and what is allowed
    │                             (``genre: unknown 'polka'; allowed: pop, rock, ...``)
    └── ModelError                a trained model that cannot be loaded or answers out of shape; the
                                  arranger then falls back to the genre grammar alone (see
                                  :mod:`ai.progression`) unless models were asked for explicitly

``strum generate`` turns a :class:`RequestError` into one line and exit status 2.
"""

from __future__ import annotations

__all__ = ["ArrangerError", "ModelError", "RequestError"]


class ArrangerError(Exception):
    """Base of every error the arranger raises on purpose."""


class RequestError(ArrangerError, ValueError):
    """A bad request; ``field`` is the request field it is about (``"tempo_bpm"``, ``"key"``...)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class ModelError(ArrangerError):
    """A trained model is missing, broken or inconsistent with its vocabulary."""
