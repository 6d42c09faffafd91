"""Numba kernels: plain functions over arrays, state passed in and returned; numpy and numba only."""
