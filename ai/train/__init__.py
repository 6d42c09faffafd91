"""Training of the sequence models with torch, and their export to ONNX (only ``strum train`` imports it)."""

from __future__ import annotations

__all__: list[str] = []
