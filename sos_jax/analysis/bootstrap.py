"""Bootstrap over questions: per-question logs packed into flat arrays, one resampling draw,
task means of a draw, and percentile intervals.

The kernels are pure functions of arrays; `factors.factor_scores` runs all rounds in one jitted
call (`lax.map` over rounds in vmapped batches, so memory stays bounded). The bootstrap over
models for correlations lives in `correlations.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxrun.buckets import next_power_of_two
from sos_jax.analysis.ingest import ModelResults


@dataclass
class QuestionData:
    """Per-question values of every sample-backed task metric ("stream"), flattened for resampling.

    Stream j (task-metric column `col_index[j]` of the factor inputs) occupies slots
    `stream_offset[j] : stream_offset[j] + stream_size[j]`, questions in the same order for every
    model. One uniform number per question of each task (`u_offset[j]` locates the stream's task in
    that draw) picks the resampled question for all of the task's streams and all models, so the
    bootstrap is paired across models and across metrics of the same questions (IFEval's four).
    Slots past the last stream are padding (stream id J).
    """

    num: np.ndarray  # [S, M] float32 numerators
    den: np.ndarray  # [S] float32 denominators (shared by models)
    slot_stream: np.ndarray  # [S] int32
    stream_offset: np.ndarray  # [J] int32
    stream_size: np.ndarray  # [J] int32
    u_offset: np.ndarray  # [J] int32: where the stream's task starts in the per-question draw
    n_questions: int  # questions over all tasks (length of the per-question draw, bucketed)
    col_index: np.ndarray  # [J] int32
    tasks: list[str]


def pack_question_data(models: Sequence[str], columns: Sequence[str],
                       merged: Mapping[str, ModelResults], notes: list[str] | None = None) -> QuestionData | None:
    """Returns the per-question data of tasks that every model logged, or None when none did.

    Questions are matched by `doc_id`; only those every model answered are kept (noted when some
    are dropped).
    """
    notes = notes if notes is not None else []
    by_task: dict[str, list[tuple[int, str]]] = {}
    for p, c in enumerate(columns):
        task, _, metric = c.partition("/")
        by_task.setdefault(task, []).append((p, metric))
    tasks, per_task = [], []
    for task, cols in by_task.items():
        logs = [merged[m].samples.get(task) for m in models]
        if any(lg is None or any(metric not in lg.values for _, metric in cols) for lg in logs):
            continue
        common = set(logs[0].doc_ids.tolist())
        for lg in logs[1:]:
            common &= set(lg.doc_ids.tolist())
        if not common:
            notes.append(f"task {task}: per-question logs share no doc_id across models; using stderr")
            continue
        if any(len(lg.doc_ids) != len(common) for lg in logs):
            notes.append(f"task {task}: kept the {len(common)} questions every model answered")
        tasks.append(task)
        per_task.append((task, cols, sorted(common), logs))
    if not tasks:
        return None
    n_streams = sum(len(cols) for _, cols, _, _ in per_task)
    n_slots = sum(len(cols) * len(ids) for _, cols, ids, _ in per_task)
    S = next_power_of_two(n_slots, 256)  # similar sizes share a compile
    M = len(models)
    num = np.zeros((S, M), np.float32)
    den = np.ones(S, np.float32)
    slot_stream = np.full(S, n_streams, np.int32)
    stream_offset, stream_size, u_offset, col_index = [], [], [], []
    off = u_off = 0
    for task, cols, ids, logs in per_task:
        n = len(ids)
        selections = []
        for lg in logs:
            pos = {d: i for i, d in enumerate(lg.doc_ids.tolist())}
            selections.append(np.asarray([pos[d] for d in ids]))
        for p, metric in cols:
            slot_stream[off: off + n] = len(stream_offset)
            stream_offset.append(off)
            stream_size.append(n)
            u_offset.append(u_off)
            col_index.append(p)
            for mi, (lg, sel) in enumerate(zip(logs, selections)):
                num[off: off + n, mi] = lg.values[metric][sel]
                w = lg.weights[metric][sel]
                if mi == 0:
                    den[off: off + n] = w
                elif not np.array_equal(den[off: off + n], w):
                    raise ValueError(f"task {task}: metric {metric!r} has different per-question denominators "
                                     f"across models; the logs are not of the same questions")
            off += n
        u_off += n
    return QuestionData(num, den, slot_stream, np.asarray(stream_offset, np.int32), np.asarray(stream_size, np.int32),
                        np.asarray(u_offset, np.int32), next_power_of_two(u_off, 256), np.asarray(col_index, np.int32), tasks)


def question_means(num: jax.Array, den: jax.Array, slot_stream: jax.Array, n_streams: int,
                   idx: jax.Array | None = None) -> jax.Array:
    """Returns each stream's mean [M, J] over the questions at slots `idx` (all slots by default)."""
    g_num = num if idx is None else num[idx]
    g_den = den if idx is None else den[idx]
    s_num = jax.ops.segment_sum(g_num, slot_stream, num_segments=n_streams + 1)  # [J+1, M]
    s_den = jax.ops.segment_sum(g_den, slot_stream, num_segments=n_streams + 1)  # [J+1]
    return (s_num / s_den[:, None])[:n_streams].T


def resample_slots(key: jax.Array, slot_stream: jax.Array, stream_offset: jax.Array, stream_size: jax.Array,
                   u_offset: jax.Array, n_questions: int) -> jax.Array:
    """Returns one bootstrap draw of slots: each task's n questions redrawn n times with replacement,
    the same draw for every metric (stream) of that task."""
    n_streams = stream_offset.shape[0]
    j = jnp.minimum(slot_stream, n_streams - 1)
    size = stream_size[j]
    u = jax.random.uniform(key, (n_questions,))
    position = jnp.arange(slot_stream.shape[0]) - stream_offset[j]  # question index within the task
    pick = jnp.minimum(jnp.floor(u[u_offset[j] + position] * size).astype(jnp.int32), size - 1)
    # Padding slots stay where they are (they map to the discarded segment).
    return jnp.where(slot_stream < n_streams, stream_offset[j] + pick, jnp.arange(slot_stream.shape[0]))


def percentile_interval(draws: jax.Array, level: float = 0.95, axis: int = 0) -> tuple[jax.Array, jax.Array]:
    """Returns the (lower, upper) percentile interval of `draws` along `axis` (NaN if any draw is NaN)."""
    a = (1.0 - level) / 2.0
    q = jnp.percentile(draws, jnp.asarray([100 * a, 100 * (1 - a)]), axis=axis)
    return q[0], q[1]


def round_chunk(bytes_per_round: int, budget: int = 256 << 20, n_rounds: int = 1000) -> int:
    """Returns how many rounds to vectorise at once: one batch stays under `budget` bytes, and the
    count divides `n_rounds` so `lax.map` compiles no separate remainder batch."""
    cap = int(max(1, min(n_rounds, budget // max(bytes_per_round, 1))))
    return max(d for d in range(1, cap + 1) if n_rounds % d == 0)
