"""The judgment table (one row per judged game) and readers for the judge-output formats we meet.

Formats read by `read_judgments`:
- Arena-Hard JSONL (`.jsonl`): one record per (question, model) with `games`, a list of one or two
  dicts holding the overall `score` label (and optionally `<criterion>_score` verdicts); v0.1 keys
  `question_id`/`model`, v2 keys `uid`/`model`/`baseline`. Our `JudgeRunner` writes one record
  per game instead (`game`, `score`, `criteria`, `style_a`, `style_b`); both are accepted.
- The SOS-Bench multifactor CSV (`.csv`, e.g. `exploded-multifactor-scoring-4o-judge-scores-only.csv`):
  columns `index, question_id, model, score` plus `<criterion>_score` verdicts coded 1..5; the two
  rows of an `index` are game 1 then game 2. Records whose `index` is not an integer or whose
  `question_id` is not 32 hex digits are spreadsheet debris and are dropped (counted); rows with an
  empty overall `score` are dropped (counted).

Game convention (Arena-Hard v0.1): in game 1 the baseline's answer is A and the model's is B; in
game 2 the model's answer is A.
"""

from __future__ import annotations

import csv
import dataclasses
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from jaxrun import read_jsonl
from sos_jax.judge.verdicts import CRITERIA, MISSING, parse_verdict, verdict_code

STYLE_KEYS: tuple[str, ...] = ("token_len", "header_count", "list_count", "bold_count")
_QID_RE = re.compile(r"^[0-9a-fA-F]{32}$")
_INDEX_RE = re.compile(r"^\d+$")


@dataclasses.dataclass(frozen=True)
class Judgments:
    """Judged games, one row each.

    verdict: overall verdict codes 1..5 (0 = missing/malformed) in the game's A/B frame.
    criteria: per-criterion verdict codes, same coding and frame.
    style_a / style_b: (n, 4) features (`STYLE_KEYS`) of the answers shown as A and B, NaN where
    unknown, or None when the source carries no answers.
    n_malformed: games whose overall verdict could not be parsed (kept, with code 0).
    n_dropped: records dropped on reading (debris, empty overall verdict).
    """

    question_id: np.ndarray
    model: np.ndarray
    baseline: np.ndarray
    game: np.ndarray
    verdict: np.ndarray
    criteria: Mapping[str, np.ndarray]
    judge: np.ndarray
    style_a: np.ndarray | None = None
    style_b: np.ndarray | None = None
    source: str = ""
    n_malformed: int = 0
    n_dropped: int = 0

    def __post_init__(self) -> None:
        n = len(self.question_id)
        for name in ("model", "baseline", "game", "verdict", "judge"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"Judgments.{name} has {len(getattr(self, name))} rows, expected {n}")
        for name, col in self.criteria.items():
            if len(col) != n:
                raise ValueError(f"Judgments.criteria[{name!r}] has {len(col)} rows, expected {n}")
        for name in ("style_a", "style_b"):
            arr = getattr(self, name)
            if arr is not None and arr.shape != (n, len(STYLE_KEYS)):
                raise ValueError(f"Judgments.{name} has shape {arr.shape}, expected {(n, len(STYLE_KEYS))}")
        if not np.isin(self.game, (1, 2)).all():
            raise ValueError(f"Judgments.game must be 1 or 2, got {sorted(set(self.game.tolist()))}")

    def __len__(self) -> int:
        return len(self.question_id)

    @property
    def models(self) -> tuple[str, ...]:
        """Returns the judged models in order of first appearance."""
        return tuple(dict.fromkeys(self.model.tolist()))

    def select(self, mask: np.ndarray) -> "Judgments":
        """Returns the rows where `mask` is true."""
        mask = np.asarray(mask)
        pick = lambda a: None if a is None else a[mask]  # noqa: E731
        return dataclasses.replace(
            self,
            question_id=self.question_id[mask],
            model=self.model[mask],
            baseline=self.baseline[mask],
            game=self.game[mask],
            verdict=self.verdict[mask],
            criteria={k: v[mask] for k, v in self.criteria.items()},
            judge=self.judge[mask],
            style_a=pick(self.style_a),
            style_b=pick(self.style_b),
        )

    def with_baseline(self, baseline: str) -> "Judgments":
        """Returns a copy whose rows with no recorded baseline name `baseline`."""
        filled = np.where(self.baseline == "", baseline, self.baseline).astype(object)
        return dataclasses.replace(self, baseline=filled)


