"""Bootstrap over questions: per-question logs packed into flat arrays, one resampling draw,
task means of a draw, and percentile intervals.

The kernels are pure functions of arrays; `factors.factor_scores` runs all rounds in one jitted
call (`lax.map` over rounds in vmapped batches, so memory stays bounded). The bootstrap over
models for correlations lives in `correlations.py`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from sos_jax.analysis.ingest import ModelResults


@dataclass
class QuestionData:
    """Per-question values of every sample-backed task, flattened for resampling.

    Questions of task t occupy slots `task_offset[t] : task_offset[t] + task_size[t]`, in the same
    order for every model, so one draw of slots resamples the same questions for all models. Column
    j of the output is metric `col_k[j]` of task `col_task[j]`, i.e. task-metric column
    `col_index[j]` of the factor inputs. Slots past the last task are padding (task id T).
    """

    num: np.ndarray  # [N, M, K] float32 numerators
    den: np.ndarray  # [N, K] float32 denominators (shared by models)
    slot_task: np.ndarray  # [N] int32
    task_offset: np.ndarray  # [T] int32
    task_size: np.ndarray  # [T] int32
    col_task: np.ndarray  # [J] int32
    col_k: np.ndarray  # [J] int32
    col_index: np.ndarray  # [J] int32
    tasks: list[str]


def _bucket(n: int, quantum: int = 256) -> int:
    """Returns n rounded up to a power of two (at least `quantum`), so similar sizes share a compile."""
    return max(quantum, 1 << max(0, math.ceil(math.log2(max(n, 1)))))


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
        ids = sorted(common)
        tasks.append(task)
        per_task.append((cols, ids, logs))
    if not tasks:
        return None
    K = max(len(cols) for cols, _, _ in per_task)
    sizes = [len(ids) for _, ids, _ in per_task]
    n_total = sum(sizes)
    N = _bucket(n_total)
    M = len(models)
    num = np.zeros((N, M, K), np.float32)
    den = np.zeros((N, K), np.float32)
    slot_task = np.full(N, len(tasks), np.int32)
    offsets = np.cumsum([0] + sizes[:-1]).astype(np.int32)
    col_task, col_k, col_index = [], [], []
    for t, ((cols, ids, logs), off) in enumerate(zip(per_task, offsets)):
        n = len(ids)
        slot_task[off: off + n] = t
        selections = []
        for lg in logs:
            pos = {d: i for i, d in enumerate(lg.doc_ids.tolist())}
            selections.append(np.asarray([pos[d] for d in ids]))
        for k, (p, metric) in enumerate(cols):
            col_task.append(t)
            col_k.append(k)
            col_index.append(p)
            for mi, (lg, sel) in enumerate(zip(logs, selections)):
                num[off: off + n, mi, k] = lg.values[metric][sel]
                w = lg.weights[metric][sel]
                if mi == 0:
                    den[off: off + n, k] = w
                elif not np.array_equal(den[off: off + n, k], w):
                    raise ValueError(f"task {columns[cols[0][0]].partition('/')[0]}: metric {metric!r} has different per-question "
                                     f"denominators across models; the logs are not of the same questions")
    return QuestionData(num, den, slot_task, offsets, np.asarray(sizes, np.int32), np.asarray(col_task, np.int32),
                        np.asarray(col_k, np.int32), np.asarray(col_index, np.int32), tasks)


def question_means(num: jax.Array, den: jax.Array, slot_task: jax.Array, n_tasks: int,
                   col_task: jax.Array, col_k: jax.Array, idx: jax.Array | None = None) -> jax.Array:
    """Returns task-metric means [M, J] over the questions at slots `idx` (all slots by default)."""
    g_num = num if idx is None else num[idx]
    g_den = den if idx is None else den[idx]
    tasks = slot_task if idx is None else slot_task[idx]
    s_num = jax.ops.segment_sum(g_num, tasks, num_segments=n_tasks + 1)  # [T+1, M, K]
    s_den = jax.ops.segment_sum(g_den, tasks, num_segments=n_tasks + 1)  # [T+1, K]
    means = s_num / s_den[:, None, :]
    return means[col_task, :, col_k].T


def resample_slots(key: jax.Array, slot_task: jax.Array, task_offset: jax.Array, task_size: jax.Array) -> jax.Array:
    """Returns one bootstrap draw of slots: each task's n questions redrawn n times with replacement."""
    n_tasks = task_offset.shape[0]
    t = jnp.minimum(slot_task, n_tasks - 1)
    size = task_size[t]
    u = jax.random.uniform(key, slot_task.shape)
    pick = jnp.minimum(jnp.floor(u * size).astype(jnp.int32), size - 1)
    # Padding slots stay where they are (they map to the discarded segment).
    return jnp.where(slot_task < n_tasks, task_offset[t] + pick, jnp.arange(slot_task.shape[0]))


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
