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

    def __init__(self, logdir: str | os.PathLike | None, enabled: bool | None = None):
        enabled = is_main_process() if enabled is None else enabled
        self._writer = None
        if logdir is not None and enabled:
            from tensorboardX import SummaryWriter

            Path(logdir).mkdir(parents=True, exist_ok=True)
            self._writer = SummaryWriter(str(logdir))

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
    """Yields `advance(n)`; logs rate and ETA for long work at most every `every_s` seconds."""
    import time

    start = last = time.perf_counter()
    done = 0

    def advance(n: int = 1) -> None:
        nonlocal done, last
        done += n
        now = time.perf_counter()
        if now - last >= every_s or done >= total:
            rate = done / max(now - start, 1e-9)
            eta = (total - done) / rate if rate > 0 else float("inf")
            logging.info("%s: %d/%d %s, %.1f %s/s, ETA %.0fs", name, done, total, unit, rate, unit, eta)
            last = now

    yield advance
