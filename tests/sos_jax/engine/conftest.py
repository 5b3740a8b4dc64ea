"""Engine test fixtures: the tiny Llama (and a BOS-adding tokenizer variant), its transformers twin,
lm-eval's `hf` backend on the same directory, and engines on a single device and on data 4 x model 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def llama_dir(make_tiny_hf_model) -> Path:
    return make_tiny_hf_model("llama")


@pytest.fixture(scope="session")
def llama_bos_dir(llama_dir, tmp_path_factory) -> Path:
    """The tiny Llama with a tokenizer that prepends BOS to every encoding, as Llama's does."""
    out = tmp_path_factory.mktemp("tiny_llama_bos")
    for f in llama_dir.iterdir():
        shutil.copy(f, out / f.name)
    tok = json.loads((out / "tokenizer.json").read_text())
    bos = "<|endoftext|>"
    tok["post_processor"] = {
        "type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
        "pair": [
            {"SpecialToken": {"id": bos, "type_id": 0}},
            {"Sequence": {"id": "A", "type_id": 0}},
            {"Sequence": {"id": "B", "type_id": 1}},
        ],
        "special_tokens": {bos: {"id": bos, "ids": [0], "tokens": [bos]}},
    }
    (out / "tokenizer.json").write_text(json.dumps(tok))
    return out


@pytest.fixture(scope="session")
def hf_llama(llama_dir):
    import torch
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(llama_dir), dtype=torch.float32).eval()


def make_hflm(model_dir: Path, **kwargs):
    """Returns lm-eval's `hf` backend on `model_dir`, CPU, float32."""
    from lm_eval.models.huggingface import HFLM

    return HFLM(pretrained=str(model_dir), device="cpu", dtype="float32", batch_size=4, **kwargs)


@pytest.fixture(scope="session")
def hflm(llama_dir):
    return make_hflm(llama_dir)


@pytest.fixture(scope="session")
def hflm_bos(llama_bos_dir):
    return make_hflm(llama_bos_dir)


@pytest.fixture(scope="session")
def single_mesh(devices):
    from jaxrun import make_mesh

    return make_mesh(1, 1, devices=devices[:1])


@pytest.fixture(scope="session")
def sharded_mesh(devices):
    from jaxrun import make_mesh

    return make_mesh(4, 2)


@pytest.fixture(scope="session")
def engine(llama_dir, single_mesh):
    from sos_jax.engine import Engine

    return Engine.from_pretrained(str(llama_dir), single_mesh, gen_batch_size=4)


@pytest.fixture(scope="session")
def sharded_engine(llama_dir, sharded_mesh):
    from sos_jax.engine import Engine

    return Engine.from_pretrained(str(llama_dir), sharded_mesh, gen_batch_size=4)
