"""Ahead-of-time compilation for a target that need not be attached: a Cloud TPU topology (compiled
through libtpu on any host, CPU included) or the local devices, with memory and FLOPs read back.

A target is a string: `local` (this process's devices) or `<chip>:<topology>` such as `v5e:2x2`,
`v5e:4x4` (4 hosts), `v4:2x2x2`, `v5p:2x2x2`, `v6e:4x4`, with an optional `/<slices>` suffix for
multislice (`v5e:2x2/2`). `target_devices` returns its devices; a program lowered with shardings
on a mesh over them compiles (`compile_report`) into an executable that cannot run here but whose
`memory_analysis()` (per device) and `cost_analysis()` are what the real chip would use. A program
that does not fit fails to compile with RESOURCE_EXHAUSTED; the report records that as no fit.

Published per-chip figures (`CHIPS`: dense bf16 peak FLOP/s and HBM) project run times; XLA's own
usable-HBM limit on a chip is a little below the nominal size (15.75 GiB of v5e's 16).
"""

from __future__ import annotations

import dataclasses
import os
import re
import time
from typing import Any, Callable

import jax

from jaxrun.buckets import round_up

GIB = 1024**3


@dataclasses.dataclass(frozen=True)
class Chip:
    """Published per-chip figures: dense bf16 peak FLOP/s, HBM bytes, and libtpu's chip config name."""

    name: str
    peak_bf16_flops: float
    hbm_bytes: int
    chip_config: str = "default"
    chips_per_host: tuple[int, int, int] = (2, 2, 1)


# Cloud TPU system-architecture pages (peak bf16 TFLOP/s per chip; HBM per chip).
CHIPS = {
    "v4": Chip("TPU v4", 275e12, 32 * GIB, "megacore", (2, 2, 1)),
    "v5e": Chip("TPU v5e", 197e12, 16 * GIB),
    "v5p": Chip("TPU v5p", 459e12, 95 * GIB, "megacore", (2, 2, 1)),
    "v6e": Chip("TPU v6e", 918e12, 32 * GIB),
}

_TARGET = re.compile(r"^(?P<chip>v\d+[a-z]*):(?P<topo>\d+(x\d+){1,2})(/(?P<slices>\d+))?$")


def parse_target(target: str) -> tuple[Chip, str, int]:
    """Returns (chip, topology such as "2x2", number of slices) for a `<chip>:<topology>[/<slices>]` string."""
    m = _TARGET.match(target.strip())
    if not m or m["chip"] not in CHIPS:
        raise ValueError(
            f"target {target!r}: expected 'local' or '<chip>:<topology>[/<slices>]' with chip one of "
            f"{sorted(CHIPS)} (e.g. v5e:2x2, v5e:4x4, v4:2x2x2, v5e:2x2/2)"
        )
    return CHIPS[m["chip"]], m["topo"], int(m["slices"] or 1)


def target_devices(target: str) -> list:
    """Returns the devices of `target`: this process's for `local`, else the TPU topology's.

    TPU topologies need libtpu (`pip install "jax[tpu]"`) but no TPU: the devices are
    descriptions that programs compile for and never run on.
    """
    if target == "local":
        return list(jax.devices())
    chip, topo, slices = parse_target(target)
    m_chip = target.split(":")[0].strip()
    from jax.experimental.topologies import get_topology_desc

    # libtpu takes a machine-wide lock file when it loads, even only to compile; a compile-only
    # process never touches a chip, so it must not fail because another process holds the lock.
    os.environ.setdefault("ALLOW_MULTIPLE_LIBTPU_LOAD", "1")
    dims = [int(d) for d in topo.split("x")]
    bounds = tuple(min(b, d) for b, d in zip(chip.chips_per_host, dims + [1] * (3 - len(dims))))
    try:
        desc = get_topology_desc(
            platform="tpu", topology_name=f"{m_chip}:{topo}",
            chip_config_name=chip.chip_config, chips_per_host_bounds=bounds, num_slices=slices,
        )
    except Exception as err:  # libtpu missing, or a shape libtpu does not know
        raise RuntimeError(f"cannot describe TPU topology {target!r} (is libtpu installed? pip install "
                           f"'jax[tpu]'): {err}") from err
    return list(desc.devices)


# device_kind substrings (as the runtime and libtpu spell them) -> CHIPS key; first match wins.
_KINDS = (("v5 lite", "v5e"), ("v5e", "v5e"), ("v6 lite", "v6e"), ("v6e", "v6e"), ("v5p", "v5p"), ("v5", "v5p"),
          ("v4", "v4"))


def chip_of(device: Any) -> Chip | None:
    """Returns the published figures of `device`'s chip, None when it is not a known TPU."""
    if device.platform != "tpu":
        return None
    kind = device.device_kind.lower()
    return next((CHIPS[key] for sub, key in _KINDS if sub in kind), None)


def target_chip(target: str) -> Chip | None:
    """Returns the published figures of `target`'s chip (None for `local` on an unknown chip)."""
    return parse_target(target)[0] if target != "local" else chip_of(jax.devices()[0])


