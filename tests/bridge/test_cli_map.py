"""``strum map``: list, targets, add, remove and learn on a copy of the demo song; bad input changes nothing
(a learn plays a controller into a real port of a JACK dummy server)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bridge.cli import main
from bridge.cli.map import replace_mappings, song_targets
from engine.control import param_paths
from engine.mapping import Mapping
from presets.song import load_song

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "examples" / "songs" / "demo.yaml"


@pytest.fixture
def song(tmp_path: Path) -> Path:
    path = tmp_path / "song.yaml"
    shutil.copyfile(DEMO, path)
    return path


def strum(*args: object) -> int:
    try:
        return main(["map", *map(str, args)])
    except SystemExit as exc:  # argparse's own refusals
        return int(exc.code or 0)


def test_a_song_without_mappings_says_so(song, capsys):
    assert strum(song) == 0
    assert "no mappings" in capsys.readouterr().out


def test_targets_lists_every_parameter_path_with_its_range(song, capsys):
    assert strum(song, "targets") == 0
    lines = capsys.readouterr().out.splitlines()
    session = load_song(song)
    assert [ln.split()[0] for ln in lines] == param_paths(session, session.build(48000, 256))
    assert song_targets(session) == [ln.split()[0] for ln in lines]
    assert any(ln.split()[1:] == ["-96..12", "dB"] for ln in lines if ln.startswith("bass/volume_db "))
    assert any(ln.startswith("pad/mute ") and ln.endswith("(stepped)") for ln in lines)


def test_add_list_and_remove(song, capsys):
    for args in (
        "bass/instrument/cutoff_hz --cc 74 --channel 2 --min 200 --max 8000 --curve log",
        "room/volume_db --cc14 7 --takeover pickup",
        "lead/mute --note C1 --note-mode toggle",
        "lead/pan --pitchbend --invert",
        "master/fx0/threshold_db --nrpn 300",
        "pad/instrument/cutoff_hz --cc 20 --mode relative_twos --step 0.02",
    ):
        assert strum(song, "add", *args.split()) == 0
    expected = [
        Mapping(
            "bass/instrument/cutoff_hz", "cc", 74, channel=1, min_value=200.0, max_value=8000.0, curve="log"
        ),
        Mapping("room/volume_db", "cc14", 7, takeover="pickup"),
        Mapping("lead/mute", "note", 24, note_mode="toggle"),
        Mapping("lead/pan", "pitchbend", invert=True),
        Mapping("master/fx0/threshold_db", "nrpn", 300),
        Mapping("pad/instrument/cutoff_hz", "cc", 20, mode="relative_twos", step=0.02),
    ]
    assert load_song(song).mappings == expected
    text = song.read_text()
    assert text.startswith(DEMO.read_text())  # the song's own text and comments stay as they were
    capsys.readouterr()
    assert strum(song, "list") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split() == "0 cc 2 74 bass/instrument/cutoff_hz 200..8000 Hz log absolute jump".split()
    assert lines[4].split() == "3 pitchbend any - lead/pan -1..1 linear absolute jump inverted".split()
    assert strum(song, "remove", 1) == 0
    assert load_song(song).mappings == expected[:1] + expected[2:]
    for _ in range(5):
        assert strum(song, "remove", 0) == 0
    assert load_song(song).mappings == []
    assert song.read_text() == DEMO.read_text()  # the block is gone, not left empty


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add", "bass/nope", "--cc", 1], "a strip has volume_db, pan, mute, solo"),
        (["add", "bas/volume_db", "--cc", 1], "no track or bus named 'bas'"),
        (["add", "bass/volume_db", "--cc", 128], "cc number must be in 0..127, got 128"),
        (["add", "bass/volume_db", "--cc14", 32], "must be in 0..31"),
        (["add", "bass/volume_db", "--nrpn", 16384], "must be in 0..16383"),
        (["add", "bass/volume_db", "--note", "H9"], "a pitch is a MIDI number 0..127"),
        (["add", "bass/volume_db", "--cc", 1, "--channel", 17], "--channel must be in 1..16, got 17"),
        (["add", "bass/volume_db", "--cc", 1, "--channel", 0], "--channel must be in 1..16, got 0"),
        (["add", "bass/volume_db", "--cc", 1, "--curve", "log"], "a log curve needs a range above 0"),
        (["add", "bass/instrument/cutoff_hz", "--cc", 1, "--curve", "log", "--min", 0], "min_value above 0"),
        (["add", "bass/volume_db", "--cc", 1, "--max", 40], "max_value 40 is outside volume_db's range"),
        (
            ["add", "bass/volume_db", "--note", 3, "--mode", "relative_sign"],
            "for encoders sending a 7-bit cc",
        ),
        (["add", "bass/volume_db", "--cc", 1, "--step", 2], "step must be in (0, 1]"),
        (["remove", 0], "no mapping 0"),
        (["add", "bass/volume_db", "--cc", 1, "--curve", "cubic"], None),  # argparse refuses it
        (["add", "bass/volume_db"], None),  # no source
        (
            ["learn", "bass/volume_db", "--midi-in", "x", "--timeout", 0],
            "--timeout must be a positive number",
        ),
        (["learn", "bass/volume_dbx", "--midi-in", "x"], "a strip has volume_db"),
    ],
)
def test_bad_input_exits_2_and_leaves_the_file_as_it_was(song, capsys, args, message):
    before = song.read_bytes()
    assert strum(song, *args) == 2
    err = capsys.readouterr().err
    if message is not None:
        assert message in err and err.startswith("strum map: error:")
    assert song.read_bytes() == before
    assert not song.with_name("song.yaml.bak").exists()


def test_a_song_that_does_not_load_is_refused(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("schema_version: 2\ntracks: [{name: x}]\n")
    before = bad.read_bytes()
    assert strum(bad, "add", "x/volume_db", "--cc", 1) == 2
    assert "bad.yaml:2:" in capsys.readouterr().err
    assert bad.read_bytes() == before
    assert strum(tmp_path / "missing.yaml") == 2
    assert "cannot read the song" in capsys.readouterr().err


def test_saving_keeps_the_previous_file_as_a_backup(song):
    assert strum(song, "add", "bass/pan", "--cc", 10) == 0
    assert song.with_name("song.yaml.bak").read_bytes() == DEMO.read_bytes()


def test_the_mappings_block_is_replaced_in_place_and_the_comments_around_it_stay():
    head, tail = "schema_version: 2\n# mine\nmappings:\n", "\n# next\ntracks: []\n"
    text = head + "- {target: a/pan, source: cc, number: 1}\n" + tail
    new = replace_mappings(text, [{"target": "a/pan", "source": "cc", "number": 2}])
    assert new == head + "  - {target: a/pan, source: cc, number: 2}\n" + tail
    assert replace_mappings(new, []) == "schema_version: 2\n# mine\n\n# next\ntracks: []\n"
    flow = "{schema_version: 2, mappings: [{target: a/pan, source: cc, number: 1}]}"
    assert replace_mappings(flow, []) == "schema_version: 2\n"  # not block style: written out whole


@pytest.fixture(scope="module")
def jack_env(tmp_path_factory: pytest.TempPathFactory):
    """The environment of a JACK dummy server of this module's own, for ``strum map learn`` run as a user
    runs it, in a subprocess: no JACK client ever lives in the test process (libjack's threads there would
    outlive the server), and the server is gone before ``tests/live`` starts its own."""
    jackd = shutil.which("jackd")
    if jackd is None:
        pytest.fail("jackd is not installed (scripts/test installs jackd2 with scripts/setup.sh)")
    name = f"strummap-{os.getpid()}"
    log = tmp_path_factory.mktemp("jack") / "jackd.log"
    env = dict(os.environ, JACK_NO_AUDIO_RESERVATION="1", JACK_DEFAULT_SERVER=name, JACK_NO_START_SERVER="1")
    with open(log, "wb") as fh:
        server = subprocess.Popen(
            [jackd, "-n", name, "-d", "dummy", "-r", "48000", "-p", "128"], stdout=fh, stderr=fh, env=env
        )
    probe = "import jack; jack.Client('strum-wait', no_start_server=True).close()"
    deadline = time.monotonic() + 15
    while subprocess.run([sys.executable, "-c", probe], capture_output=True, env=env).returncode != 0:
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            pytest.fail(f"jackd did not start: {log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.1)
    yield env
    server.terminate()
    try:
        server.wait(5)
    except subprocess.TimeoutExpired:
        server.kill()


def strum_learn(song: Path, env: dict[str, str], *options: str) -> subprocess.Popen[str]:
    args = f"map {song} learn bass/volume_db --midi-in virtual:learn --midi-api jack".split()
    return subprocess.Popen(
        [sys.executable, "-m", "bridge.cli", *args, *options],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_learn_times_out_when_no_control_moves(song, jack_env):
    before = song.read_bytes()
    proc = strum_learn(song, jack_env, "--timeout", "1")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert "no control moved on strum:learn within 1 s" in err and "Traceback" not in err
    assert song.read_bytes() == before


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        (
            [[0.0, 0xB1, 7, 64], [0.02, 0xB1, 39, 5]],
            Mapping("bass/volume_db", "cc14", 7, channel=1, curve="sqrt"),
        ),
        (
            [[0.0, 0x99, 36, 100], [0.1, 0x89, 36, 0]],
            Mapping("bass/volume_db", "note", 36, channel=9, curve="sqrt"),
        ),
    ],
)
def test_learn_maps_the_control_moved_on_a_real_port(song, tmp_path, jack_env, messages, expected):
    client = f"strummap{os.getpid()}"
    proc = strum_learn(song, dict(jack_env, STRUM_CLIENT_NAME=client), "--timeout", "30", "--curve", "sqrt")
    try:
        assert proc.stderr is not None
        prompt = proc.stderr.readline()  # the port is open and listening
        assert "move a control" in prompt, prompt + proc.stderr.read()
        schedule = tmp_path / "schedule.json"
        schedule.write_text(json.dumps(messages))
        sender = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.midi_sender",
                f"{client}:learn",
                str(schedule),
                str(tmp_path / "o"),
            ],
            env=dict(jack_env, MIDO_BACKEND="mido.backends.rtmidi/UNIX_JACK"),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert sender.returncode == 0, sender.stderr
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert f"learnt mapping 0: {expected.describe()}" in out
    assert load_song(song).mappings == [expected]
