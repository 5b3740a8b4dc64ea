"""Pairwise judge verdicts: the five labels, their integer codes, and parsing of judge output.

Labels follow Arena-Hard: `A>>B`, `A>B`, `A=B`, `B>A`, `B>>A`, coded 1..5 (1 = answer A much
better, 3 = tie, 5 = answer B much better; 0 = missing or malformed). The mirrored spellings some
judges emit (`B<<A`, `B<A`, `B=A`, `A<B`, `A<<B`) mean the same and map to the canonical label.
"""

from __future__ import annotations

import re
from typing import Iterable, Mapping

LABELS: tuple[str, ...] = ("A>>B", "A>B", "A=B", "B>A", "B>>A")
MISSING = 0
CODE: dict[str, int] = {label: i + 1 for i, label in enumerate(LABELS)}
_SYNONYMS: dict[str, str] = {
    **{label: label for label in LABELS},
    "B<<A": "A>>B",
    "B<A": "A>B",
    "B=A": "A=B",
    "A<B": "B>A",
    "A<<B": "B>>A",
}
# Longest alternatives first so `A>>B` is never read as `A>` + junk.
_ALTERNATION = "|".join(re.escape(s) for s in sorted(_SYNONYMS, key=len, reverse=True))
_VERDICT_RE = re.compile(r"\[\[\s*(" + _ALTERNATION + r")\s*\]\]")

CRITERIA: tuple[str, ...] = ("correctness", "completeness", "safety", "conciseness", "style")
# "Correctness: ((A>B))" -- the multi-criteria prompt asks for double parentheses so the
# per-criterion verdicts can never be mistaken for the overall [[...]] verdict.
_CRITERION_RE = re.compile(
    r"\b(" + "|".join(CRITERIA) + r")\b[^\n(\[]{0,40}\(\(\s*(" + _ALTERNATION + r")\s*\)\)",
    re.IGNORECASE,
)


def canonical_label(label: str) -> str | None:
    """Returns the canonical label for a verdict spelling (`B<A` -> `A>B`), or None if unknown."""
    if not isinstance(label, str):
        return None
    return _SYNONYMS.get(label.strip())


def parse_verdict(text: object) -> str | None:
    """Returns the last well-formed `[[label]]` verdict in `text` as a canonical label, else None.

    The last one wins because judges often quote the label list or an example verdict before
    giving their own. Anything that is not a string, or holds no well-formed label (`[[A>>>B]]`,
    `[[a>b]]`, `[A>B]`), gives None; this function never raises.
    """
    if not isinstance(text, str):
        return None
    last = None
    for match in _VERDICT_RE.finditer(text):
        last = match.group(1)
    return None if last is None else _SYNONYMS[last]


def parse_criteria(text: object, criteria: Iterable[str] = CRITERIA) -> dict[str, str | None]:
    """Returns {criterion: canonical label or None} from `Criterion: ((label))` lines in `text`.

    For each criterion the last well-formed verdict wins; criteria never mentioned map to None.
    """
    out: dict[str, str | None] = {c: None for c in criteria}
    if not isinstance(text, str):
        return out
    for match in _CRITERION_RE.finditer(text):
        name = match.group(1).lower()
        if name in out:
            out[name] = _SYNONYMS[match.group(2)]
    return out


def verdict_code(value: object) -> int:
    """Returns the 1..5 code of a verdict given as a label or an integer code, or 0 if missing.

    Raises ValueError for anything else, so a bad cell is reported rather than silently dropped.
    Empty strings and None are missing.
    """
    if value is None:
        return MISSING
    if isinstance(value, bool):
        raise ValueError(f"expected a verdict label {LABELS} or an integer 1-5, got {value!r}")
    if isinstance(value, (int, float)):
        if float(value) != float(value):  # NaN
            return MISSING
        if float(value) in (1.0, 2.0, 3.0, 4.0, 5.0):
            return int(value)
        raise ValueError(f"expected a verdict label {LABELS} or an integer 1-5, got {value!r}")
    if isinstance(value, str):
        s = value.strip()
        if not s:
            return MISSING
        if s.startswith("[[") and s.endswith("]]"):
            s = s[2:-2].strip()
        label = _SYNONYMS.get(s)
        if label is not None:
            return CODE[label]
        if s in ("1", "2", "3", "4", "5", "1.0", "2.0", "3.0", "4.0", "5.0"):
            return int(float(s))
    raise ValueError(f"expected a verdict label {LABELS} or an integer 1-5, got {value!r}")


def count_verdicts(labels: Iterable[str | None]) -> Mapping[str, int]:
    """Returns counts of each canonical label plus `malformed` for None entries."""
    counts = {label: 0 for label in LABELS}
    counts["malformed"] = 0
    for label in labels:
        counts[label if label in counts else "malformed"] += 1
    return counts
