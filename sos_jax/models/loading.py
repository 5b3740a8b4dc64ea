"""Loading checkpoints: Hugging Face directories (config.json, safetensors, tokenizer files) and
llama.cpp `.gguf` files (`sos_jax.models.gguf`), weights streamed onto shardings.

Weights are read with `safetensors.safe_open(framework="numpy")` (bf16 through ml_dtypes) and each
parameter is built with `jax.make_array_from_callback`, so a device only ever receives the slice
its sharding asks for and the host never holds a full copy per device.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path
from typing import Any, Callable, Collection, Iterable

import jax
import jax.numpy as jnp
import ml_dtypes  # noqa: F401  (numpy bfloat16 for safetensors)
import numpy as np
from flax import nnx
from jax.sharding import Mesh, SingleDeviceSharding
from safetensors import SafetensorError, safe_open

from sos_jax.models.config import ModelConfig, config_from_hf
from sos_jax.models.decoder import Decoder, build_model
from sos_jax.models.gguf import is_gguf, load_gguf_tokenizer, open_gguf
from sos_jax.models.hf_weights import BASE_PREFIX, IGNORED_SUFFIXES, weight_sources
from sos_jax.models.sharding import is_stacked, param_path, param_shardings

log = logging.getLogger(__name__)

WEIGHTS_NAME = "model.safetensors"
WEIGHTS_INDEX_NAME = "model.safetensors.index.json"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json", "merges.txt",
                   "special_tokens_map.json", "added_tokens.json", "chat_template.jinja", "generation_config.json")


def _looks_local(name: str) -> bool:
    return name.startswith(("/", "./", "../", "~")) or name.count("/") > 1 or (os.sep != "/" and os.sep in name)


def resolve_model_dir(path_or_hub_id: str | os.PathLike, *, weights: bool = True) -> Path:
    """Returns a local directory holding the checkpoint: the path itself, or a hub snapshot.

    Hub ids ("org/name") are fetched with `huggingface_hub.snapshot_download`, restricted to the
    config, safetensors weights (when `weights`), their index and tokenizer files.
    """
    path = Path(path_or_hub_id).expanduser()
    if path.is_dir():
        return path
    name = str(path_or_hub_id)
    if path.exists():
        raise NotADirectoryError(f"{name} is a file; expected a Hugging Face checkpoint directory")
    if _looks_local(name):
        raise FileNotFoundError(f"checkpoint directory {name} does not exist")
    from huggingface_hub import snapshot_download

    patterns = ["config.json", *TOKENIZER_FILES]
    if weights:
        patterns += ["*.safetensors", WEIGHTS_INDEX_NAME]
    try:
        return Path(snapshot_download(repo_id=name, allow_patterns=patterns))
    except Exception as err:  # offline, unknown repo, auth: say what was tried
        raise FileNotFoundError(f"{name} is neither a local directory nor a downloadable hub model: {err}") from err


def read_config(directory: str | os.PathLike) -> ModelConfig:
    """Returns the ModelConfig parsed from `directory`/config.json."""
    path = Path(directory) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"missing {path}: a Hugging Face checkpoint directory needs config.json")
    try:
        hf = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON: {err}") from err
    return config_from_hf(hf)


def _weight_files(directory: Path) -> dict[str, Path]:
    """Returns {tensor name: file} from the index, or from the single safetensors file's keys."""
    index_path = directory / WEIGHTS_INDEX_NAME
    if index_path.is_file():
        try:
            weight_map = json.loads(index_path.read_text())["weight_map"]
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise ValueError(f"{index_path} is not a valid safetensors index (needs a 'weight_map' dict): {err}") from err
        files = {}
        for name, fname in weight_map.items():
            fpath = directory / fname
            if not fpath.is_file():
                raise FileNotFoundError(f"weight file {fpath} listed in {index_path} (for tensor {name}) is missing")
            files[name] = fpath
        return files
    candidates = [directory / WEIGHTS_NAME] if (directory / WEIGHTS_NAME).is_file() else sorted(directory.glob("*.safetensors"))
    if not candidates:
        present = sorted(p.name for p in directory.iterdir())
        raise FileNotFoundError(
            f"no weight file in {directory}: expected {WEIGHTS_NAME} or {WEIGHTS_INDEX_NAME} with its shards "
            f"(PyTorch .bin checkpoints are not supported); found {present}"
        )
    files = {}
    for fpath in candidates:
        with _open_safetensors(fpath) as handle:
            files.update({name: fpath for name in handle.keys()})
    return files


