"""Progress (common/progress.py): a tqdm bar where someone watches, plain lines in a pipe or log (no carriage
returns), nothing when the caller or DT_PROGRESS=0 says so; a bad DT_PROGRESS is an error naming the variable."""

import io

import pytest

from decision_transformer.common import progress


class _Tty(io.StringIO):
    def isatty(self):
        return True


def _shown(monkeypatch, stream, enabled=True, env=None, total=20, steps=20, postfix=None):
    monkeypatch.setattr(progress.sys, "stderr", stream)
    if env is None:
        monkeypatch.delenv(progress.ENV_VAR, raising=False)
    else:
        monkeypatch.setenv(progress.ENV_VAR, env)
    monkeypatch.delitem(progress.sys.modules, "ipykernel", raising=False)
    monkeypatch.setattr(progress, "LINE_EVERY_S", 0.0)
    with progress.progress_bar(enabled, total=total, desc="train dt", unit="step", file=stream, mininterval=0) as bar:
        for _ in range(steps):
            bar.update(1)
            if postfix:
                bar.set_postfix(**postfix)
    return stream.getvalue()


def test_a_terminal_gets_the_bar(monkeypatch):
    out = _shown(monkeypatch, _Tty())
    assert "20/20" in out and "\r" in out


def test_a_log_gets_a_plain_line_at_each_tenth(monkeypatch):
    out = _shown(monkeypatch, io.StringIO(), postfix={"loss": 0.123456, "samples_s": "397"})
    lines = out.splitlines()
    assert "\r" not in out and len(lines) == 10
    assert lines[4].startswith("train dt: 10/20 step (50%), ") and " step/s, loss=0.1235, samples_s=397" in lines[4]
    assert lines[-1].startswith("train dt: 20/20 step (100%)")


def test_log_lines_are_throttled_but_the_end_is_always_said(monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr(progress.sys, "stderr", stream)
    monkeypatch.delenv(progress.ENV_VAR, raising=False)
    monkeypatch.delitem(progress.sys.modules, "ipykernel", raising=False)
    with progress.progress_bar(True, total=100, desc="gen", unit="step", file=stream) as bar:  # LINE_EVERY_S = 30
        for _ in range(100):
            bar.update(1)
    lines = stream.getvalue().splitlines()
    assert [line.split(",")[0] for line in lines] == ["gen: 10/100 step (10%)", "gen: 100/100 step (100%)"]
    stream.truncate(0), stream.seek(0)
    with progress.progress_bar(True, total=100, initial=40, desc="gen", unit="step", file=stream) as bar:
        bar.update(5)  # resumed at 40, stopped at 45: the last line says where
    assert stream.getvalue().startswith("gen: 45/100 step (45%)")


def test_the_caller_or_dt_progress_0_turns_it_off(monkeypatch):
    assert _shown(monkeypatch, _Tty(), enabled=False) == ""
    assert _shown(monkeypatch, io.StringIO(), enabled=False) == ""
    assert _shown(monkeypatch, io.StringIO(), enabled=False, env="1") == ""
    assert _shown(monkeypatch, _Tty(), env="0") == ""
    assert _shown(monkeypatch, io.StringIO(), env="0") == ""


def test_dt_progress_1_draws_the_bar_in_a_log(monkeypatch):
    out = _shown(monkeypatch, io.StringIO(), env="1")
    assert "20/20" in out and "\r" in out


def test_a_bad_dt_progress_names_the_variable(monkeypatch):
    monkeypatch.setenv(progress.ENV_VAR, "yes")
    with pytest.raises(ValueError, match="DT_PROGRESS='yes': expected 1"):
        progress.interactive()


def test_a_notebook_kernel_counts_as_interactive(monkeypatch):
    monkeypatch.delenv(progress.ENV_VAR, raising=False)
    monkeypatch.setattr(progress.sys, "stderr", io.StringIO())
    monkeypatch.setitem(progress.sys.modules, "ipykernel", object())
    assert progress.interactive()
