"""The one mechanism for renamed keyword arguments."""

import warnings

import pytest

from laminarray._deprecation import renamed_parameters
from laminarray._validation import LaminarrayError


@renamed_parameters(since="0.2", old="new")
def _func(data, *, new=1):
    return data, new


def test_old_name_warns_and_forwards():
    with pytest.warns(FutureWarning, match=r"`old` was renamed `new` in laminarray 0.2"):
        assert _func(3, old=5) == (3, 5)


def test_new_name_is_silent():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _func(3, new=5) == (3, 5)
        assert _func(3) == (3, 1)


def test_both_names_refused():
    with pytest.raises(LaminarrayError, match=r"got both `old` .* and `new`"):
        _func(3, old=1, new=2)


def test_metadata_kept():
    assert _func.__name__ == "_func"
    assert _func.__wrapped__(2) == (2, 1)