@contextlib.contextmanager
def _open_safetensors(path: Path):
    try:
        handle = safe_open(str(path), framework="numpy")
    except SafetensorError as err:
        raise ValueError(f"corrupted or truncated safetensors file {path}: {err}") from err
    except FileNotFoundError as err:
        raise FileNotFoundError(f"missing weight file {path}") from err
    with handle:
        yield handle


def _find_name(name: str, files: Collection[str], model_type: str) -> str | None:
    if name in files:
        return name
    prefix = BASE_PREFIX[model_type]
    if name.startswith(prefix) and name[len(prefix):] in files:
        return name[len(prefix):]  # bare base-model checkpoint (no prefix)
    return None


def load_params(
    cfg: ModelConfig,
    directory: str | os.PathLike,
    *,
    dtype=jnp.float32,
    param_dtype=None,
    mesh: Mesh | None = None,
    scan_layers: bool = False,
) -> Decoder:
    """Returns a `Decoder` for `cfg` whose parameters are read from `directory`'s safetensors files.

    With a mesh each parameter lands on its `partition_specs` sharding; otherwise on the first device.
    `scan_layers` gives the stacked-layer layout (each device reads its slice of every layer).
    """
    directory = Path(directory)
    files = _weight_files(directory)
    with contextlib.ExitStack() as stack:
        handles: dict[Path, Any] = {}

        def open_tensor(name: str):
            fpath = files[name]
            if fpath not in handles:
                handles[fpath] = stack.enter_context(_open_safetensors(fpath))
            return handles[fpath].get_slice(name), fpath.name

        return assemble_params(
            cfg, files, open_tensor, str(directory), dtype=dtype, param_dtype=param_dtype, mesh=mesh,
            scan_layers=scan_layers, config_name="config.json",
        )


def assemble_params(
    cfg: ModelConfig,
    names: Iterable[str],
    open_tensor: Callable[[str], tuple[Any, str]],
    origin: str,
    *,
    dtype=jnp.float32,
    param_dtype=None,
    mesh: Mesh | None = None,
    scan_layers: bool = False,
    config_name: str = "the config",
) -> Decoder:
    """Returns a `Decoder` for `cfg` whose parameters are read slice by slice from checkpoint tensors.

    `names` are the checkpoint's Hugging Face tensor names; `open_tensor(name)` returns (an object
    with `get_shape()` and numpy-style slicing, e.g. a safetensors slice, the file it lives in).
    Each device's shard is read by `jax.make_array_from_callback`, so no host holds a full copy
    per device. With `scan_layers`, each stacked parameter's shard is assembled from its layers'
    tensors. `config_name` says where `cfg` came from, for errors.
    """
    names = set(names)
    param_dtype = dtype if param_dtype is None else param_dtype
    sources = weight_sources(cfg)
    abstract = nnx.eval_shape(
        lambda: build_model(cfg, dtype=dtype, param_dtype=param_dtype, scan_layers=scan_layers, rngs=nnx.Rngs(0))
    )
    graphdef, abs_state = nnx.split(abstract)
    shardings = (
        param_shardings(abs_state, mesh)
        if mesh is not None
        else jax.tree_util.tree_map(lambda _: SingleDeviceSharding(jax.devices()[0]), abs_state)
    )
    np_dtype = np.dtype(param_dtype)
    used: set[str] = set()

    def reader(path: tuple, shape: tuple[int, ...]):
        """Returns read(index) -> parameter[index] for the per-layer (or unstacked) parameter `path`."""
        source = sources.get(path)
        if source is None:
            raise AssertionError(f"no checkpoint tensor mapped to parameter {path}")
        name = _find_name(source.name, names, cfg.model_type)
        if name is None:
            raise ValueError(
                f"checkpoint {origin} has no tensor {source.name!r} (needed for parameter "
                f"{'.'.join(map(str, path))} of a {cfg.model_type} model)"
            )
        tensor, where = open_tensor(name)
        found = tuple(tensor.get_shape())
        if found != source.source_shape:
            raise ValueError(
                f"config/weights mismatch for tensor {name!r} in {where}: {config_name} implies shape "
                f"{source.source_shape}, the checkpoint has {found}"
            )
        if source.param_shape() != shape:
            raise AssertionError(f"weight map for {path} gives {source.param_shape()}, model wants {shape}")
        used.add(name)
        return lambda index: source.read(tensor, index, shape)

    def load_leaf(keypath, leaf, sharding):
        path = param_path(keypath)
        shape = tuple(leaf.shape)
        if is_stacked(path):
            layers = [reader(("layers", i, *path[1:]), shape[1:]) for i in range(shape[0])]

            def read(index):
                rows = range(*index[0].indices(shape[0]))
                return np.stack([layers[i](index[1:]) for i in rows])
        else:
            read = reader(path, shape)
        cache: dict[tuple, np.ndarray] = {}

        def callback(index):
            key = tuple(s.indices(n)[:2] for s, n in zip(index, shape))
            if key not in cache:
                cache[key] = np.ascontiguousarray(read(index)).astype(np_dtype)
            return cache[key]

        return jax.make_array_from_callback(shape, sharding, callback)

    state = jax.tree_util.tree_map_with_path(load_leaf, abs_state, shardings)

    unused = sorted(n for n in names if n not in used and not n.endswith(IGNORED_SUFFIXES))
    if cfg.tie_word_embeddings:
        unused = [n for n in unused if n != "lm_head.weight"]
    if unused:
        log.warning("checkpoint %s has %d tensors the %s model does not use: %s", origin, len(unused),
                    cfg.model_type, unused[:10])
    return nnx.merge(graphdef, state)


