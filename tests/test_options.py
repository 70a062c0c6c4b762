"""laminarray.set_options / get_options."""

import pytest

import laminarray as lam


def test_context_manager_restores_and_global_set_persists():
    before = lam.get_options()
    with lam.set_options(task_bytes="1 MiB", progress=True):
        assert lam.get_options()["task_bytes"] == 2**20
        assert lam.get_options()["progress"] is True
    assert lam.get_options() == before
    lam.set_options(progress=False)
    try:
        assert lam.get_options()["progress"] is False
    finally:
        lam.set_options(progress=before["progress"])


def test_progress_is_silent_under_pytest_unless_asked():
    from laminarray.options import show_progress

    assert show_progress() is False
    assert show_progress(True) is True
    with lam.set_options(progress=True):
        assert show_progress() is True


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"colour": 1}, "unknown option"),
        ({"progress": "yes"}, "`progress` must be"),
        ({"task_bytes": 10}, "at least 64 KiB"),
        ({"scratch": "/no/such/dir"}, "existing directory"),
    ],
)
def test_bad_options_are_refused_by_name(options, message):
    with pytest.raises(lam.LaminarrayError, match=message):
        lam.set_options(**options)
