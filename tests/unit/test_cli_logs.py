"""Which attempt `switchyard logs WORKFLOW NODE --attempt N | --previous` reads, and what it says without one."""

from __future__ import annotations

import pytest

from switchyard.cli.main import chosen_attempt


def test_previous_is_the_attempt_before_the_latest_and_attempt_is_taken_as_given() -> None:
    assert chosen_attempt("n", latest=3, attempt=None, previous=True) == 2
    assert chosen_attempt("n", latest=3, attempt=1, previous=False) == 1


def test_previous_of_a_node_that_ran_once_says_there_is_none() -> None:
    with pytest.raises(ValueError, match=r"^node n has 1 attempt: no previous attempt$"):
        chosen_attempt("n", latest=1, attempt=None, previous=True)
    with pytest.raises(ValueError, match=r"^node n has not run yet: no previous attempt$"):
        chosen_attempt("n", latest=0, attempt=None, previous=True)


def test_an_attempt_beyond_the_latest_names_how_many_there_are() -> None:
    with pytest.raises(ValueError, match=r"^node n has 2 attempt\(s\): no attempt 3$"):
        chosen_attempt("n", latest=2, attempt=3, previous=False)
