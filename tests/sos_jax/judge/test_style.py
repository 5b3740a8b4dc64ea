"""Tests for sos_jax/judge/style.py: markdown counting and the pairwise style covariates."""

import numpy as np
import pytest

from sos_jax.judge.judgments import judgments_from_records
from sos_jax.judge.style import attach_style, markdown_counts, style_covariates, style_features

ANSWER = """# Title
Some **bold** text and __also bold__ and **not
bold across lines**.

## Section
1. first
2. second
  - nested
* star item
+ plus item
####### seven hashes is not a header
#no space is not a header

```python
# a comment in code is not a header
- not a list
**not bold**
```
"""


def test_markdown_counts_remove_code_blocks_first():
    assert markdown_counts(ANSWER) == {"header_count": 2, "list_count": 5, "bold_count": 2}
    assert markdown_counts("") == {"header_count": 0, "list_count": 0, "bold_count": 0}


def test_style_features_count_tokens_on_whole_answer():
    f = style_features("Hello, world! ```code```")
    assert f["token_len"] == 11  # Hello , world ! ` ` ` code ` ` `
    assert style_features("a b c", count_tokens=lambda s: 99)["token_len"] == 99
    with pytest.raises(TypeError, match="answer text as str"):
        style_features(None)


def test_style_covariates_formulas():
    a = np.array([[300.0, 3, 6, 0], [0, 0, 0, 0]])
    b = np.array([[100.0, 0, 2, 1], [0, 0, 0, 0]])
    cov = style_covariates(a, b)
    assert cov[0, 0] == pytest.approx((300 - 100) / 400)
    da, db = np.array([3, 6, 0]) / 300, np.array([0, 2, 1]) / 100
    np.testing.assert_allclose(cov[0, 1:], (da - db) / (da + db + 1))
    assert (cov[1] == 0).all()  # two empty answers: no difference, no NaN
    with pytest.raises(ValueError, match="non-negative"):
        style_covariates(-a, b)
    with pytest.raises(ValueError, match=r"\(n, 4\)"):
        style_covariates(a[:, :3], b[:, :3])


def test_attach_style_puts_baseline_in_position_a_for_game_1():
    j = judgments_from_records(
        [{"question_id": "q", "model": "m", "baseline": "base", "games": [{"score": "A>B"}, {"score": "B>A"}]}]
    )
    answers = {"m": {"q": "one two three"}, "base": {"q": "# h\nx"}}
    js = attach_style(j, answers)
    assert js.style_a[0].tolist() == [3, 1, 0, 0] and js.style_b[0].tolist() == [3, 0, 0, 0]
    assert js.style_a[1].tolist() == [3, 0, 0, 0] and js.style_b[1].tolist() == [3, 1, 0, 0]
    with pytest.raises(KeyError, match="model 'm', question_id 'q'"):
        attach_style(j, {"base": {"q": "x"}, "m": {}})
