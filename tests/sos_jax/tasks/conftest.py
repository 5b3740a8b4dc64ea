"""Fixtures shared by the task tests."""

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
