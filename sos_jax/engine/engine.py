"""`Engine`: lm-eval-exact loglikelihood scoring and KV-cache generation for one model on a mesh.

The engine is what SOS-Bench tasks and the LLM judge call. It owns the tokenizer rules
(`requests`), packs loglikelihood requests so each shared prefix (a task's few-shot block) and
each distinct context is computed once (`packing`, `scoring`), and decodes with continuous
batching over a KV cache (`generation`): finished rows leave, queued prompts take their place. Batches are split
over the mesh's `data` axis; parameters follow the models' sharding rules, so a `model` axis > 1
gives tensor parallelism. Every process of a multi-host job must call the same methods with the
same requests; each feeds its slice of every batch and all get every result.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections import defaultdict
from typing import Any, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jaxrun import (
    DATA_AXIS,
    MODEL_AXIS,
    auto_axes,
    global_batch,
    next_power_of_two,
    process_slice,
    replicated,
    round_up,
)
from sos_jax.engine import generation
from sos_jax.engine.packing import MIN_ROW_LEN, MIN_SHARED_PREFIX, bucket_length, pack_requests
from sos_jax.engine.requests import (
    GenerationSettings,
    RequestEncoder,
    cut_at_stop_sequences,
    encode_loglikelihood_requests,
    normalize_gen_kwargs,
    resolve_max_length,
)
from sos_jax.engine.scoring import prefix_cache, score_packed_rows, score_packed_rows_after_prefix
from sos_jax.models import cache_specs, load_pretrained, load_tokenizer, shard_model
from sos_jax.models.cache import SharedPrefix

log = logging.getLogger(__name__)

# Prompts shorter than this share one compiled prefill shape.
_MIN_PROMPT_LEN = 16
# A generation batch has gen_batch_size / 8 .. gen_batch_size rows: powers of two in between.
_GEN_ROW_BUCKETS = 8

_traces = 0  # kernel traces (= compilations) in this process, all engines together
_auto_batch_tokens: dict[tuple, int | None] = {}  # max_batch_tokens="auto" sizes per architecture and mesh


def kernel_traces() -> int:
    """Returns how many times any engine kernel has been traced (compiled) in this process."""
    return _traces


def _count_trace() -> None:
    # Runs only while tracing, i.e. once per compiled shape.
    global _traces
    _traces += 1


class _Kernels(NamedTuple):
    """The jitted kernels of one (architecture, mesh); shared by every engine that matches."""

    score: Any
    prefix: Any
    score_after_prefix: Any
    empty: Any
    prefill: Any
    decode: Any


@functools.lru_cache(maxsize=None)
def _kernels(graphdef: Any, cfg: Any, cache_dtype: Any, mesh: Mesh) -> _Kernels:
    """Returns the jitted scoring, prefill and decode kernels for models of `graphdef` on `mesh`.

    Cached on the (hashable) graph definition, config, cache dtype and mesh, so a second model of
    the same architecture reuses the compiled code of the first instead of recompiling.
    """
    specs = cache_specs(cfg.num_kv_heads, model_axis_size=mesh.shape[MODEL_AXIS])
    cache_sharding = jax.tree.map(lambda s: NamedSharding(mesh, s), specs, is_leaf=lambda s: isinstance(s, P))
    rep = replicated(mesh)
    # Small per-row arrays are replicated so every process can read them on a multi-host mesh.
    state_sharding = generation.DecodeState(
        cache=cache_sharding, out=rep, generated=rep, done=rep, length=rep, position=rep, keys=rep, limit=rep,
        history=rep, steps=rep,
    )

    def score(weights, *arrays):
        _count_trace()
        return score_packed_rows(nnx.merge(graphdef, weights), *arrays)

    def prefix(weights, tokens):
        _count_trace()
        return prefix_cache(nnx.merge(graphdef, weights), cfg, tokens, cache_dtype)

    def score_after_prefix(weights, *arrays):
        _count_trace()
        return score_packed_rows_after_prefix(nnx.merge(graphdef, weights), *arrays)

    # Prefix caches: every row may read any prefix of its chunk, so rows are not split over `data`.
    prefix_sharding = NamedSharding(mesh, P(None, None, *specs.k[2:]))

    def empty(batch, slots, max_new):
        # Zeros need no compiled kernel: built eagerly, then placed like the decode state.
        return jax.device_put(generation.empty_state(cfg, batch, slots, max_new, cache_dtype), state_sharding)

    def shared(prefix):
        # `prefix` is one prefix as `Engine._prefix_caches` returns it: (k, v [layers, 1, heads, P, D], lengths [1]).
        return None if prefix is None else SharedPrefix(k=prefix[0][:, 0], v=prefix[1][:, 0], length=prefix[2][0])

    def prefill(weights, state, tokens, lengths, rows, keys, params, eos, max_gen, prefix=None, *, do_sample):
        _count_trace()
        model = nnx.merge(graphdef, weights)
        return generation.prefill(
            model, cfg, state, tokens, lengths, rows, keys, params, eos, max_gen, do_sample, shared(prefix)
        )

    def decode(weights, state, max_steps, until_free, params, eos, prefix=None, *, do_sample, span=None, lookahead=0):
        _count_trace()
        model = nnx.merge(graphdef, weights)
        return generation.decode(model, state, max_steps, until_free, params, eos, do_sample, span, shared(prefix),
                                 lookahead)

    return _Kernels(
        score=jax.jit(score, out_shardings=(rep, rep)),
        prefix=jax.jit(prefix, out_shardings=(prefix_sharding, prefix_sharding)),
        score_after_prefix=jax.jit(score_after_prefix, out_shardings=(rep, rep)),
        empty=empty,
        prefill=jax.jit(
            prefill, static_argnames=("do_sample",), donate_argnames=("state",), out_shardings=state_sharding
        ),
        decode=jax.jit(
            decode, static_argnames=("do_sample", "span", "lookahead"), donate_argnames=("state",),
            out_shardings=state_sharding,
        ),
    )


class Engine:
    """Scores (context, continuation) pairs and generates text with one model, lm-eval style."""

    def __init__(
        self,
        model: nnx.Module,
        cfg: Any,
        tokenizer: Any,
        mesh: Mesh,
        *,
        max_length: int | None = None,
        batch_size: int | None = None,
        max_batch_tokens: int | str = 8192,
        gen_batch_size: int = 16,
        gen_check_every: int = 32,
        gen_min_window: int = 256,
        gen_lookahead: int = 3,
        add_bos_token: bool | None = None,
        prefix_token_id: int | None = None,
        eos_token_ids: Sequence[int] | None = None,
        model_name: str | None = None,
        min_shared_prefix: int | None = MIN_SHARED_PREFIX,
    ):
        """Places `model` on `mesh` with the models' sharding rules and prepares the kernels.

        `batch_size` is packed rows per scoring step (default: `max_batch_tokens // row length`);
        up to `gen_batch_size` prompts decode together (a batch holds the power of two of rows it
        needs, at least `gen_batch_size // 8`); both round up to a multiple of the data axis.
        `gen_check_every` decode steps run between host checks of the stop strings. Decode
        attention reads a window of cache slots that holds every live row: a length bucket of at
        least `gen_min_window` slots, or all of them. Greedy decoding feeds `gen_lookahead`
        prompt-lookup draft tokens a step and keeps those the model agrees with (0: one token a
        step); the tokens are the same either way (`generation`).
        `max_batch_tokens="auto"` sizes scoring batches by compiling: on accelerators, the largest
        batch of `max_length` rows whose compiled peak memory fits the devices (`plan`); on CPUs 8192.
        Contexts of one call that share a prefix of at least `min_shared_prefix` tokens (a task's
        few-shot block) compute it once (None: no sharing across contexts); so do the prompts of
        a generation group that all start with such a prefix.
        """
        if DATA_AXIS not in mesh.shape or MODEL_AXIS not in mesh.shape:
            raise ValueError(f"Engine needs a mesh with axes ({DATA_AXIS!r}, {MODEL_AXIS!r}), got {dict(mesh.shape)}")
        for name, value in (("batch_size", batch_size), ("gen_batch_size", gen_batch_size)):
            if value is not None and int(value) < 1:
                raise ValueError(f"Engine {name} must be >= 1, got {value}")
        auto_batch = max_batch_tokens == "auto"
        if (not auto_batch and int(max_batch_tokens) < 1) or gen_check_every < 1 or gen_min_window < 1:
            raise ValueError("Engine max_batch_tokens, gen_check_every and gen_min_window must be >= 1")
        if gen_lookahead < 0:
            raise ValueError(f"Engine gen_lookahead must be >= 0 draft tokens, got {gen_lookahead}")
        mesh = auto_axes(mesh)
        self.mesh = mesh
        self.cfg = cfg
        self.tokenizer = tokenizer
        self.model_name = model_name or getattr(cfg, "model_type", type(model).__name__)
        self.max_length = int(max_length) if max_length else resolve_max_length(cfg, tokenizer)
        self.batch_size = batch_size
        self.max_batch_tokens = 8192 if auto_batch else int(max_batch_tokens)
        self.gen_check_every = int(gen_check_every)
        self.gen_min_window = int(gen_min_window)
        self.gen_lookahead = int(gen_lookahead)
        self.gen_steps = 0  # decode steps (forward passes) run, for tokens-per-step figures
        self._data_size = mesh.shape[DATA_AXIS]
        self.gen_batch_size = round_up(gen_batch_size, self._data_size)
        self._encoder = RequestEncoder(tokenizer, add_bos_token=add_bos_token, prefix_token=prefix_token_id)
        self.prefix_token_id = self._encoder.prefix_token_id
        self.eos_token_ids = self._eos_ids(cfg, tokenizer, eos_token_ids)
        eos = tokenizer.eos_token_id
        self._eos_text = None if eos is None else tokenizer.decode([eos], skip_special_tokens=False)

        model = shard_model(model, mesh)
        self._graphdef, self._state = nnx.split(model)
        self._cache_dtype = getattr(model, "dtype", jnp.float32)
        self.min_shared_prefix = min_shared_prefix
        self.tokens_scored = 0  # real (non-padding) tokens run through the scorer, for throughput
        self._variants: set[tuple] = set()
        self._kernels = _kernels(self._graphdef, self.cfg, self._cache_dtype, mesh)
        if auto_batch:
            from sos_jax.engine.plan import auto_max_batch_tokens

            # Like the kernels, the size depends only on the architecture and mesh: the second
            # model of a --models list reuses the first one's search instead of compiling again.
            key = (self._graphdef, cfg, self._cache_dtype, mesh, bucket_length(self.max_length))
            if key not in _auto_batch_tokens:
                _auto_batch_tokens[key] = auto_max_batch_tokens(
                    self._graphdef, self._state, cfg, mesh, key[-1], dtype=self._cache_dtype
                )
            sized = _auto_batch_tokens[key]
            if sized:
                self.max_batch_tokens = sized
                log.info("scoring batches sized from compiled memory: %d tokens", sized)

    @property
    def num_compilations(self) -> int:
        """Returns how many distinct compiled kernel shapes this engine has run.

        The kernels are shared by every engine of the same architecture and mesh in the process,
        so each shape compiles once per process (`kernel_traces()` counts those); this count is
        what a run of this engine alone would compile.
        """
        return len(self._variants)

    @classmethod
    def from_pretrained(cls, path_or_hub_id: str, mesh: Mesh, *, dtype=jnp.float32, **kwargs: Any) -> "Engine":
        """Returns an engine for the checkpoint and tokenizer in one directory (or hub id).

        `scan_layers=True` loads the stacked-layer layout (flat compile time in depth).
        """
        scan_layers = kwargs.pop("scan_layers", False)
        model, cfg = load_pretrained(path_or_hub_id, dtype=dtype, mesh=auto_axes(mesh), scan_layers=scan_layers)
        tokenizer = load_tokenizer(path_or_hub_id)
        kwargs.setdefault("model_name", str(path_or_hub_id))
        return cls(model, cfg, tokenizer, mesh, **kwargs)

    # ------------------------------------------------------------------ loglikelihood

    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[tuple[float, bool]]:
        """Returns (sum of continuation log-probs, continuation is the greedy decode) per request.

        Same semantics as lm-eval's `hf` backend; results are in input order.
        """
        pairs = encode_loglikelihood_requests(self._encoder, requests, self.max_length)
        packed = pack_requests(
            pairs,
            max_length=self.max_length,
            rows_multiple=self._data_size,
            batch_rows=self.batch_size,
            max_batch_tokens=self.max_batch_tokens,
            min_shared_prefix=self.min_shared_prefix,
        )
        arrays = (
            packed.tokens, packed.positions, packed.group, packed.segment,
            packed.score_pos, packed.score_tok, packed.score_mask,
        )
        pending = []
        chunk, caches = (), None
        # Dispatch every batch before reading any result so host work overlaps device work.
        for (start, size), batch_chunk in zip(packed.batches, packed.batch_prefixes):
            local = process_slice(size)
            rows = self._rows([a[start : start + size][local] for a in arrays])
            if not batch_chunk:
                self._variants.add(("score",) + tuple(a.shape for a in rows))
                pending.append((start, self._kernels.score(self._state, *rows)))
                continue
            if batch_chunk != chunk:  # each chunk's prefixes are computed once, for all its batches
                chunk, caches = batch_chunk, self._prefix_caches([packed.prefixes[p] for p in batch_chunk])
            row_prefix = self._rows([packed.row_prefix[start : start + size][local]])
            self._variants.add(("score_after_prefix", caches[0].shape) + tuple(a.shape for a in rows))
            pending.append((start, self._kernels.score_after_prefix(self._state, *caches, *row_prefix, *rows)))
        results: list[tuple[float, bool] | None] = [None] * len(pairs)
        for start, (ll, greedy) in pending:
            ll, greedy = np.asarray(ll), np.asarray(greedy)
            for r in range(ll.shape[0]):
                for s, reqs in enumerate(packed.slot_requests[start + r]):
                    for i in reqs:
                        results[i] = (float(ll[r, s]), bool(greedy[r, s]))
        self.tokens_scored += packed.real_tokens + packed.prefix_tokens
        return results  # type: ignore[return-value]

    def _prefix_caches(self, prefixes: list[tuple[int, ...]]) -> tuple[jax.Array, jax.Array, jax.Array]:
        """Returns the keys, values and lengths of `prefixes`, padded to bucketed shapes."""
        count = next_power_of_two(len(prefixes))
        length = bucket_length(max(len(p) for p in prefixes), MIN_ROW_LEN)
        tokens = np.zeros((count, length), np.int32)
        lengths = np.zeros((count,), np.int32)
        for i, p in enumerate(prefixes):
            tokens[i, : len(p)] = p
            lengths[i] = len(p)
        tokens, lengths = (global_batch(self.mesh, a, spec=P()) for a in (tokens, lengths))
        self._variants.add(("prefix", count, length))
        k, v = self._kernels.prefix(self._state, tokens)
        return k, v, lengths

    def _rows(self, local_rows: Sequence[np.ndarray]) -> list[jax.Array]:
        """Returns global batch arrays (leading dim over `data`) from this process's rows of each."""
        return [global_batch(self.mesh, a) for a in local_rows]

    # ------------------------------------------------------------------ generation

    def generate_until(self, requests: Sequence[tuple[str, dict]]) -> list[str]:
        """Returns the generated continuation per (context, gen_kwargs) request, in input order.

        Decoding stops at EOS, at `max_gen_toks` (default 256) or once a stop string of `until`
        appears; the text is cut before the earliest stop string, as lm-eval cuts it.
        """
        settings, rows = self._run_generation(requests)
        return [cut_at_stop_sequences(self._decode_tokens(r), s.until) for s, r in zip(settings, rows)]

    def generate_token_ids(self, requests: Sequence[tuple[str, dict]]) -> list[list[int]]:
        """Returns the generated token ids per request (EOS kept if produced, stop strings not cut).

        A row stopped by a stop string may hold up to `gen_check_every * (gen_lookahead + 1)`
        tokens past it.
        """
        _, rows = self._run_generation(requests)
        return [r.tolist() for r in rows]

    def _run_generation(self, requests: Sequence[tuple[str, dict]]) -> tuple[list[GenerationSettings], list[np.ndarray]]:
        if len(requests) == 0:
            raise ValueError("generate_until got an empty request list")
        # Requests decode together when they sample alike and have the same length limit (which
        # sizes the cache every row of the group attends over); stop strings are per row.
        groups: dict[GenerationSettings, list[int]] = defaultdict(list)
        settings = []
        for i, request in enumerate(requests):
            if not isinstance(request, (tuple, list)) or len(request) != 2 or not isinstance(request[0], str):
                raise TypeError(f"request {i}: expected a (context: str, gen_kwargs: dict) pair, got {request!r:.200}")
            try:
                s = normalize_gen_kwargs(request[1], self._eos_text)
            except ValueError as e:
                raise ValueError(f"request {i}: {e}") from None
            if s.max_gen_toks >= self.max_length:
                raise ValueError(
                    f"request {i}: max_gen_toks {s.max_gen_toks} must be below the model's max_length {self.max_length}"
                )
            settings.append(s)
            groups[dataclasses.replace(s, until=())].append(i)
        rows: list[np.ndarray | None] = [None] * len(requests)
        for idxs in groups.values():
            encoded = {i: self._encode_prompt(requests[i][0])[-(self.max_length - settings[i].max_gen_toks):] for i in idxs}
            for i in idxs:
                if not encoded[i]:
                    raise ValueError(f"request {i}: context {requests[i][0]!r:.80} encodes to zero tokens; nothing to condition on")
            # Longest first, as lm-eval orders them, so the largest shapes run (and fail) first.
            order = sorted(idxs, key=lambda i: (-len(encoded[i]), requests[i][0]))
            group = self._generate_group([encoded[i] for i in order], order, [settings[i] for i in order])
            for i, row in zip(order, group):
                rows[i] = row
        return settings, rows  # type: ignore[return-value]

    def _encode_prompt(self, text: str) -> list[int]:
        """Returns prompt tokens as lm-eval's `tok_batch_encode` makes them (no BOS if already there)."""
        bos = getattr(self.tokenizer, "bos_token", None)
        kwargs = {}
        if bos and text.startswith(bos):
            kwargs["add_special_tokens"] = False
        elif self._encoder.add_bos_token is not None:
            kwargs["add_special_tokens"] = self._encoder.add_bos_token
        return list(self.tokenizer.encode(text, **kwargs))

    def _generate_group(
        self, prompts: list[list[int]], request_ids: list[int], settings: list[GenerationSettings]
    ) -> list[np.ndarray]:
        """Returns the generated ids of each prompt, decoded with continuous batching.

        Rows that finish (EOS, `max_gen_toks`, a stop string) leave at once and queued prompts
        take their rows, so no row waits for the longest generation of a batch.
        """
        n = len(prompts)
        shared = self._shared_prompt_prefix(prompts)
        prefix = None
        if shared:
            prefix = self._prefix_caches([tuple(prompts[0][:shared])])
            prompts = [p[shared:] for p in prompts]
        prefix_key = None if prefix is None else prefix[0].shape[3]
        # Only the rows needed, so a 2-prompt task does not pay for gen_batch_size rows;
        # a power of two of at least gen_batch_size / 8 keeps it to four row shapes.
        batch = next_power_of_two(n, self.gen_batch_size // _GEN_ROW_BUCKETS)
        batch = min(self.gen_batch_size, round_up(batch, self._data_size))
        s = settings[0]  # sampling settings are the group's; stops and lengths are each request's
        lookahead = 0 if s.do_sample else self.gen_lookahead
        # One cache size per group: the longest prompt's bucket, the new tokens and a step's drafts.
        max_new = bucket_length(max(t.max_gen_toks for t in settings))
        slots = bucket_length(max(len(p) for p in prompts), _MIN_PROMPT_LEN) + max_new + lookahead
        state = self._kernels.empty(batch, slots, max_new)
        params = generation.SamplingParams(
            np.float32(s.temperature if s.do_sample else 1.0), np.float32(s.top_p), np.int32(s.top_k)
        )
        eos = np.asarray(self.eos_token_ids or [-2], np.int32)
        base = jax.random.PRNGKey(s.seed)
        queue = list(range(n))[::-1]  # pop() takes the longest first
        occupant = np.full((batch,), -1)
        prompt_lens = [len(p) for p in prompts]
        generated = np.zeros((batch,), np.int32)
        results: list[np.ndarray | None] = [None] * n
        steps_seen = 0
        while queue or (occupant >= 0).any():
            free = np.nonzero(occupant < 0)[0]
            if queue and len(free):
                entering = [queue.pop() for _ in range(min(len(free), len(queue)))]
                state = self._prefill(state, [prompts[i] for i in entering], free[: len(entering)], batch,
                                      [np.asarray(jax.random.fold_in(base, request_ids[i])) for i in entering],
                                      [settings[i].max_gen_toks for i in entering], params, eos, s.do_sample,
                                      slots - max_new - lookahead, prefix)
                occupant[free[: len(entering)]] = entering
                generated[free[: len(entering)]] = 1
            span = self._decode_span(occupant, prompt_lens, generated, slots, lookahead + 1)
            self._variants.add(("decode", batch, slots, max_new, s.do_sample, span, prefix_key, lookahead))
            state = self._kernels.decode(
                self._state, state, np.int32(self.gen_check_every), np.bool_(bool(queue)), params, eos, prefix,
                do_sample=s.do_sample, span=span, lookahead=lookahead,
            )
            steps = int(state.steps)
            self.gen_steps += steps - steps_seen
            steps_seen = steps
            out, generated = np.asarray(state.out), np.array(state.generated)
            done = np.array(state.done)  # a writable copy: stop strings end rows too
            stopped = False
            for r in np.nonzero(occupant >= 0)[0]:
                row = out[r, : generated[r]]
                if not done[r] and any(u and u in self._decode_tokens(row) for u in settings[occupant[r]].until):
                    done[r] = stopped = True
                if done[r]:
                    results[occupant[r]] = row
                    occupant[r] = -1
            if stopped:
                state = state._replace(done=global_batch(self.mesh, done, spec=P()))
        return results  # type: ignore[return-value]

    def _decode_span(self, occupant: np.ndarray, prompt_lens: list[int], generated: np.ndarray, slots: int,
                     fed: int) -> int | None:
        """Returns the slots decode attention reads (None: all): the length bucket
        (`bucket_length`: powers of two, four sizes per doubling above 512) that holds every live
        row's tokens and the `fed` tokens a row writes for at least the next step.

        Decode stops when a row outgrows the window, so a row crossing a bucket costs one host
        round trip; reads stay within 25% of the longest row (above 512 slots) for at most four
        compiled window sizes per doubling of the cache."""
        # A row of n prompt tokens and g generated ones holds n + g - 1 slots before the next step.
        live = occupant >= 0
        need = max(prompt_lens[o] + g - 1 + fed for o, g in zip(occupant[live], generated[live]))
        span = bucket_length(need, self.gen_min_window)
        return None if span >= slots else span

    def _shared_prompt_prefix(self, prompts: list[list[int]]) -> int:
        """Returns how many leading tokens every prompt of a generation group shares (0 when
        fewer than `min_shared_prefix`): a task's few-shot block, prefilled and read once. Each
        prompt keeps at least its last token, whose logits choose its first new token."""
        if self.min_shared_prefix is None or len(prompts) < 2:
            return 0
        limit = min(len(p) for p in prompts) - 1
        first = np.asarray(prompts[0][:limit])
        for p in prompts[1:]:
            differs = np.nonzero(np.asarray(p[:limit]) != first[:limit])[0]
            limit = int(differs[0]) if len(differs) else limit
        return limit if limit >= max(self.min_shared_prefix, 1) else 0

    def _prefill(self, state, prompts, rows, batch, keys, max_gen, params, eos, do_sample, max_prompt, prefix):
        """Returns the state with `prompts` run and written into `rows`, padded to bucketed shapes."""
        count = next_power_of_two(len(prompts))
        count = round_up(count, self._data_size)
        prompt_len = min(bucket_length(max(len(p) for p in prompts), _MIN_PROMPT_LEN), max_prompt)
        tokens = np.zeros((count, prompt_len), np.int32)
        lengths = np.ones((count,), np.int32)
        targets = np.full((count,), batch, np.int32)  # filler entries point past the last row: dropped
        seeds = np.zeros((count, 2), np.uint32)
        limits = np.ones((count,), np.int32)
        for j, (p, r, key, limit) in enumerate(zip(prompts, rows, keys, max_gen)):
            tokens[j, : len(p)] = p
            lengths[j], targets[j], seeds[j], limits[j] = len(p), r, key, limit
        local = process_slice(count)
        arrays = self._rows([tokens[local], lengths[local], targets[local], seeds[local]])
        prefix_key = None if prefix is None else prefix[0].shape[3]
        self._variants.add(("prefill", state.out.shape[0], count, prompt_len, state.cache.max_len, do_sample, prefix_key))
        limits = self._rows([limits[local]])[0]
        return self._kernels.prefill(self._state, state, *arrays, params, eos, limits, prefix, do_sample=do_sample)

    def _decode_tokens(self, row: np.ndarray) -> str:
        row = row[row != generation.NO_TOKEN]
        return self.tokenizer.decode(row.tolist(), skip_special_tokens=True)

    # ------------------------------------------------------------------ chat

    def apply_chat_template(self, messages: list[dict], add_generation_prompt: bool = True) -> str:
        """Returns the conversation rendered with the tokenizer's chat template, as lm-eval does.

        A template that rejects the system role is retried without system messages.
        """
        import jinja2

        if not getattr(self.tokenizer, "chat_template", None):
            raise ValueError(f"tokenizer of {self.model_name!r} has no chat template (tokenizer_config.json 'chat_template')")
        render = functools.partial(
            self.tokenizer.apply_chat_template,
            tokenize=False,
            add_generation_prompt=add_generation_prompt,
            continue_final_message=not add_generation_prompt,
        )
        try:
            return render(messages)
        except jinja2.exceptions.TemplateError:
            log.warning("chat template failed; retrying without the system role")
            return render([m for m in messages if m.get("role") != "system"])

    @staticmethod
    def _eos_ids(cfg: Any, tokenizer: Any, explicit: Sequence[int] | None) -> list[int]:
        """Returns the token ids that end a generation: the config's EOS ids and the tokenizer's."""
        if explicit is not None:
            return sorted({int(t) for t in explicit})
        ids = set()
        cfg_eos = getattr(cfg, "eos_token_id", None)
        if isinstance(cfg_eos, (tuple, list)):
            ids.update(int(t) for t in cfg_eos)
        elif cfg_eos is not None:
            ids.add(int(cfg_eos))
        if tokenizer.eos_token_id is not None:
            ids.add(int(tokenizer.eos_token_id))
        return sorted(ids)
