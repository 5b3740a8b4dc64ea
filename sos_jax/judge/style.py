"""Answer style features and the pairwise style covariates used by style-controlled Bradley-Terry.

Follows arena-hard-auto's style control: per answer, the token length and counts of markdown
headers, list items and bold spans, counted after fenced code blocks are removed. For a battle
between answers a and b the covariates are
    length:   (len_a - len_b) / (len_a + len_b)
    markdown: (d_a - d_b) / (d_a + d_b + 1),  d = count / token length  (header, list, bold)
and each column is z-normalised over the battles before fitting.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Callable, Mapping

import numpy as np

from sos_jax.judge.judgments import STYLE_KEYS, Judgments

COVARIATES: tuple[str, ...] = ("length", "header", "list", "bold")

_CODE_BLOCK_RE = re.compile(r"```[^`]*```")
_HEADER_RE = re.compile(r"^#{1,6}\s", re.MULTILINE)
_ORDERED_RE = re.compile(r"^\s*\d+\.\s", re.MULTILINE)
_UNORDERED_RE = re.compile(r"^\s*[-*+]\s", re.MULTILINE)
_BOLD_STAR_RE = re.compile(r"\*\*[^*\n]+\*\*")
_BOLD_UNDER_RE = re.compile(r"__[^_\n]+__")
_TOKEN_RE = re.compile(r"\w+|[^\w\s]")


def count_tokens_regex(text: str) -> int:
    """Returns the number of word and punctuation tokens in `text` (tokenizer-free default)."""
    return len(_TOKEN_RE.findall(text))


def markdown_counts(text: str) -> dict[str, int]:
    """Returns header, list-item and bold counts of `text` with fenced code blocks removed first."""
    body = _CODE_BLOCK_RE.sub("", text)
    return {
        "header_count": len(_HEADER_RE.findall(body)),
        "list_count": len(_ORDERED_RE.findall(body)) + len(_UNORDERED_RE.findall(body)),
        "bold_count": len(_BOLD_STAR_RE.findall(body)) + len(_BOLD_UNDER_RE.findall(body)),
    }


def style_features(text: str, count_tokens: Callable[[str], int] | None = None) -> dict[str, int]:
    """Returns {token_len, header_count, list_count, bold_count} for one answer.

    Token length counts the whole answer (code included), as arena-hard-auto does; pass the
    judged models' tokenizer as `count_tokens` to match a tokenizer-based count.
    """
    if not isinstance(text, str):
        raise TypeError(f"style_features expects the answer text as str, got {type(text).__name__}")
    count = count_tokens or count_tokens_regex
    return {"token_len": int(count(text)), **markdown_counts(text)}


def style_covariates(model_feats: np.ndarray, opponent_feats: np.ndarray) -> np.ndarray:
    """Returns the (n, 4) raw covariates (length ratio, 3 density differences), model minus opponent.

    Inputs are (n, 4) arrays ordered as `STYLE_KEYS`. Two empty answers give 0 (no difference).
    """
    a = np.asarray(model_feats, dtype=np.float64)
    b = np.asarray(opponent_feats, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2 or a.shape[1] != len(STYLE_KEYS):
        raise ValueError(f"style features must both be (n, {len(STYLE_KEYS)}), got {a.shape} and {b.shape}")
    if (a < 0).any() or (b < 0).any():
        raise ValueError("style features must be non-negative counts")
    out = np.zeros_like(a)
    la, lb = a[:, 0], b[:, 0]
    tot = la + lb
    out[:, 0] = np.divide(la - lb, tot, out=np.zeros_like(tot), where=tot > 0)
    da = np.divide(a[:, 1:], la[:, None], out=np.zeros_like(a[:, 1:]), where=la[:, None] > 0)
    db = np.divide(b[:, 1:], lb[:, None], out=np.zeros_like(b[:, 1:]), where=lb[:, None] > 0)
    out[:, 1:] = (da - db) / (da + db + 1.0)
    return out


def attach_style(
    judgments: Judgments,
    answers: Mapping[str, Mapping[str, str]],
    count_tokens: Callable[[str], int] | None = None,
) -> Judgments:
    """Returns `judgments` with style_a/style_b computed from answer texts.

    `answers[model][question_id]` is the answer text; the baseline's answers are looked up under
    each row's baseline name. Raises KeyError naming the missing (model, question_id).
    """
    cache: dict[tuple[str, str], list[float]] = {}

    def feats(model: str, qid: str) -> list[float]:
        key = (model, qid)
        if key not in cache:
            try:
                text = answers[model][qid]
            except KeyError:
                raise KeyError(f"no answer for model {model!r}, question_id {qid!r}") from None
            f = style_features(text, count_tokens)
            cache[key] = [float(f[k]) for k in STYLE_KEYS]
        return cache[key]

    if (judgments.baseline == "").any():
        raise ValueError("attach_style needs each row's baseline: read_judgments(..., baseline=NAME) first")
    model_f = np.array([feats(m, q) for m, q in zip(judgments.model, judgments.question_id)]).reshape(-1, 4)
    base_f = np.array([feats(b, q) for b, q in zip(judgments.baseline, judgments.question_id)]).reshape(-1, 4)
    game1 = (judgments.game == 1)[:, None]
    # Game 1 shows the baseline as A and the model as B; game 2 the reverse.
    return dataclasses.replace(
        judgments,
        style_a=np.where(game1, base_f, model_f),
        style_b=np.where(game1, model_f, base_f),
    )


__all__ = ["COVARIATES", "attach_style", "count_tokens_regex", "markdown_counts", "style_covariates", "style_features"]
