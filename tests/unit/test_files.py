"""The shared helpers of the lowest layer: whole-file writes, strict JSON, error lines."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from pydantic import BaseModel, ValidationError

from automl.errors import first_line, validation_message
from automl.files import atomic_path, atomic_write, json_ready, json_text


def test_a_write_that_fails_leaves_the_old_file_and_no_temporary(tmp_path):
    path = atomic_write(tmp_path / "a.txt", "old")
    with pytest.raises(RuntimeError), atomic_path(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash while writing")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]
    atomic_write(path, b"new")
    assert path.read_bytes() == b"new"


def test_json_is_strict_with_numpy_values_and_non_finite_floats_as_null():
    value = {"a": np.float32(1.5), "b": [math.nan, math.inf, np.int64(3)], "c": np.array([1, 2]), 4: None}
    assert json_ready(value) == {"a": 1.5, "b": [None, None, 3], "c": [1, 2], "4": None}
    assert json.loads(json_text(value))["b"] == [None, None, 3]
    assert json_ready(object).startswith("<class")  # anything else as its text


def test_first_line_of_an_error():
    assert first_line(ValueError("\n  bad value\nTraceback ...")) == "bad value"
    assert first_line(KeyError()) == "KeyError"
    assert first_line("abcdef", limit=3) == "abc"


def test_pydantic_errors_as_one_line():
    class Config(BaseModel):
        port: int

    with pytest.raises(ValidationError) as caught:
        Config(port="x")  # type: ignore[arg-type]
    message = validation_message(caught.value, "invalid config")
    assert message.startswith("invalid config: port: ") and "\n" not in message and "https://" not in message
