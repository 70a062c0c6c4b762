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


def test_every_chunking_budget_follows_task_bytes():
    from laminarray._projection import auto_chunk
    from laminarray.options import task_budget

    assert task_budget() == 64 * 2**20
    assert task_budget(3.0) == 192 * 2**20
    assert auto_chunk(1000, 2**12) == 1000
    with lam.set_options(task_bytes="1 MiB"):
        assert task_budget(0.5) == 2**19
        assert auto_chunk(1000, 2**12) == 250  # 256 per chunk, balanced over 4 chunks
