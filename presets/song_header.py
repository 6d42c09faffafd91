"""The song-wide fields of a song file: metadata, key, sections and the tempo map with time signatures."""

from __future__ import annotations

from engine.session import Section
from engine.tempo import TempoMap, TempoPoint, TimeSignature
from presets.checker import Checker, show
from presets.marked import MarkedDict

__all__ = ["KEY_MODES", "METADATA_FIELDS", "parse_key", "parse_metadata", "parse_sections", "parse_tempo_map"]

METADATA_FIELDS = ("title", "artist", "album", "genre", "comment", "created", "modified")
KEY_MODES = ("major", "minor", "dorian", "phrygian", "lydian", "mixolydian", "locrian")


def parse_metadata(c: Checker, doc: MarkedDict) -> dict[str, str]:
    if "metadata" not in doc:
        return {}
    m = c.mapping(doc, "metadata", "metadata")
    c.keys(m, METADATA_FIELDS, "metadata")
    out = {}
    for k in m:
        v = m[k]
        if not isinstance(v, (str, int, float)) or isinstance(v, bool):
            raise c.fail(m, k, f"metadata.{k}", f"must be text, got {show(v)}")
        out[str(k)] = str(v)
    return out


def parse_key(c: Checker, doc: MarkedDict) -> str:
    """``key: "Eb major"``: a tonic (A..G with # or b) and a mode; kept as written, checked."""
    if "key" not in doc:
        return ""
    text = c.text(doc, "key", "key")
    parts = text.split()
    if len(parts) != 2 or parts[1].lower() not in KEY_MODES:
        raise c.fail(
            doc, "key", "key", f"must be a tonic and a mode like 'Eb major' or 'F# minor', got {show(text)}"
        )
    tonic = parts[0]
    if not (tonic[:1].upper() in "ABCDEFG" and tonic[1:] in ("", "#", "b")):
        raise c.fail(doc, "key", "key", f"tonic must be A..G with an optional # or b, got {show(tonic)}")
    return f"{tonic[0].upper()}{tonic[1:]} {parts[1].lower()}"


def parse_sections(c: Checker, doc: MarkedDict) -> list[Section]:
    if "sections" not in doc:
        return []
    seq = c.sequence(doc, "sections", "sections")
    out: list[Section] = []
    for i, _ in enumerate(seq):
        w = f"sections[{i}]"
        e = c.mapping(seq, i, w)
        c.keys(e, ("name", "beat"), w)
        name = c.text(e, "name", f"{w}.name")
        beat = c.number(e, "beat", f"{w}.beat", 0, 1e6)
        if out and beat <= out[-1].start_beats:
            raise c.fail(
                e, "beat", f"{w}.beat", f"must be after the previous section's beat {out[-1].start_beats:g}"
            )
        out.append(Section(name, beat))
    return out


def parse_tempo_map(c: Checker, doc: MarkedDict) -> TempoMap:
    if "tempo" in doc and "tempo_map" in doc:
        raise c.fail(doc, "tempo_map", "tempo_map", "give either tempo or tempo_map, not both")
    points: list[TempoPoint] = []
    if "tempo_map" in doc:
        seq = c.sequence(doc, "tempo_map", "tempo_map")
        for i, _ in enumerate(seq):
            w = f"tempo_map[{i}]"
            e = c.mapping(seq, i, w)
            c.keys(e, ("beat", "bpm", "ramp"), w)
            beat = c.number(e, "beat", f"{w}.beat", 0, 1e6)
            if points and beat <= points[-1].beat:
                raise c.fail(
                    e, "beat", f"{w}.beat", f"must come after the previous point's beat {points[-1].beat:g}"
                )
            bpm = c.number(e, "bpm", f"{w}.bpm", 1, 999)
            ramp = e.get("ramp", "step")
            if ramp not in ("step", "linear"):
                raise c.fail(e, "ramp", f"{w}.ramp", f"must be step or linear, got {show(ramp)}")
            if ramp == "linear" and i == len(seq) - 1:
                raise c.fail(e, "ramp", f"{w}.ramp", "the last point has no next point to ramp to")
            points.append(c.wrap(e, None, w, TempoPoint, beat, bpm, ramp))
    bpm = c.number(doc, "tempo", "tempo", 1, 999, 120.0)
    sigs: list[TimeSignature] = []
    if "time_signatures" in doc:
        seq = c.sequence(doc, "time_signatures", "time_signatures")
        for i, _ in enumerate(seq):
            w = f"time_signatures[{i}]"
            e = c.mapping(seq, i, w)
            c.keys(e, ("bar", "numerator", "denominator"), w)
            bar = c.integer(e, "bar", f"{w}.bar", 0, 100000)
            if i == 0 and bar != 0:
                raise c.fail(e, "bar", f"{w}.bar", f"the first time signature must be at bar 0, got {bar}")
            if sigs and bar <= sigs[-1].bar:
                raise c.fail(
                    e, "bar", f"{w}.bar", f"must come after the previous signature's bar {sigs[-1].bar}"
                )
            num = c.integer(e, "numerator", f"{w}.numerator", 1, 64)
            den = c.integer(e, "denominator", f"{w}.denominator", 1, 64)
            if den & (den - 1):
                raise c.fail(e, "denominator", f"{w}.denominator", f"must be a power of two, got {den}")
            sigs.append(c.wrap(e, None, w, TimeSignature, bar, num, den))
    # everything is checked point by point above; what is left for TempoMap is consistent
    place_of = "tempo_map" if points else "time_signatures" if sigs else None
    return c.wrap(doc, place_of, place_of or "tempo", TempoMap, points, sigs, bpm)
