"""Demucs-family models from local files, and the batched overlap-add that must compute what Demucs'
own ``apply_model`` computes. The plumbing is checked with a tiny random-weight HTDemucs on the CPU (no
real weights ship with the project or can be downloaded here)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is a dev dependency; the separation tests need it")
pytest.importorskip("demucs", reason="the demucs package is a dependency of separation")

from demucs.apply import apply_model  # noqa: E402
from demucs.htdemucs import HTDemucs  # noqa: E402

from ai.separation.demucs_models import DemucsSeparator, load_demucs, save_demucs, separate_batched  # noqa: E402
from ai.separation.errors import SeparationError  # noqa: E402

SOURCES = ["drums", "bass", "other", "vocals"]


def tiny(seed: int = 0, channels: int = 2) -> HTDemucs:
    torch.manual_seed(seed)
    m = HTDemucs(
        sources=SOURCES, audio_channels=channels, channels=8, depth=2, t_layers=1, segment=1,
        samplerate=8000, nfft=512, t_heads=2,
    )  # fmt: skip
    return m.eval()


def save(model: HTDemucs, path: Path, extra: object | None = None) -> Path:
    save_demucs(model, path, half=False)
    if extra is not None:
        package = torch.load(path, weights_only=False)
        package["training_args"] = extra
        torch.save(package, path)
    return path


def test_the_batched_overlap_add_computes_what_apply_model_computes() -> None:
    m = tiny()
    x = torch.randn(2, 8000 * 4 + 123) * 0.1  # 4 s and a short last segment
    ref = apply_model(m, x[None], shifts=0, split=True, overlap=0.25)[0]
    for batch in (1, 3, 16):
        ours = separate_batched(m, x, batch_size=batch)
        assert ours.shape == ref.shape == (4, 2, x.shape[-1])
        assert float((ours - ref).abs().max()) < 1e-5 * float(ref.abs().max())


def test_a_model_package_file_loads_and_gives_the_same_stems(tmp_path: Path) -> None:
    m = tiny(1)
    loaded = load_demucs(save(m, tmp_path / "tiny.th"))
    x = torch.randn(1, 2, 8000) * 0.1
    with torch.no_grad():
        assert torch.allclose(m(x), loaded(x), atol=1e-6)
    assert list(loaded.sources) == SOURCES


def test_a_model_folder_with_a_bag_description_loads(tmp_path: Path) -> None:
    save(tiny(2), tmp_path / "aaaa1111-0123abcd.th")
    save(tiny(3), tmp_path / "bbbb2222-4567ef01.th")
    (tmp_path / "mybag.yaml").write_text("models: ['aaaa1111', 'bbbb2222']\nsegment: 1\n")
    bag = load_demucs(tmp_path, "mybag")
    assert len(bag.models) == 2
    x = torch.randn(2, 8000 * 2) * 0.1
    ref = apply_model(bag, x[None], shifts=0, split=True)[0]
    assert float((separate_batched(bag, x) - ref).abs().max()) < 1e-5 * float(ref.abs().max())
    (tmp_path / "aaaa1111-0123abcd.th").unlink()
    with pytest.raises(SeparationError, match=r"aaaa1111-\*\.th.*nothing is downloaded"):
        load_demucs(tmp_path, "mybag")
    with pytest.raises(SeparationError, match="no model 'htdemucs'"):
        load_demucs(tmp_path, "htdemucs")
    with pytest.raises(SeparationError, match="name the model"):
        load_demucs(tmp_path)


def test_files_that_are_not_models_are_refused_by_name(tmp_path: Path) -> None:
    bad = tmp_path / "corrupt.th"
    bad.write_bytes(b"\x80\x04 not a torch file at all")
    with pytest.raises(SeparationError, match=r"corrupt\.th cannot be read as a model \(damaged"):
        load_demucs(bad)
    other = tmp_path / "weights.th"
    torch.save({"conv.weight": torch.zeros(3)}, other)
    with pytest.raises(SeparationError, match="not a Demucs model package"):
        load_demucs(other)
    with pytest.raises(SeparationError, match="neither a model file nor a model folder"):
        load_demucs(tmp_path / "missing.th")
    # a package that needs more than the model's classes to unpickle is refused unless trusted
    risky = save(tiny(4), tmp_path / "risky.th", extra=argparse.Namespace(lr=3e-4))
    with pytest.raises(SeparationError, match=r"risky\.th needs argparse\.Namespace.*trust"):
        load_demucs(risky)
    assert list(load_demucs(risky, trust=True).sources) == SOURCES


def test_the_separator_takes_the_callers_rate_and_channels_and_gives_them_back() -> None:
    seen: list[float] = []
    stereo_model = DemucsSeparator(tiny(5), batch_size=4)
    mono_model = DemucsSeparator(tiny(6, channels=1), batch_size=4)
    rng = np.random.default_rng(0)
    for sep in (stereo_model, mono_model):
        for shape in ((2, 11025 * 2 + 7), (1, 11025 * 2)):
            audio = (rng.standard_normal(shape) * 0.1).astype(np.float32)
            stems = sep.separate(audio, 11025, progress=lambda f, s: seen.append(f))
            assert set(stems) == set(SOURCES)
            for y in stems.values():
                assert y.shape == audio.shape and y.dtype == np.float32 and np.all(np.isfinite(y))
    assert seen and seen[-1] == pytest.approx(1.0)


def test_bad_audio_and_devices_are_refused() -> None:
    sep = DemucsSeparator(tiny(7))
    with pytest.raises(SeparationError, match="channels, frames"):
        sep.separate(np.zeros(100, np.float32), 8000)
    with pytest.raises(SeparationError, match="NaN"):
        sep.separate(np.full((2, 100), np.nan, np.float32), 8000)
    with pytest.raises(SeparationError, match="1 or 2 channels"):
        sep.separate(np.zeros((6, 100), np.float32), 8000)
    if not torch.cuda.is_available():
        with pytest.raises(SeparationError, match="CUDA is not available"):
            DemucsSeparator(tiny(8), device="cuda")
    with pytest.raises(SeparationError, match="not a device name"):
        DemucsSeparator(tiny(8), device="tpu")
