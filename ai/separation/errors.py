"""Source separation's exceptions, one tree so a caller (the job worker, the CLI) can catch as widely or
narrowly as it needs::

    SeparationError          anything a separator raises on purpose; the message names the file or the
    │                        argument and what is wrong with it
    ├── WeightsError         model weights missing, unreadable, corrupt or not the model's (a setup
    │                        problem: every job fails the same way until the weights are fixed)
    ├── AudioInputError      audio a separator cannot take: wrong shape or dtype, NaN or infinity, no
    │   (ValueError)         frames, a bad sample rate (the job's input can never succeed: do not retry)
    └── DeviceError          a device that does not exist here or that the separator does not support
"""

from __future__ import annotations

__all__ = ["AudioInputError", "DeviceError", "SeparationError", "WeightsError"]


class SeparationError(Exception):
    """Base of every error a separator raises on purpose."""


class WeightsError(SeparationError):
    """Weights that cannot be used: missing, corrupt, or not matching the model."""


class AudioInputError(SeparationError, ValueError):
    """Audio the separator cannot take (shape, dtype, non-finite samples, sample rate)."""


class DeviceError(SeparationError):
    """A device that is unknown, unsupported by the separator, or not present on this machine."""
