"""Progress bars are drawn only where someone watches (common/progress.py): never into a log file or pipe unless
DT_PROGRESS=1 asks for them; DT_PROGRESS=0 turns them off everywhere; a bad value is an error naming the variable."""

import io

import pytest

from decision_transformer.common import progress


class _Tty(io.StringIO):
    def isatty(self):
        return True


def _drawn(monkeypatch, stream, enabled=True, env=None):
    monkeypatch.setattr(progress.sys, "stderr", stream)
    if env is None:
        monkeypatch.delenv(progress.ENV_VAR, raising=False)
    else:
        monkeypatch.setenv(progress.ENV_VAR, env)
    monkeypatch.delitem(progress.sys.modules, "ipykernel", raising=False)
    bar = progress.progress_bar(enabled, total=3, file=stream, mininterval=0)
    for _ in range(3):
        bar.update(1)
    bar.close()
    return stream.getvalue()


def test_a_terminal_gets_the_bar_a_pipe_does_not(monkeypatch):
    assert "3/3" in _drawn(monkeypatch, _Tty())
    assert _drawn(monkeypatch, io.StringIO()) == ""


def test_the_caller_can_always_turn_it_off(monkeypatch):
    assert _drawn(monkeypatch, _Tty(), enabled=False) == ""
    assert _drawn(monkeypatch, io.StringIO(), enabled=False, env="1") == ""


def test_dt_progress_overrides_the_terminal_check(monkeypatch):
    assert "3/3" in _drawn(monkeypatch, io.StringIO(), env="1")
    assert _drawn(monkeypatch, _Tty(), env="0") == ""


def test_a_bad_dt_progress_names_the_variable(monkeypatch):
    monkeypatch.setenv(progress.ENV_VAR, "yes")
    with pytest.raises(ValueError, match="DT_PROGRESS='yes': expected 1"):
        progress.interactive()


def test_a_notebook_kernel_counts_as_interactive(monkeypatch):
    monkeypatch.delenv(progress.ENV_VAR, raising=False)
    monkeypatch.setattr(progress.sys, "stderr", io.StringIO())
    monkeypatch.setitem(progress.sys.modules, "ipykernel", object())
    assert progress.interactive()
