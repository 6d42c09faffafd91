"""The live benchmark's judge: xruns read from jackd's log, the reference rule, and one short run of the
engine's client against a real JACK dummy server (the figures themselves are for bench/, not tests)."""

from __future__ import annotations

from bench.jackd import JackServer, count_xruns
from bench.live_sweep import SLACK_XRUNS, at_reference_level, run_client


def test_xrun_lines_are_counted_and_blamed_on_the_client_named():
    lines = [
        "JackEngine::XRun: client = strum-engine was not finished, state = Running",
        "JackEngine::XRun: client = strum-engine was not finished, state = Triggered",
        "JackEngine::XRun: client = strum-reference was not finished, state = Triggered",
        "JackAudioDriver::ProcessGraphAsyncMaster: Process error",
        "Jack: some other line",
    ]
    c = count_xruns(lines)
    assert c.total == 3
    assert c.blamed_on("strum-engine") == 2 and c.blamed_on("strum-reference") == 1
    assert c.by_state[("strum-engine", "Running")] == 1
    assert c.process_errors == 1
    assert c.as_dict("strum-engine")["blamed_triggered"] == 1


def test_the_reference_rule_allows_the_references_noise_and_no_more():
    assert at_reference_level(0, [0, 0])
    assert at_reference_level(SLACK_XRUNS, [0, 0])
    assert not at_reference_level(SLACK_XRUNS + 1, [0, 0])
    assert at_reference_level(30, [20, 5])  # 20 + 3 * sqrt(20) + 8 = 41.4
    assert not at_reference_level(200, [20, 5])


def test_one_short_engine_run_reports_its_callbacks_and_xruns():
    with JackServer() as server:
        r = run_client(server, "engine", 2.0, voices=32, mode="voices")
    assert "error" not in r, r.get("error")
    assert r["client"] == "strum-engine"
    assert r["callbacks"] >= 0.8 * r["expected_callbacks"] > 0
    assert r["dur_us_p50"] > 0 and r["ns_per_voice_sample"] > 0
    assert r["blamed"] >= 0 and r["xruns"] >= r["blamed"]
