"""``strum separate`` end to end with a tiny random-weight HTDemucs file (the plumbing: reading, model
loading, the batched path, writing stems, adding them to a song, the picture) and its refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

torch = pytest.importorskip("torch", reason="torch is a dev dependency; separation needs it")
pytest.importorskip("demucs", reason="the demucs package is a dependency of separation")

from demucs.htdemucs import HTDemucs  # noqa: E402

from ai.separation.demucs_models import save_demucs  # noqa: E402
from bridge.cli import main  # noqa: E402
from presets.song import load_song  # noqa: E402

SOURCES = ["drums", "bass", "other", "vocals"]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    m = HTDemucs(
        sources=SOURCES, audio_channels=2, channels=8, depth=2, t_layers=1, segment=1, samplerate=8000,
        nfft=512, t_heads=2,
    )  # fmt: skip
    return save_demucs(m.eval(), tmp_path_factory.mktemp("model") / "tiny.th", half=False)


def mix_file(path: Path, seconds: float = 2.5, rate: int = 22050) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    x = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.1 * np.sign(np.sin(2 * np.pi * 2 * t))
    sf.write(str(path), np.stack([x, 0.8 * x], axis=1), rate, subtype="PCM_16")
    return path


def test_separate_writes_every_stem_adds_them_to_a_song_and_draws_them(
    tiny_model: Path, tmp_path: Path
) -> None:
    src = mix_file(tmp_path / "mix.wav")
    out = tmp_path / "stems"
    song = tmp_path / "song.yaml"
    png = tmp_path / "stems.png"
    rc = main(
        ["separate", str(src), "-o", str(out), "--model", str(tiny_model), "--into", str(song),
         "--plot", str(png), "--no-progress", "--batch", "3"]
    )  # fmt: skip
    assert rc == 0
    info = sf.info(str(src))
    for s in SOURCES:
        y, rate = sf.read(str(out / f"{s}.wav"), always_2d=True)
        assert rate == info.samplerate and y.shape == (info.frames, 2)
        assert np.all(np.isfinite(y)) and np.max(np.abs(y)) > 0
    assert not list(out.glob(".*part"))
    session = load_song(song)
    names = [t.name for t in session.tracks]
    assert names == SOURCES
    assert png.stat().st_size > 10_000
    # a second run into the same song adds tracks under new names and keeps the old song as a backup
    assert main(["separate", str(src), "-o", str(out), "--model", str(tiny_model), "--stems", "bass",
                 "--into", str(song), "--no-progress"]) == 0  # fmt: skip
    assert [t.name for t in load_song(song).tracks] == [*SOURCES, "bass 2"]
    assert Path(str(song) + ".bak").exists()


def test_refusals_name_the_problem_and_write_nothing(
    tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = mix_file(tmp_path / "mix.wav")
    out = tmp_path / "stems"

    def refused(*extra: str, file: Path = src) -> str:
        capsys.readouterr()
        assert main(["separate", str(file), "-o", str(out), "--no-progress", *extra]) == 2
        return capsys.readouterr().err

    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt garbage")
    assert "corrupt.wav" in refused("--model", str(tiny_model), file=corrupt)
    assert "no such file" in refused(file=tmp_path / "missing.wav")
    assert "unknown model 'nope'" in refused("--model", "nope")
    assert "never downloaded" in refused("--model", "htdemucs")
    assert "no stem piano" in refused("--model", str(tiny_model), "--stems", "piano")
    if not torch.cuda.is_available():
        assert "CUDA is not available" in refused("--model", str(tiny_model), "--device", "cuda")
    assert not out.exists() or not any(out.iterdir())
    # a song that cannot take the stems is left as it was
    song = tmp_path / "broken.yaml"
    song.write_text("tracks: 12\n")
    assert "'tracks' is not a list" in refused("--model", str(tiny_model), "--into", str(song))
    assert song.read_text() == "tracks: 12\n"
    assert not out.exists() or not any(out.iterdir())


def test_the_default_model_is_spleeter_on_the_cpu_with_nothing_to_download(tmp_path: Path) -> None:
    src = mix_file(tmp_path / "mix.wav", seconds=3.0, rate=44100)
    out = tmp_path / "stems"
    assert main(["separate", str(src), "-o", str(out), "--no-progress"]) == 0
    mix, _ = sf.read(str(src), always_2d=True)
    parts = [sf.read(str(out / f"{s}.wav"), always_2d=True)[0] for s in ("vocals", "accompaniment")]
    assert all(p.shape == mix.shape for p in parts)
    # the two stems add up to the mix (Spleeter's ratio masks), below the 11 kHz where it stops
    resid = mix - parts[0] - parts[1]
    assert np.sum(resid**2) < 1e-2 * np.sum(mix**2)