def judgments_from_records(records: Sequence[Mapping[str, Any]], source: str = "<records>") -> Judgments:
    """Returns a Judgments table from Arena-Hard-style or per-game JSON records (see module doc)."""
    cols: dict[str, list] = {k: [] for k in ("qid", "model", "baseline", "game", "verdict", "judge")}
    crit: dict[str, list[int]] = {}
    style_a: list[list[float]] = []
    style_b: list[list[float]] = []
    any_style = False
    n_malformed = 0
    n_dropped = 0

    def err(i: int, field: str, what: str) -> ValueError:
        return ValueError(f"{source}: record {i + 1}, field {field!r}: {what}")

    def add(i: int, rec: Mapping[str, Any], game: Mapping[str, Any], game_no: int) -> None:
        nonlocal n_malformed, any_style
        qid = rec.get("question_id", rec.get("uid"))
        if qid is None:
            raise err(i, "question_id", "missing (expected 'question_id' or 'uid')")
        if "model" not in rec:
            raise err(i, "model", "missing")
        raw = game.get("score")
        try:
            code = verdict_code(raw) if raw is not None else MISSING
        except ValueError:
            code = MISSING
            # A full judge reply in `score` (some dumps do this): parse its last [[label]].
            label = parse_verdict(raw)
            if label is not None:
                code = verdict_code(label)
        if code == MISSING:
            n_malformed += 1
        cols["qid"].append(str(qid))
        cols["model"].append(str(rec["model"]))
        cols["baseline"].append(str(rec.get("baseline") or ""))
        cols["game"].append(game_no)
        cols["verdict"].append(code)
        cols["judge"].append(str(rec.get("judge") or ""))
        values = dict(game.get("criteria") or {})
        for key, value in game.items():
            if key.endswith("_score") and key != "score":
                values.setdefault(key[: -len("_score")], value)
        row = len(cols["qid"]) - 1
        for name, value in values.items():
            try:
                c = verdict_code(value)
            except ValueError as e:
                raise err(i, f"{name}_score", str(e)) from None
            crit.setdefault(name, [MISSING] * row).append(c)
        for col in crit.values():
            if len(col) < row + 1:
                col.append(MISSING)
        for src, dst in ((game.get("style_a"), style_a), (game.get("style_b"), style_b)):
            if src is None:
                dst.append([np.nan] * len(STYLE_KEYS))
            else:
                any_style = True
                try:
                    dst.append([float(src[k]) for k in STYLE_KEYS])
                except (KeyError, TypeError, ValueError):
                    raise err(i, "style_a/style_b", f"expected numbers for {STYLE_KEYS}, got {src!r}") from None

    for i, rec in enumerate(records):
        if not isinstance(rec, Mapping):
            raise ValueError(f"{source}: record {i + 1}: expected a JSON object, got {type(rec).__name__}")
        if "games" in rec:
            games = rec["games"]
            if not isinstance(games, list) or not 1 <= len(games) <= 2:
                raise err(i, "games", f"expected a list of 1 or 2 games, got {games!r:.80}")
            for g, game in enumerate(games):
                if game is None:
                    n_dropped += 1
                    continue
                if not isinstance(game, Mapping):
                    raise err(i, f"games[{g}]", f"expected an object, got {game!r:.80}")
                add(i, rec, game, g + 1)
        elif "score" in rec:
            game_no = rec.get("game", 1)
            if game_no not in (1, 2):
                raise err(i, "game", f"expected 1 or 2, got {game_no!r}")
            add(i, rec, rec, int(game_no))
        else:
            raise err(i, "games", "missing (expected 'games' or a per-game 'score')")

    return Judgments(
        question_id=np.asarray(cols["qid"], dtype=object),
        model=np.asarray(cols["model"], dtype=object),
        baseline=np.asarray(cols["baseline"], dtype=object),
        game=np.asarray(cols["game"], dtype=np.int8),
        verdict=np.asarray(cols["verdict"], dtype=np.int8),
        criteria={k: np.asarray(v, dtype=np.int8) for k, v in crit.items()},
        judge=np.asarray(cols["judge"], dtype=object),
        style_a=np.asarray(style_a, dtype=np.float64).reshape(-1, len(STYLE_KEYS)) if any_style else None,
        style_b=np.asarray(style_b, dtype=np.float64).reshape(-1, len(STYLE_KEYS)) if any_style else None,
        source=source,
        n_malformed=n_malformed,
        n_dropped=n_dropped,
    )


