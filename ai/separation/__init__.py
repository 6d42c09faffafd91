"""Source separation: a mixed song in, its stems out.

Separators share one shape: ``stems`` (names), ``sample_rate`` (the rate the model runs at) and
``separate(audio, sample_rate, progress=None) -> {stem: audio}`` over float32 arrays shaped
(channels, frames); the stems come back at the input's rate, channel count and length.
"""
