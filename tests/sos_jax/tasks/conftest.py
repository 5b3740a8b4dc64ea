"""Fixtures shared by the task tests."""

import sys
import types

import pytest

from sos_jax.tasks.ifeval import sentences


@pytest.fixture(scope="module")
def offline_nltk(tmp_path_factory):
    """NLTK reading the bundled Punkt model through its own punkt_tab loader, downloads forbidden.

    lm-eval's IFEval code downloads punkt at import; this makes that code run offline, unmodified.
    """
    import nltk

    data_dir = str(tmp_path_factory.mktemp("nltk_data"))
    sentences.install_punkt_tab(data_dir)
    nltk.data.path.insert(0, data_dir)

    def no_download(*args, **kwargs):
        raise AssertionError(f"nltk.download{args} attempted in an offline test")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(nltk, "download", no_download)
        yield nltk
    nltk.data.path.remove(data_dir)


@pytest.fixture(scope="module")
def math_verify_stub():
    """Lets lm-eval's leaderboard MATH module import without `math_verify`.

    Only lm-eval's newer `exact_match` uses that package; SOS-Bench's scoring and prompt building
    never do, so the code under comparison is still lm-eval's own.
    """
    with pytest.MonkeyPatch.context() as mp:
        try:
            import math_verify  # noqa: F401
        except ImportError:
            stub = types.ModuleType("math_verify")
            stub.LatexExtractionConfig = stub.parse = stub.verify = None
            mp.setitem(sys.modules, "math_verify", stub)
        yield