def device_memory_limit(device: Any) -> int | None:
    """Returns the bytes a program may use on `device`: the runtime's limit where it reports one
    (attached GPUs/TPUs), the chip's published HBM for a topology description, None for host CPUs."""
    if device.platform == "cpu":
        return None
    stats = None
    try:
        stats = device.memory_stats()
    except Exception:  # topology descriptions have no runtime to ask
        pass
    if stats and "bytes_limit" in stats:
        return int(stats["bytes_limit"])
    chip = chip_of(device)
    return None if chip is None else chip.hbm_bytes


@dataclasses.dataclass
class CompileReport:
    """What one ahead-of-time compile says about a program, per device."""

    fits: bool
    argument_bytes: int = 0
    output_bytes: int = 0
    alias_bytes: int = 0
    temp_bytes: int = 0
    code_bytes: int = 0
    flops: float = 0.0  # cost_analysis(): a loop body (lax.scan, while) is counted once
    compile_seconds: float = 0.0
    error: str = ""

    @property
    def peak_bytes(self) -> int:
        """Returns the bytes live at once on a device: arguments + outputs - donated + temporaries + code."""
        return self.argument_bytes + self.output_bytes - self.alias_bytes + self.temp_bytes + self.code_bytes

    def summary(self) -> dict[str, Any]:
        """Returns the report as a JSON-friendly dict (GiB figures rounded)."""
        gib = lambda b: round(b / GIB, 3)  # noqa: E731
        return {
            "fits": self.fits, "peak_gib": gib(self.peak_bytes), "arguments_gib": gib(self.argument_bytes),
            "outputs_gib": gib(self.output_bytes - self.alias_bytes), "temporaries_gib": gib(self.temp_bytes),
            "code_gib": gib(self.code_bytes), "flops": self.flops, "compile_s": round(self.compile_seconds, 2),
            **({"error": self.error} if self.error else {}),
        }


def _is_out_of_memory(err: Exception) -> bool:
    text = str(err)
    return "RESOURCE_EXHAUSTED" in text or "Ran out of memory" in text or "exceeds the memory" in text


def compile_report(lower: Callable[[], Any], memory_limit: int | None = None) -> CompileReport:
    """Returns the report of compiling `lower()` (a `jax.stages.Lowered`).

    A compile that fails for lack of memory is `fits=False`, with the compiler's message; so is one
    whose peak exceeds `memory_limit` (when given; TPU compiles check their own HBM). Other errors
    propagate: they are bugs, not sizes.
    """
    start = time.perf_counter()
    try:
        compiled = lower().compile()
    except Exception as err:  # XlaRuntimeError / JaxRuntimeError
        if not _is_out_of_memory(err):
            raise
        first = next((line for line in str(err).splitlines() if line.strip()), str(err))
        return CompileReport(fits=False, compile_seconds=time.perf_counter() - start, error=first[:500])
    seconds = time.perf_counter() - start
    mem = compiled.memory_analysis()
    cost = compiled.cost_analysis()
    if isinstance(cost, list):  # older JAX: one dict per module
        cost = cost[0] if cost else {}
    report = CompileReport(
        fits=True,
        argument_bytes=int(getattr(mem, "argument_size_in_bytes", 0)),
        output_bytes=int(getattr(mem, "output_size_in_bytes", 0)),
        alias_bytes=int(getattr(mem, "alias_size_in_bytes", 0)),
        temp_bytes=int(getattr(mem, "temp_size_in_bytes", 0)),
        code_bytes=int(getattr(mem, "generated_code_size_in_bytes", 0)),
        flops=float((cost or {}).get("flops", 0.0)),
        compile_seconds=seconds,
    )
    if memory_limit is not None and report.peak_bytes > memory_limit:
        report.fits = False
        report.error = f"needs {report.peak_bytes / GIB:.2f} GiB per device, limit {memory_limit / GIB:.2f} GiB"
    return report


def largest_fitting(fits: Callable[[int], bool], start: int, *, multiple: int = 1, limit: int = 1 << 20) -> int:
    """Returns the largest n (a multiple of `multiple`, <= `limit`) with `fits(n)`, 0 if none.

    Doubles from `start` until a size fails, then bisects between the last fit and the first
    failure: about 2 log2(n / start) calls of `fits`, each typically a compile. Assumes fitting is
    monotone in n.
    """
    unit = max(1, int(multiple))
    n = max(unit, round_up(int(start), unit))
    good, bad = 0, None
    while n <= limit:
        if fits(n):
            good, n = n, n * 2
        else:
            bad = n
            break
    if bad is None:
        return good
    lo, hi = good // unit, bad // unit  # in units: lo fits (or 0), hi does not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fits(mid * unit):
            lo = mid
        else:
            hi = mid
    return lo * unit


def projected_seconds(flops: float, chip: Chip, num_chips: int, mfu: float) -> float:
    """Returns the time `flops` take on `num_chips` chips at `mfu` of the chip's published bf16 peak."""
    if not 0 < mfu <= 1:
        raise ValueError(f"mfu must be in (0, 1], got {mfu}")
    return flops / (chip.peak_bf16_flops * num_chips * mfu)
