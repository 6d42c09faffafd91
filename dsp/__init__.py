"""DSP: Numba kernels (``dsp.kernels``) and the processors that wrap them."""
