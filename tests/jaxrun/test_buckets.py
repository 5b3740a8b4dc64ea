"""Shape buckets: exact values at the boundaries, bounded padding and bounded shape counts."""

import pytest

from jaxrun.buckets import bucket_size, next_power_of_two, round_up


def test_round_up():
    assert [round_up(n, 8) for n in (0, 1, 8, 9, 16, 17)] == [0, 8, 8, 16, 16, 24]
    assert round_up(5, 1) == 5
    with pytest.raises(ValueError, match="multiple must be >= 1"):
        round_up(5, 0)


def test_next_power_of_two():
    assert [next_power_of_two(n) for n in (-3, 0, 1, 2, 3, 4, 5, 129)] == [1, 1, 1, 2, 4, 4, 8, 256]
    assert next_power_of_two(3, minimum=16) == 16 and next_power_of_two(17, minimum=16) == 32


def test_bucket_size_power_of_two_below_the_fine_range_then_quarter_octaves():
    sizes = [bucket_size(n, 128, per_octave=4, coarse_up_to=512) for n in (1, 129, 512, 513, 700, 1025, 1537, 2048)]
    assert sizes == [128, 256, 512, 640, 768, 1280, 1792, 2048]
    assert bucket_size(300, 256, per_octave=4) == 320 and bucket_size(3, 256, per_octave=4) == 256
    assert bucket_size(300) == 512  # per_octave=1: plain powers of two


@pytest.mark.parametrize("per_octave", [1, 2, 4, 8])
def test_bucket_size_bounds_padding_and_shape_count(per_octave):
    sizes = {n: bucket_size(n, per_octave=per_octave) for n in range(1, 8193)}
    assert all(n <= b <= n * (1 + 1 / per_octave) + per_octave for n, b in sizes.items())
    # Each octave (p/2, p] above the smallest ones holds at most per_octave shapes.
    assert len({b for n, b in sizes.items() if 4096 < n}) == per_octave


def test_bucket_size_rejects_a_step_that_does_not_divide_the_octave():
    with pytest.raises(ValueError, match="power of two"):
        bucket_size(10, per_octave=3)