def load_gguf(
    path: str | os.PathLike, *, dtype=jnp.float32, mesh: Mesh | None = None, scan_layers: bool = False
) -> tuple[Decoder, ModelConfig]:
    """Returns (model, config) from a llama.cpp GGUF file, weights dequantized slice by slice."""
    ckpt = open_gguf(path)

    def open_tensor(name: str):
        return ckpt.tensors[name], ckpt.path.name

    model = assemble_params(
        ckpt.config, ckpt.tensors, open_tensor, str(ckpt.path), dtype=dtype, mesh=mesh, scan_layers=scan_layers,
        config_name="the GGUF metadata",
    )
    return model, ckpt.config


def load_pretrained(
    path_or_hub_id: str | os.PathLike, *, dtype=jnp.float32, mesh: Mesh | None = None, scan_layers: bool = False
) -> tuple[Decoder, ModelConfig]:
    """Returns (model, config) from a local HF checkpoint directory, a hub id or a `.gguf` file.

    Parameters and compute use `dtype` (float32 or bfloat16); with a mesh, parameters are placed on
    their tensor-parallel shardings as they are read. `scan_layers`: the stacked, scanned layout.
    """
    if is_gguf(path_or_hub_id):
        return load_gguf(path_or_hub_id, dtype=dtype, mesh=mesh, scan_layers=scan_layers)
    directory = resolve_model_dir(path_or_hub_id)
    cfg = read_config(directory)
    return load_params(cfg, directory, dtype=dtype, mesh=mesh, scan_layers=scan_layers), cfg


def load_tokenizer(path_or_hub_id: str | os.PathLike):
    """Returns the `transformers` tokenizer saved beside the checkpoint, or built from a GGUF's metadata."""
    if is_gguf(path_or_hub_id):
        return load_gguf_tokenizer(path_or_hub_id)
    directory = resolve_model_dir(path_or_hub_id, weights=False)
    if not any((directory / f).is_file() for f in ("tokenizer.json", "tokenizer.model", "vocab.json")):
        raise FileNotFoundError(
            f"no tokenizer in {directory}: expected tokenizer.json (or tokenizer.model / vocab.json + merges.txt)"
        )
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(directory))
