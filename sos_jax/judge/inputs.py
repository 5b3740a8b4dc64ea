"""Readers for the judge runner's inputs: Arena-Hard question and model-answer JSONL files.

Questions: one record per line, `{"question_id", "turns": [{"content"}]}` (Arena-Hard v0.1) or
`{"uid", "prompt"}` (v2) or `{"question_id", "prompt"}`.
Answers: a `.jsonl` file or a directory of them, records `{"question_id", "model_id",
"choices": [{"turns": [{"content"}]}]}` (v0.1), `{"uid", "model", "messages": [..., {"role":
"assistant", "content": {"answer"}}]}` (v2), or `{"question_id", "model", "answer"}`. Only the
first turn is used: Arena-Hard questions are single-turn.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jaxrun import read_jsonl


def load_questions(path: str | Path) -> dict[str, str]:
    """Returns {question_id: prompt text} from an Arena-Hard question file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such questions file")
    out: dict[str, str] = {}
    for lineno, rec in read_jsonl(path):
        qid = rec.get("question_id", rec.get("uid"))
        if qid is None:
            raise ValueError(f"{path}: line {lineno}, field 'question_id': missing (expected 'question_id' or 'uid')")
        if "prompt" in rec:
            text = rec["prompt"]
        else:
            try:
                text = rec["turns"][0]["content"]
            except (KeyError, IndexError, TypeError):
                raise ValueError(f"{path}: line {lineno}, field 'turns': expected [{{'content': ...}}] or a 'prompt'") from None
        if not isinstance(text, str):
            raise ValueError(f"{path}: line {lineno}: question text must be a string, got {type(text).__name__}")
        out[str(qid)] = text
    return out


def _answer_text(rec: dict[str, Any]) -> str:
    if "answer" in rec:
        return rec["answer"]
    if "choices" in rec:
        return rec["choices"][0]["turns"][0]["content"]
    content = rec["messages"][-1]["content"]
    return content["answer"] if isinstance(content, dict) else content


def load_answers(path: str | Path) -> dict[str, dict[str, str]]:
    """Returns {model: {question_id: answer text}} from an answer file or a directory of them."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.jsonl"))
        if not files:
            raise FileNotFoundError(f"{path}: no *.jsonl answer files")
    elif path.is_file():
        files = [path]
    else:
        raise FileNotFoundError(f"{path}: no such answers file or directory")
    out: dict[str, dict[str, str]] = {}
    for file in files:
        for lineno, rec in read_jsonl(file):
            qid = rec.get("question_id", rec.get("uid"))
            model = rec.get("model_id", rec.get("model"))
            if qid is None or model is None:
                field = "question_id" if qid is None else "model"
                raise ValueError(f"{file}: line {lineno}, field {field!r}: missing")
            try:
                text = _answer_text(rec)
            except (KeyError, IndexError, TypeError):
                raise ValueError(
                    f"{file}: line {lineno}, field 'answer': expected 'answer', 'choices[0].turns[0].content' "
                    "or 'messages[-1].content'"
                ) from None
            if not isinstance(text, str):
                raise ValueError(f"{file}: line {lineno}, field 'answer': expected a string")
            out.setdefault(str(model), {})[str(qid)] = text
    return out


__all__ = ["load_answers", "load_questions"]
