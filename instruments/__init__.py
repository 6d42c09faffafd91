"""Instruments: voice allocation, synths, samplers and plugin instruments, as engine processors."""
