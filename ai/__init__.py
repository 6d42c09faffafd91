"""Arrangement models (structure, progression, instrumentation, parts), their training and ONNX inference,
and source separation run by a worker. This package drives the engine through its public API; the engine
never imports it, and rendering never loads it."""
