"""Tests for the early config checks and the one-line error report."""

import subprocess
import sys
import textwrap

import pytest

from jaxrun import checks


def test_checks_name_field_value_and_allowed():
    assert checks.check_int("batch_size", 8, minimum=1) == 8
    with pytest.raises(checks.ConfigError, match=r"batch_size=-4: must be >= 1"):
        checks.check_int("batch_size", -4, minimum=1)
    with pytest.raises(checks.ConfigError, match=r"batch_size=2.5: expected an integer"):
        checks.check_int("batch_size", 2.5, minimum=1)
    with pytest.raises(checks.ConfigError, match=r"optim.lr=nan: expected a finite number"):
        checks.check_float("optim.lr", float("nan"), minimum=0, open_min=True)
    with pytest.raises(checks.ConfigError, match=r"optim.lr=0: must be > 0"):
        checks.check_float("optim.lr", 0, minimum=0, open_min=True)
    with pytest.raises(checks.ConfigError, match=r"lam=2: must be <= 1"):
        checks.check_float("lam", 2, minimum=0, maximum=1)
    with pytest.raises(checks.ConfigError, match=r"did you mean 'grad'"):
        checks.check_choice("explainer_a", "gard", ["grad", "ig", "smoothgrad"])
    with pytest.raises(checks.ConfigError, match=r"unknown field 'lr_typo' \(did you mean 'lr'\?\)"):
        checks.check_keys("optim", ["lr_typo"], ["lr", "weight_decay"])
    assert checks.unknown_fields({"a": 1, "b": {"cc": 2}}, {"a": 0, "b": {"c": 0}}) == ["b.cc (did you mean 'c'?)"]


@pytest.mark.parametrize("argv,expected", [
    (["x"], False), (["x", "--verbose"], True), (["x", "-v", "1"], True), (["x", "--verbosity=0"], False),
    (["x", "--verbosity=2"], True),
])
def test_verbose_requested(argv, expected):
    assert checks.verbose_requested(argv) is expected


def _run(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True, text=True)


def test_report_errors_prints_one_line_and_exits_2_unless_verbose():
    code = """
        import sys
        from jaxrun.checks import ConfigError, report_errors
        def main():
            raise ConfigError("batch_size=-4: must be >= 1")
        report_errors(main)()
    """
    quiet = _run(code)
    assert quiet.returncode == 2
    assert quiet.stderr.splitlines()[0] == "error: batch_size=-4: must be >= 1"
    assert "Traceback" not in quiet.stderr
    loud = _run(code, "--verbose")
    assert loud.returncode == 1 and "Traceback" in loud.stderr and "batch_size=-4" in loud.stderr
