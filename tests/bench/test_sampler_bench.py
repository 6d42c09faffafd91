"""The sampler benchmark's quick run gives every row it should, with finite numbers (no timing is asserted:
benchmarks run on demand). Needs FluidSynth and the TimGM6mb SoundFont."""

from __future__ import annotations

import math

import pytest

from bench import sampler

pytestmark = [
    pytest.mark.skipif(sampler.FLUIDSYNTH is None, reason="fluidsynth is not installed (Debian: fluidsynth)"),
    pytest.mark.skipif(
        not sampler.FONTS["Tim"].is_file(),
        reason=f"{sampler.FONTS['Tim']} is missing (Debian: timgm6mb-soundfont)",
    ),
]

CONTENDERS = [name for name, _ in sampler.CONTENDERS]


def test_quick_run_times_every_contender_and_compares_onsets_spectra_and_memory():
    rows = sampler.run(quick=True)
    names = [r["name"] for r in rows]

    for song in ("pop", "dense"):  # TimGM6mb only in a quick run
        timed = [f"{song}/Tim {c}" for c in CONTENDERS]
        assert all(n in names for n in timed), names
        assert f"{song}/Tim   render only (dry)" in names
    assert rows[0]["name"] == "pop/Tim ours dry in-process" and "seconds" in rows[0]
    for r in rows:
        measure = r["seconds"] if "seconds" in r else r["value"]
        assert math.isfinite(measure), r
        if r.get("unit", "s") in ("s", "MB") or "seconds" in r:
            assert measure > 0, r
        if "realtime_x" in r:
            assert math.isfinite(r["realtime_x"]) and r["realtime_x"] > 0, r

    for n in (
        "Tim onset |ours-fs| median",
        "Tim onsets within 1 ms",
        "Tim envelope xcorr lag",
        "Tim spectral dist median",
        "Tim   worst 1",
        "Tim level ours - fs",
        "load_bank RSS growth",
        "  + Sampler (packed)",
    ):
        assert n in names, names
    by_name = {r["name"]: r for r in rows}
    within = by_name["Tim onsets within 1 ms"]
    assert within["unit"].startswith("of ") and 0 <= within["value"] <= 16  # 12 notes + 4 drum hits
    assert "NO ONSET (a note missing?) in: none" in by_name["Tim onset |ours-fs| median"]["note"]
    assert 0 <= by_name["Tim spectral dist median"]["value"] < 60.0  # floored at -60 dB


def test_the_isolated_notes_land_on_fluidsynths_4_ms_grid_and_cover_drums():
    notes = sampler._isolated_notes(40, 10)
    assert len(notes) == 50 and sum(n.channel == 9 for n in notes) == 10
    assert len({n.program for n in notes if n.program >= 0}) == len(sampler.MELODIC)
    for n in notes:
        ms = round(n.time_s * 1000)
        assert abs(n.time_s * 1000 - ms) < 1e-9 and ms % 4 == 0
