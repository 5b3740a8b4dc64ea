"""Tokenisation of loglikelihood and generation requests exactly as lm-evaluation-harness does it.

Mirrors the `hf` backend of lm-eval 0.4.13 (`api/model.py::_encode_pair`, `loglikelihood`,
`models/huggingface.py::tok_encode`, `_loglikelihood_tokens`, `generate_until`): trailing
whitespace of a context moves to its continuation, the pair is encoded whole and the continuation
is whatever follows the context's tokens, an empty context is replaced by the prefix token (BOS,
else EOS), and over-long inputs lose tokens from the left so that the model sees at most
`max_length` tokens.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Sequence

# lm-eval's fallback when neither the model config nor the tokenizer states a context length.
DEFAULT_MAX_LENGTH = 2048
# transformers' "no limit" sentinel for `model_max_length`.
_TOKENIZER_INFINITY = 1000000000000000019884624838656
DEFAULT_MAX_GEN_TOKS = 256


@dataclass(frozen=True)
class ScoredPair:
    """One loglikelihood request after tokenisation and left truncation.

    `context` is the part of the model input that precedes the continuation (never empty);
    `continuation` holds the tokens whose log-probabilities are summed.
    """

    context: tuple[int, ...]
    continuation: tuple[int, ...]


def resolve_max_length(config: Any, tokenizer: Any, default: int = DEFAULT_MAX_LENGTH) -> int:
    """Returns the model's context length the way lm-eval resolves it.

    Looks at `n_positions`, `max_position_embeddings`, `n_ctx` on the config (a transformers config,
    a dict or our ModelConfig), then the tokenizer's `model_max_length`, then `default`.
    """
    for attr in ("n_positions", "max_position_embeddings", "n_ctx"):
        value = config.get(attr) if isinstance(config, dict) else getattr(config, attr, None)
        if value is not None:
            return int(value)
    model_max_length = getattr(tokenizer, "model_max_length", None)
    if model_max_length is not None and model_max_length != _TOKENIZER_INFINITY:
        return int(model_max_length)
    return default


def prefix_token_id(tokenizer: Any, override: int | None = None) -> int:
    """Returns the token that stands in for an empty context: `override`, else BOS, else EOS."""
    if override is not None:
        return int(override)
    if tokenizer.bos_token_id is not None:
        return int(tokenizer.bos_token_id)
    if tokenizer.eos_token_id is None:
        raise ValueError("tokenizer has neither a BOS nor an EOS token; pass prefix_token_id explicitly")
    return int(tokenizer.eos_token_id)


class RequestEncoder:
    """Encodes strings and request pairs with lm-eval's `hf` backend rules for one tokenizer."""

    def __init__(self, tokenizer: Any, *, add_bos_token: bool | None = None, prefix_token: int | None = None):
        self.tokenizer = tokenizer
        self.add_bos_token = add_bos_token
        self.prefix_token_id = prefix_token_id(tokenizer, prefix_token)
        self._prefix_text = tokenizer.decode(self.prefix_token_id)

    def encode(self, text: str, add_special_tokens: bool | None = None) -> list[int]:
        """Returns `text`'s token ids as lm-eval's `tok_encode` produces them.

        With `add_special_tokens=None` the tokenizer's own default applies (or `add_bos_token`
        when set), except that a string already starting with the prefix token's text gets no
        second one.
        """
        kwargs: dict[str, bool] = {}
        if add_special_tokens is not None:
            kwargs["add_special_tokens"] = add_special_tokens
        elif self.add_bos_token is not None:
            kwargs["add_special_tokens"] = self.add_bos_token
        if add_special_tokens is None and self._prefix_text and text.startswith(self._prefix_text):
            kwargs["add_special_tokens"] = False
        return list(self.tokenizer.encode(text, **kwargs))

    def encode_pair(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        """Returns (context tokens, continuation tokens) for one request, before truncation."""
        if not isinstance(context, str) or not isinstance(continuation, str):
            raise TypeError(
                f"a loglikelihood request is a (context: str, continuation: str) pair; got "
                f"({type(context).__name__}, {type(continuation).__name__})"
            )
        if context == "":
            cont = self.encode(continuation, add_special_tokens=False)
            if not cont:
                return [self.prefix_token_id], []
            if cont[0] != self.prefix_token_id:
                return [self.prefix_token_id], cont
            return cont[:1], cont[1:]
        n_spaces = len(context) - len(context.rstrip())
        if n_spaces:
            continuation = context[-n_spaces:] + continuation
            context = context[:-n_spaces]
        whole = self.encode(context + continuation)
        ctx = self.encode(context)
        return ctx, whole[len(ctx):]


def truncate_pair(context: Sequence[int], continuation: Sequence[int], max_length: int) -> ScoredPair:
    """Returns the pair as the model sees it: at most `max_length` input tokens, cut from the left.

    lm-eval feeds `(context + continuation)[-(max_length + 1):][:-1]` and scores the last
    `len(continuation)` positions, so the effective context is what precedes the continuation in
    that window.
    """
    if not continuation:
        raise ValueError("continuation encodes to zero tokens")
    if len(continuation) > max_length:
        raise ValueError(
            f"continuation has {len(continuation)} tokens, more than the model's max_length {max_length}"
        )
    window = (list(context) + list(continuation))[-(max_length + 1):]
    return ScoredPair(tuple(window[: len(window) - len(continuation)]), tuple(continuation))


def encode_loglikelihood_requests(
    encoder: RequestEncoder, requests: Sequence[tuple[str, str]], max_length: int
) -> list[ScoredPair]:
    """Returns every request tokenised and truncated; raises naming the first bad request."""
    if len(requests) == 0:
        raise ValueError("loglikelihood got an empty request list")
    pairs = []
    for i, request in enumerate(requests):
        if not isinstance(request, (tuple, list)) or len(request) != 2:
            raise TypeError(f"request {i}: expected a (context, continuation) pair, got {request!r:.200}")
        context, continuation = request
        ctx, cont = encoder.encode_pair(context, continuation)
        if not cont:
            raise ValueError(
                f"request {i}: continuation {continuation!r:.80} (context ending {context[-40:]!r}) "
                "encodes to zero tokens, so it has no loglikelihood"
            )
        try:
            pairs.append(truncate_pair(ctx, cont, max_length))
        except ValueError as e:
            raise ValueError(f"request {i}: {e}") from None
    return pairs


@dataclass(frozen=True)
class GenerationSettings:
    """Normalised lm-eval `gen_kwargs` for one generation request."""

    until: tuple[str, ...]
    max_gen_toks: int
    do_sample: bool
    temperature: float
    top_p: float
    top_k: int
    seed: int


_MAX_TOKEN_ALIASES = ("max_gen_toks", "max_new_tokens", "max_tokens", "max_completion_tokens")
# Accepted for compatibility with task configs; they ask for what plain decoding already does.
_NO_OP_KWARGS = {"num_beams": 1, "repetition_penalty": 1.0, "use_cache": True}
# transformers' GenerationConfig applies top_k=50 when sampling unless told otherwise, and lm-eval
# passes no top_k, so sampling through lm-eval's hf backend draws from the top 50 tokens.
HF_DEFAULT_TOP_K = 50


def normalize_gen_kwargs(gen_kwargs: dict | None, eos_text: str | None, *, default_seed: int = 0) -> GenerationSettings:
    """Returns the settings lm-eval derives from `gen_kwargs`, EOS text appended to the stops.

    Follows `lm_eval.models.utils.normalize_gen_kwargs` and `handle_stop_sequences`: `until` may
    be a string or a list, max-token aliases are taken in lm-eval's priority order, greedy unless
    `do_sample` (or a positive temperature without `do_sample`).
    """
    kwargs = copy.deepcopy(dict(gen_kwargs or {}))
    until = kwargs.pop("until", None)
    if isinstance(until, str):
        until = [until]
    elif until is None:
        until = []
    elif isinstance(until, tuple):
        until = list(until)
    elif not isinstance(until, list):
        raise ValueError(f"gen_kwargs['until'] must be a str or a list of str, got {until!r}")
    if not all(isinstance(u, str) for u in until):
        raise ValueError(f"gen_kwargs['until'] must hold strings only, got {until!r}")
    if eos_text is not None and eos_text not in until:
        until.append(eos_text)
    max_gen_toks = DEFAULT_MAX_GEN_TOKS
    for alias in reversed(_MAX_TOKEN_ALIASES):
        value = kwargs.pop(alias, None)
        if value is not None:
            max_gen_toks = int(value)
    if max_gen_toks < 1:
        raise ValueError(f"gen_kwargs max_gen_toks must be >= 1, got {max_gen_toks}")
    temperature = float(kwargs.pop("temperature", 0.0) or 0.0)
    do_sample = kwargs.pop("do_sample", None)
    if do_sample is None:
        do_sample = temperature > 0.0
    do_sample = bool(do_sample)
    if not do_sample:
        temperature = 0.0
    elif temperature <= 0.0:
        # transformers rejects do_sample with temperature 0; plain sampling is what is meant.
        temperature = 1.0
    top_p = kwargs.pop("top_p", None)
    top_p = 1.0 if top_p is None else float(top_p)
    if not 0.0 < top_p <= 1.0:
        raise ValueError(f"gen_kwargs top_p must be in (0, 1], got {top_p}")
    top_k = kwargs.pop("top_k", HF_DEFAULT_TOP_K)
    top_k = 0 if top_k is None else int(top_k)
    if top_k < 0:
        raise ValueError(f"gen_kwargs top_k must be >= 0 (0 = off), got {top_k}")
    seed = kwargs.pop("seed", None)
    seed = default_seed if seed is None else int(seed)
    for key, neutral in _NO_OP_KWARGS.items():
        if key in kwargs and kwargs[key] == neutral:
            kwargs.pop(key)
    if kwargs:
        raise ValueError(
            f"unsupported gen_kwargs {sorted(kwargs)}; supported: until, {', '.join(_MAX_TOKEN_ALIASES)}, "
            "do_sample, temperature, top_p, top_k, seed"
        )
    return GenerationSettings(tuple(until), max_gen_toks, do_sample, temperature, top_p, top_k, seed)


def cut_at_stop_sequences(text: str, until: Sequence[str]) -> str:
    """Returns `text` cut before its earliest stop sequence, as lm-eval's post-processing does."""
    for term in until:
        if term:
            text = text.split(term)[0]
    return text
