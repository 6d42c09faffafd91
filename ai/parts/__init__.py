"""Parts: the notes of each track, written over the sections and chords.

:func:`ai.parts.melody.write_melody`, :func:`ai.parts.bass.write_bass`, :func:`ai.parts.drums.write_drums`
and :func:`ai.parts.comping.write_comping` each take the request, sections, chords and one
:class:`ai.plan.Part`, plus the seeded numpy generator, and return its notes. Helpers they share live in
:mod:`ai.parts.common`.
"""

from __future__ import annotations

__all__: list[str] = []
