"""Local pairwise judge: runs a judge model (anything with `generate_until` and
`apply_chat_template`, e.g. `sos_jax.engine.Engine`) over (question, model) pairs against a
baseline, in both answer orders, and writes one JSONL record per judged game.

Output records (read back by `read_judgments`):
    {"question_id", "model", "baseline", "game", "judge", "prompt", "score", "criteria",
     "judgment", "malformed", "style_a", "style_b"}
`score` is the parsed overall label or null (malformed, counted); `criteria` holds per-criterion
labels for the multi-criteria prompt. Game 1 shows the baseline's answer as A, game 2 as B.
Each batch is written atomically as its own part file in `<out>.parts/` (O(batch) I/O per batch);
at the end the parts are merged into `<out>` atomically and removed. A rerun reads `<out>` and any
parts left by an interrupted run and skips every (question, model, game) already judged.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol, Sequence

from jaxrun import atomic_write_text, read_jsonl
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
    chat_template: render prompts with the LM's chat template (True), as plain system + user text
    (False), or the template when the LM has one (None; each record notes which was used). write: whether this process writes the file (multi-host: process 0
    writes; every process runs the same generation).
    """

    lm: GenerationLM
    prompt: str = "arena_hard"
    judge_name: str = "local-judge"
    max_gen_toks: int = 1024
    until: tuple[str, ...] = ()
    batch_size: int = 16
    count_tokens: Callable[[str], int] | None = None
    chat_template: bool | None = None
    write: bool = True

    def __post_init__(self) -> None:
        if self.prompt not in PROMPTS:
            raise ValueError(f"prompt must be one of {sorted(PROMPTS)}, got {self.prompt!r}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        self._used_template: bool | None = None

    def _render(self, messages: list[dict]) -> str:
        """Returns the judge prompt text, falling back to plain text in auto mode if no template."""
        if self.chat_template is not False:
            try:
                text = self.lm.apply_chat_template(messages)
                self._used_template = True
                return text
            except ValueError as e:
                if self.chat_template or "chat template" not in str(e):
                    raise
                if self._used_template is not False:
                    logging.warning("judge LM has no chat template; using plain prompts (%s)", e)
        self._used_template = False
        return "\n\n".join(m["content"] for m in messages) + "\n\n"

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
        parts_dir = out_path.with_name(out_path.name + ".parts")
        parts = sorted(parts_dir.glob("*.jsonl")) if parts_dir.is_dir() else []
        records = _read_records(out_path) + [r for part in parts for r in _read_records(part)]
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
        next_part = 1 + max((int(p.stem) for p in parts if p.stem.isdigit()), default=0)
        for start in range(0, len(todo), self.batch_size):
            batch = todo[start : start + self.batch_size]
            reqs, metas, new = [], [], []
            for qid, m, game in batch:
                base_ans, model_ans = answers[baseline][qid], answers[m][qid]
                ans_a, ans_b = (base_ans, model_ans) if game == 1 else (model_ans, base_ans)
                text = self._render(judge_messages(self.prompt, questions[qid], ans_a, ans_b))
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
                    "chat_template": self._used_template,
                    "style_a": style_features(ans_a, self.count_tokens),
                    "style_b": style_features(ans_b, self.count_tokens),
                }
                if self.prompt == "multi_criteria":
                    rec["criteria"] = parse_criteria(out, CRITERIA)
                new.append(rec)
            records.extend(new)
            if self.write:
                atomic_write_text(parts_dir / f"{next_part:06d}.jsonl", "".join(json.dumps(r) + "\n" for r in new))
                next_part += 1
        if self.write and (todo or parts):
            atomic_write_text(out_path, "".join(json.dumps(r) + "\n" for r in records))
            for part in sorted(parts_dir.glob("*.jsonl")):
                part.unlink()
            parts_dir.rmdir()
        return RunSummary(path=str(out_path), skipped=skipped, judged=len(todo), malformed=malformed)


def run_judge(config: Any, workdir: str | Path, mesh: Any, *, questions: Mapping[str, str] | None = None,
              answers: Mapping[str, Mapping[str, str]] | None = None) -> RunSummary:
    """Returns the summary of judging the answers against `config.baseline` with `config.judge_model`.

    Writes `<workdir>/judgments_<prompt>.jsonl` (resumable). Questions and answers are read from
    `config.questions` / `config.answers` unless passed in (as `JudgeRunner.run` takes them).
    """
    from jaxrun import is_main_process
    from sos_jax.harness.models import load_engine
    from sos_jax.judge.inputs import load_answers, load_questions

    if questions is None:
        if not config.questions:
            raise ValueError("config.questions must name an Arena-Hard question.jsonl (or pass questions=)")
        questions = load_questions(config.questions)
    if answers is None:
        if not config.answers:
            raise ValueError("config.answers must name an answers file or directory (or pass answers=)")
        answers = load_answers(config.answers)
    if config.baseline not in answers:
        raise ValueError(f"baseline {config.baseline!r} has no answers; answer files hold {sorted(answers)}")
    lm = load_engine(config.judge_model, mesh, dtype=config.dtype)
    runner = JudgeRunner(
        lm,
        prompt=config.prompt,
        judge_name=config.judge_name or config.judge_model,
        max_gen_toks=config.max_gen_toks,
        until=tuple(config.until),
        batch_size=config.batch_size,
        chat_template=config.apply_chat_template,
        write=is_main_process(),
    )
    out = Path(workdir) / f"judgments_{config.prompt}.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    models = list(config.models) or None
    return runner.run(questions, answers, baseline=config.baseline, out_path=out, models=models)


def _read_records(path: Path) -> list[dict]:
    """Returns the records already in `path` (empty if it does not exist)."""
    if not path.exists():
        return []
    records = []
    for lineno, rec in read_jsonl(path):
        for key in ("question_id", "model", "game"):
            if key not in rec:
                raise ValueError(f"{path}: line {lineno}: missing field {key!r}; cannot resume")
        records.append(rec)
    return records


__all__ = ["GenerationLM", "JudgeRunner", "RunSummary", "run_judge"]