def _read_jsonl(path: Path) -> Judgments:
    records = [rec for _, rec in read_jsonl(path)]
    return judgments_from_records(records, source=str(path))


def _read_multifactor_csv(path: Path, baseline: str) -> Judgments:
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        try:
            header = next(reader)
        except StopIteration:
            raise ValueError(f"{path}: empty file (expected a header row)") from None
        header = [h.strip() for h in header]
        required = ("index", "question_id", "model", "score")
        missing = [c for c in required if c not in header]
        if missing:
            raise ValueError(
                f"{path}: missing column(s) {missing}; expected {list(required)} plus "
                f"'<criterion>_score' columns, got {header}"
            )
        pos = {h: j for j, h in enumerate(header)}
        crit_cols = [h for h in header if h.endswith("_score") and h != "score"]
        if "score_final" in pos:
            crit_cols.append("score_final")
        rows = []
        n_dropped = 0
        for lineno, rec in enumerate(reader, 2):
            if len(rec) != len(header):
                n_dropped += 1
                continue
            if not (_INDEX_RE.match(rec[pos["index"]].strip()) and _QID_RE.match(rec[pos["question_id"]].strip())):
                n_dropped += 1
                continue
            rows.append((lineno, rec))

    # Game number is the order of appearance within an index, counted before dropping empty
    # verdicts so a surviving game keeps its number.
    seen: dict[str, int] = {}
    cols: dict[str, list] = {k: [] for k in ("qid", "model", "game", "verdict", "judge")}
    crit: dict[str, list[int]] = {c: [] for c in crit_cols}
    for lineno, rec in rows:
        idx = rec[pos["index"]].strip()
        seen[idx] = seen.get(idx, 0) + 1
        game = seen[idx]
        if game > 2:
            raise ValueError(f"{path}: line {lineno}, column 'index': index {idx} has more than 2 games")
        raw = rec[pos["score"]].strip()
        if not raw:
            n_dropped += 1
            continue
        try:
            code = verdict_code(raw)
        except ValueError as e:
            raise ValueError(f"{path}: line {lineno}, column 'score': {e}") from None
        cols["qid"].append(rec[pos["question_id"]].strip())
        cols["model"].append(rec[pos["model"]].strip())
        cols["game"].append(game)
        cols["verdict"].append(code)
        cols["judge"].append(rec[pos["judge"]].strip() if "judge" in pos else "")
        for c in crit_cols:
            try:
                crit[c].append(verdict_code(rec[pos[c]]))
            except ValueError as e:
                raise ValueError(f"{path}: line {lineno}, column {c!r}: {e}") from None

    def crit_name(col: str) -> str:
        return col if col == "score_final" else col[: -len("_score")]

    n = len(cols["qid"])
    return Judgments(
        question_id=np.asarray(cols["qid"], dtype=object),
        model=np.asarray(cols["model"], dtype=object),
        baseline=np.full(n, baseline, dtype=object),
        game=np.asarray(cols["game"], dtype=np.int8),
        verdict=np.asarray(cols["verdict"], dtype=np.int8),
        criteria={crit_name(c): np.asarray(v, dtype=np.int8) for c, v in crit.items()},
        judge=np.asarray(cols["judge"], dtype=object),
        source=str(path),
        n_malformed=0,
        n_dropped=n_dropped,
    )


def read_judgments(path: str | Path, *, baseline: str = "") -> Judgments:
    """Returns the judgments in `path` (`.jsonl` Arena-Hard/runner output or `.csv` multifactor).

    `baseline` names the baseline model for rows that do not record one (the multifactor CSV
    never does; `bt_leaderboard(..., baseline=...)` can also fill it later). Raises ValueError
    naming the file and the field/column on malformed input.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such judgments file")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json"):
        table = _read_jsonl(path)
        table = table.with_baseline(baseline) if baseline else table
    elif suffix == ".csv":
        table = _read_multifactor_csv(path, baseline)
    else:
        raise ValueError(f"{path}: unknown judgments format {suffix!r}; expected .jsonl or .csv")
    if len(table.question_id) == 0:
        # Said here: later steps would only complain about a missing baseline or model.
        raise ValueError(f"{path}: the judgments file holds no judgments (it is empty or has only a header)")
    return table


__all__ = ["CRITERIA", "Judgments", "STYLE_KEYS", "judgments_from_records", "read_judgments"]
