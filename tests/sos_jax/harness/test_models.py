"""Model specs: built-in random checkpoints, local directories, hub ids, model lists."""

from __future__ import annotations

import pytest

from sos_jax.harness.models import parse_models, resolve_model


def test_missing_model_path_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="model path '/no/such/model' does not exist"):
        resolve_model("/no/such/model")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        resolve_model("./relative/missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="has no config.json"):
        resolve_model(str(tmp_path / "empty"))
    assert resolve_model("meta-llama/Meta-Llama-3-8B") == "meta-llama/Meta-Llama-3-8B"


def test_builtin_model_is_written_once(tmp_path):
    path = resolve_model("builtin:tiny:3", cache_dir=tmp_path)
    assert path.endswith("random-llama-tiny-seed3")
    stamp = (tmp_path / "random-llama-tiny-seed3" / "config.json").stat().st_mtime_ns
    assert resolve_model("builtin:tiny:3", cache_dir=tmp_path) == path
    assert (tmp_path / "random-llama-tiny-seed3" / "config.json").stat().st_mtime_ns == stamp
    with pytest.raises(ValueError, match="unknown preset"):
        resolve_model("builtin:huge", cache_dir=tmp_path)


def test_parse_models(tmp_path):
    assert parse_models("a/b, c") == ["a/b", "c"]
    assert parse_models(["x"]) == ["x"]
    f = tmp_path / "models.txt"
    f.write_text("# base models\norg/one\n\norg/two\n")
    assert parse_models(f"@{f}") == ["org/one", "org/two"] == parse_models(str(f))
    with pytest.raises(FileNotFoundError, match="models file"):
        parse_models("@/no/such/list.txt")
