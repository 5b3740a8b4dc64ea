"""TensorBoard metrics on process 0 (tensorboardX, no TensorFlow) and progress lines with an ETA."""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

from jaxrun.distributed import is_main_process


class MetricWriter:
    """TensorBoard writer (tensorboardX, no TensorFlow) that writes on process 0 only.

    Other processes get a writer whose calls do nothing, so library code can log unconditionally.
    """

    def __init__(self, logdir: str | os.PathLike | None, enabled: bool | None = None,
                 purge_step: int | None = None):
        """`purge_step`: a resumed run passes the step it resumes from, so TensorBoard drops the
        events a killed run wrote at or after that step instead of showing those steps twice."""
        enabled = is_main_process() if enabled is None else enabled
        self._writer = None
        if logdir is not None and enabled:
            from tensorboardX import SummaryWriter

            Path(logdir).mkdir(parents=True, exist_ok=True)
            # Event files sort by creation second, then name: the suffix keeps a resume that starts
            # within the same second as the killed run ordered after it.
            suffix = "" if purge_step is None else f".resume{int(purge_step):012d}"
            self._writer = SummaryWriter(str(logdir), purge_step=purge_step, filename_suffix=suffix)

    @property
    def active(self) -> bool:
        return self._writer is not None

    def scalars(self, step: int, values: Mapping[str, float]) -> None:
        if self._writer is None:
            return
        for name, value in values.items():
            self._writer.add_scalar(name, float(value), int(step))

    def text(self, tag: str, text: str, step: int = 0) -> None:
        if self._writer is not None:
            self._writer.add_text(tag, text, step)

    def hparams(self, hparams: Mapping[str, Any], metrics: Mapping[str, float]) -> None:
        if self._writer is None:
            return
        flat = {k: (v if isinstance(v, (int, float, str, bool)) else str(v)) for k, v in hparams.items()}
        self._writer.add_hparams(flat, dict(metrics), name=".")

    def image(self, tag: str, image_hwc: np.ndarray, step: int = 0) -> None:
        if self._writer is not None:
            self._writer.add_image(tag, image_hwc, step, dataformats="HWC")

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


@contextlib.contextmanager
def log_progress(name: str, total: int, unit: str = "items", every_s: float = 10.0) -> Iterator[Any]:
    """Yields `advance(n)`; logs rate and ETA for long work at most every `every_s` seconds.

    The rate and ETA count only the work after the first `advance`: the first call usually pays
    for compilation, and counting it made the first ETA absurd (hours for a minute's work).
    """
    import time

    last = time.perf_counter()
    steady_start: float | None = None
    done = steady_done = 0

    def advance(n: int = 1) -> None:
        nonlocal done, last, steady_start, steady_done
        done += n
        now = time.perf_counter()
        if steady_start is None:
            steady_start, steady_done = now, done
            logging.info("%s: %d/%d %s (first step, includes compilation)", name, done, total, unit)
            last = now
            return
        if now - last >= every_s or done >= total:
            rate = (done - steady_done) / max(now - steady_start, 1e-9)
            eta = (total - done) / rate if rate > 0 else float("inf")
            logging.info("%s: %d/%d %s, %.1f %s/s, ETA %.0fs", name, done, total, unit, rate, unit, eta)
            last = now

    yield advance


def quiet_third_party_logs() -> None:
    """Silences start-up chatter that is not about the run: JAX's backend probing ("Unable to
    initialize backend 'tpu'"), transformers' "PyTorch was not found" advice, per-split dataset
    progress bars and matplotlib's font-cache notice. Warnings and errors still show."""
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for logger in ("jax._src.xla_bridge", "matplotlib.font_manager", "datasets", "transformers",
                   "absl", "orbax", "etils"):
        logging.getLogger(logger).setLevel(logging.WARNING)
    with contextlib.suppress(ImportError, AttributeError):
        import datasets

        datasets.disable_progress_bars()
        datasets.logging.set_verbosity_error()
