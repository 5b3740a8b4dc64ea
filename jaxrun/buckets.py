"""Shape buckets: the sizes arrays are padded to so a jitted kernel compiles a bounded number of times.

A kernel jitted on exact sizes recompiles for every new length; padded to a bucket, a whole run
compiles a handful of shapes. Power-of-two buckets waste up to half the padded size; splitting
each octave (p/2, p] into `per_octave` equal steps bounds the waste at 1/(per_octave + 1) for
`per_octave` shapes per octave. Pure integer functions, no JAX: usable anywhere below the kernels.
"""

from __future__ import annotations

__all__ = ["bucket_size", "next_power_of_two", "round_up"]


def round_up(n: int, multiple: int) -> int:
    """Returns the smallest multiple of `multiple` that is >= n (n itself when it is one)."""
    multiple = int(multiple)
    if multiple < 1:
        raise ValueError(f"round_up: multiple must be >= 1, got {multiple}")
    return -(-int(n) // multiple) * multiple


def next_power_of_two(n: int, minimum: int = 1) -> int:
    """Returns the smallest power of two that is >= max(n, minimum, 1)."""
    n = max(int(n), int(minimum), 1)
    return 1 << (n - 1).bit_length()


def bucket_size(n: int, minimum: int = 1, *, per_octave: int = 1, coarse_up_to: int = 0) -> int:
    """Returns the bucket for size `n`: the smallest bucket >= max(n, minimum, 1).

    Buckets are powers of two up to `coarse_up_to`; above it each octave (p/2, p] has `per_octave`
    equal steps of p / (2 * per_octave) (e.g. per_octave=4: 1280, 1536, 1792, 2048). `per_octave`
    must be a power of two so every step divides p.
    """
    per_octave = int(per_octave)
    if per_octave < 1 or per_octave & (per_octave - 1):
        raise ValueError(f"bucket_size: per_octave must be a power of two, got {per_octave}")
    m = max(int(n), int(minimum), 1)
    p = next_power_of_two(m)
    if per_octave == 1 or p <= coarse_up_to:
        return p
    return round_up(m, max(1, p // (2 * per_octave)))
