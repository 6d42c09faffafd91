"""The published JSON Schema matches the loader and accepts what it loads."""

from __future__ import annotations

import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from presets.schema import SCHEMA_PATH, schema_text, song_json_schema

ROOT = Path(__file__).resolve().parents[2]


def validator() -> jsonschema.Draft202012Validator:
    schema = song_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_the_published_schema_is_the_one_the_code_makes():
    # if this fails after a change to the format or a device: python -m presets.schema
    assert SCHEMA_PATH.read_text() == schema_text()


def docs_example() -> dict:
    text = (ROOT / "docs" / "song-format.md").read_text()
    return yaml.safe_load(re.search(r"```yaml\n(.*?)```", text, re.S).group(1))


@pytest.mark.parametrize("doc", ["demo", "docs"])
def test_the_shipped_songs_are_valid(doc):
    data = (
        docs_example() if doc == "docs" else yaml.safe_load((ROOT / "examples/songs/demo.yaml").read_text())
    )
    errors = sorted(validator().iter_errors(data), key=str)
    assert not errors, errors[0].message


@pytest.mark.parametrize(
    ("edit", "path"),
    [
        (lambda d: d["tracks"][0].update(colour="red"), ["tracks", 0]),
        (
            lambda d: d["tracks"][0]["clips"][0]["notes"].append([60, 0, 1, 200]),
            ["tracks", 0, "clips", 0, "notes"],
        ),
        (lambda d: d["tracks"][0]["instrument"]["params"].update(cutoff_hz=1e6), ["tracks", 0, "instrument"]),
        (lambda d: d.update(schema_version=1), ["schema_version"]),
        (lambda d: d.update(key="H major"), ["key"]),
    ],
)
def test_the_schema_refuses_what_the_loader_refuses(edit, path):
    data = yaml.safe_load((ROOT / "examples/songs/demo.yaml").read_text())
    edit(data)
    errors = list(validator().iter_errors(data))
    assert errors
    assert any(list(e.absolute_path)[: len(path)] == path for e in errors), [
        list(e.absolute_path) for e in errors
    ]
