"""Local pairwise judge: runs a judge model (anything with `generate_until` and
`apply_chat_template`, e.g. `sos_jax.engine.Engine`) over (question, model) pairs against a
baseline, in both answer orders, and writes one JSONL record per judged game.

Output records (read back by `read_judgments`):
    {"question_id", "model", "baseline", "game", "judge", "prompt", "score", "criteria",
     "judgment", "malformed", "style_a", "style_b"}
`score` is the parsed overall label or null (malformed, counted); `criteria` holds per-criterion
labels for the multi-criteria prompt. Game 1 shows the baseline's answer as A, game 2 as B. The
file is rewritten atomically after every batch, and a rerun skips every (question, model, game)
already in it, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Callable, Mapping, Protocol, Sequence

from launch.runtime import atomic_write_text
from sos_jax.judge.prompts import PROMPTS, judge_messages
from sos_jax.judge.style import style_features
from sos_jax.judge.verdicts import CRITERIA, parse_criteria, parse_verdict


class GenerationLM(Protocol):
    """What the runner needs from a judge model (matches `sos_jax.engine.Engine`)."""

    def generate_until(self, requests: Sequence[tuple[str, dict]]) -> list[str]: ...

    def apply_chat_template(self, messages: list[dict]) -> str: ...


@dataclasses.dataclass(frozen=True)
class RunSummary:
    """Counts from one `JudgeRunner.run`: games already on disk, judged now, and malformed."""

    path: str
    skipped: int
    judged: int
    malformed: int


@dataclasses.dataclass
class JudgeRunner:
    """Judges model answers against a baseline's with a local LM (see module doc).

    prompt: "arena_hard" or "multi_criteria". until/max_gen_toks: generation settings, greedy.
    count_tokens: token counter for the style features (default: regex word/punct tokens).
    """

    lm: GenerationLM
    prompt: str = "arena_hard"
    judge_name: str = "local-judge"
    max_gen_toks: int = 1024
    until: tuple[str, ...] = ()
    batch_size: int = 16
    count_tokens: Callable[[str], int] | None = None

    def __post_init__(self) -> None:
        if self.prompt not in PROMPTS:
            raise ValueError(f"prompt must be one of {sorted(PROMPTS)}, got {self.prompt!r}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")

    def run(
        self,
        questions: Mapping[str, str],
        answers: Mapping[str, Mapping[str, str]],
        *,
        baseline: str,
        out_path: str | Path,
        models: Sequence[str] | None = None,
    ) -> RunSummary:
        """Returns counts after judging every (question, model, game) not yet in `out_path`.

        questions: {question_id: prompt text}; answers: {model: {question_id: answer text}},
        which must include the baseline. `models` defaults to every non-baseline model.
        """
        out_path = Path(out_path)
        models = [m for m in answers if m != baseline] if models is None else list(models)
        if baseline in models:
            raise ValueError(f"baseline {baseline!r} cannot also be a judged model")
        for m in [baseline, *models]:
            if m not in answers:
                raise KeyError(f"no answers for model {m!r}")
            for qid in questions:
                if qid not in answers[m]:
                    raise KeyError(f"no answer for model {m!r}, question_id {qid!r}")
        records = _read_records(out_path)
        done = {(r["question_id"], r["model"], int(r["game"])) for r in records}
        todo = [
            (qid, m, game)
            for m in models
            for qid in questions
            for game in (1, 2)
            if (qid, m, game) not in done
        ]
        skipped = len([k for k in done if k[1] in models and k[0] in questions])
        malformed = 0
        for start in range(0, len(todo), self.batch_size):
            batch = todo[start : start + self.batch_size]
            reqs, metas = [], []
            for qid, m, game in batch:
                base_ans, model_ans = answers[baseline][qid], answers[m][qid]
                ans_a, ans_b = (base_ans, model_ans) if game == 1 else (model_ans, base_ans)
                text = self.lm.apply_chat_template(judge_messages(self.prompt, questions[qid], ans_a, ans_b))
                reqs.append((text, {"until": list(self.until), "max_gen_toks": self.max_gen_toks, "do_sample": False}))
                metas.append((qid, m, game, ans_a, ans_b))
            outputs = self.lm.generate_until(reqs)
            if len(outputs) != len(reqs):
                raise RuntimeError(f"judge LM returned {len(outputs)} outputs for {len(reqs)} requests")
            for (qid, m, game, ans_a, ans_b), out in zip(metas, outputs):
                label = parse_verdict(out)
                malformed += label is None
                rec = {
                    "question_id": qid,
                    "model": m,
                    "baseline": baseline,
                    "game": game,
                    "judge": self.judge_name,
                    "prompt": self.prompt,
                    "score": label,
                    "judgment": out,
                    "malformed": label is None,
                    "style_a": style_features(ans_a, self.count_tokens),
                    "style_b": style_features(ans_b, self.count_tokens),
                }
                if self.prompt == "multi_criteria":
                    rec["criteria"] = parse_criteria(out, CRITERIA)
                records.append(rec)
            atomic_write_text(out_path, "".join(json.dumps(r) + "\n" for r in records))
        return RunSummary(path=str(out_path), skipped=skipped, judged=len(todo), malformed=malformed)


def _read_records(path: Path) -> list[dict]:
    """Returns the records already in `path` (empty if it does not exist)."""
    if not path.exists():
        return []
    records = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}: line {lineno}: not valid JSON ({e.msg}); cannot resume") from None
            for key in ("question_id", "model", "game"):
                if key not in rec:
                    raise ValueError(f"{path}: line {lineno}: missing field {key!r}; cannot resume")
            records.append(rec)
    return records


__all__ = ["GenerationLM", "JudgeRunner", "RunSummary"]
