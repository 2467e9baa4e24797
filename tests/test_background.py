"""A step in a second process: the value, errors, log records and timings come back; the
outputs are the same with one process or two."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from walkshed import _background, settings
from walkshed._background import Background
from walkshed._errors import InputError, input_error

fork_only = pytest.mark.skipif(not hasattr(os, "fork"), reason="the platform has no fork")


@pytest.fixture
def two_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "workers", 2)
    if not _background.can_fork():
        pytest.skip("this test process runs other threads or cannot fork")


def _pid_and_square(timings: dict[str, float]) -> tuple[int, int]:
    timings["squaring"] = 0.5
    return os.getpid(), 7 * 7


@fork_only
def test_the_value_comes_back_from_a_child(two_workers: None) -> None:
    job = Background(_pid_and_square, label="squaring")
    assert job.forked
    pid, value = job.result()
    assert value == 49
    assert pid != os.getpid()  # it really ran elsewhere
    assert job.timings == {"squaring": 0.5}
    with pytest.raises(RuntimeError, match="twice"):
        job.result()


def test_one_worker_runs_in_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "workers", 1)
    assert not _background.can_fork()
    job = Background(_pid_and_square)
    assert not job.forked
    assert job.result() == (os.getpid(), 49)
    assert job.timings == {"squaring": 0.5}


def test_no_fork_while_other_threads_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "workers", 2)
    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        job = Background(_pid_and_square)
        assert not job.forked
        assert job.result()[0] == os.getpid()
    finally:
        stop.set()
        t.join()


def _fails(timings: dict[str, float]) -> None:
    logging.getLogger("walkshed.test").warning("before failing")
    raise input_error("precincts.csv", "no column 'status'", "Add it")


class _Odd(Exception):
    def __init__(self, a: int, b: int) -> None:  # does not survive pickling as itself
        super().__init__(f"{a}/{b}")


def _fails_oddly(timings: dict[str, float]) -> None:
    raise _Odd(1, 2)


@fork_only
def test_errors_and_log_records_come_back(two_workers: None,
                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="walkshed")
    job = Background(_fails)
    assert job.forked
    with pytest.raises(InputError) as info:
        job.result()
    assert str(info.value) == "precincts.csv: no column 'status'. Add it."
    assert [r.getMessage() for r in caplog.records] == ["before failing"]
    with pytest.raises(RuntimeError, match="_Odd: 1/2"):
        Background(_fails_oddly).result()


def _dies(timings: dict[str, float]) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _interrupted(timings: dict[str, float]) -> None:
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(5)


@fork_only
def test_a_child_that_dies_is_an_error(two_workers: None) -> None:
    with pytest.raises(RuntimeError, match="without an answer"):
        Background(_dies).result()
    with pytest.raises(KeyboardInterrupt):  # Ctrl-C reaches the whole process group
        Background(_interrupted).result()


def _raises_interrupt(timings: dict[str, float]) -> None:
    raise KeyboardInterrupt


@fork_only
def test_an_interrupt_raised_in_the_child_is_one_here(two_workers: None) -> None:
    with pytest.raises(KeyboardInterrupt):
        Background(_raises_interrupt).result()


def _sleeps(timings: dict[str, float]) -> None:
    time.sleep(60)


@fork_only
def test_close_stops_the_child(two_workers: None) -> None:
    job = Background(_sleeps)
    pid = job._pid
    t0 = time.perf_counter()
    job.close()
    assert time.perf_counter() - t0 < 30
    with pytest.raises(ChildProcessError):  # reaped: no zombie left
        os.waitpid(pid, os.WNOHANG)


@fork_only
def test_the_child_leaves_no_trace_of_the_parent(tmp_path: os.PathLike[str]) -> None:
    """The child leaves with os._exit: the parent's ``finally`` and ``atexit`` run once."""
    script = f"""
import atexit, os, sys
from walkshed import settings
from walkshed._background import Background
settings.workers = 2
atexit.register(lambda: open({str(tmp_path)!r} + "/exit-" + str(os.getpid()), "w").close())
try:
    print(Background(lambda t: os.getpid()).result() != os.getpid())
finally:
    open({str(tmp_path)!r} + "/finally-" + str(os.getpid()), "w").close()
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "True"
    names = sorted(p.name.split("-")[0] for p in __import__("pathlib").Path(tmp_path).iterdir())
    assert names == ["exit", "finally"]


@fork_only
def test_the_child_dies_with_a_killed_parent(tmp_path: os.PathLike[str]) -> None:
    """A SIGKILLed run leaves no step running behind it (it would hold the run's pipes and
    could write into a staging folder the next run cleans)."""
    script = """
import os, sys, time
from walkshed import settings
from walkshed._background import Background
settings.workers = 2
def sleep(t):
    time.sleep(60)
job = Background(sleep)
print(job._pid, flush=True)
time.sleep(60)
"""
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    child = int(proc.stdout.readline())
    proc.kill()
    proc.communicate(timeout=30)  # the child held the same stdout: it is gone too
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        os.kill(child, signal.SIGKILL)
        pytest.fail("the child outlived its killed parent")


def test_no_fork_when_children_are_reaped_by_the_system(monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    monkeypatch.setattr(settings, "workers", 2)
    previous = signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    try:
        assert not _background.can_fork()  # waitpid could not get the child's answer
    finally:
        signal.signal(signal.SIGCHLD, previous)


@fork_only
def test_a_childs_error_carries_its_traceback(two_workers: None) -> None:
    with pytest.raises(InputError) as info:
        Background(_fails).result()
    notes = "".join(getattr(info.value, "__notes__", []))
    assert "In a second process" in notes and "_fails" in notes


def test_copies_share_the_one_child(monkeypatch: pytest.MonkeyPatch) -> None:
    import copy

    monkeypatch.setattr(settings, "workers", 1)
    job = Background(_pid_and_square)
    assert copy.copy(job) is job and copy.deepcopy(job) is job


@fork_only
def test_an_ignored_interrupt_stays_ignored_in_the_child(tmp_path: os.PathLike[str]) -> None:
    """A run started with SIGINT ignored (a shell's ``&``) is not stopped by one."""
    script = """
import os, signal, time
from walkshed import settings
from walkshed._background import Background
settings.workers = 2
signal.signal(signal.SIGINT, signal.SIG_IGN)
def step(t):
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(0.2)
    return os.getpid()
job = Background(step)
print(job.forked, job.result() != os.getpid())
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "True"]


def _ready() -> tuple[int, float]:
    return os.getpid(), time.perf_counter()


def _finish(ready: tuple[int, float], sent: list[int]) -> tuple[int, int, int]:
    return ready[0], os.getpid(), sum(sent)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_worker_gets_ready_then_takes_what_is_sent(monkeypatch: pytest.MonkeyPatch,
                                                     workers: int) -> None:
    """The worker prepares before its input exists (in the child, at once); the input (here
    larger than a pipe's buffer, sent while the child may still be preparing) arrives whole;
    with one worker both parts run here when the value is asked for."""
    monkeypatch.setattr(settings, "workers", workers)
    if workers == 2 and not (hasattr(os, "fork") and _background.can_fork()):
        pytest.skip("this test process runs other threads or cannot fork")
    big = list(range(200_000))  # ~1 MB pickled: more than a pipe holds
    job = Background.worker("printing", _ready, _finish)
    assert job.forked == (workers == 2)
    job.send(big)
    with pytest.raises(RuntimeError, match="twice"):
        job.send(big)
    prepared_in, finished_in, total = job.result()
    assert total == sum(big)
    assert prepared_in == finished_in
    assert (prepared_in != os.getpid()) == (workers == 2)
    assert set(job.timings) == {"printing"}


@fork_only
def test_a_worker_sent_nothing_ends(two_workers: None) -> None:
    """Asked for its value without input (the run stopped early), a worker ends with an
    error instead of waiting for ever; closed, it is stopped."""
    job = Background.worker("printing", _ready, _finish)
    with pytest.raises(EOFError, match="sent nothing"):
        job.result()
    other = Background.worker("printing", _ready, _finish)
    pid = other._pid
    other.close()
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _nap(timings: dict[str, float]) -> int:
    time.sleep(0.5)
    return 1


@pytest.mark.parametrize("workers", [1, 2])
def test_done_says_whether_the_value_is_waiting(monkeypatch: pytest.MonkeyPatch,
                                                workers: int) -> None:
    """``done()`` is False while the child works (or before an in-process step ran) and True
    once its answer waits in the pipe; asking for it never changes the value."""
    monkeypatch.setattr(settings, "workers", workers)
    if workers == 2 and not (hasattr(os, "fork") and _background.can_fork()):
        pytest.skip("this test process runs other threads or cannot fork")
    job = Background(_nap)
    assert not job.done()
    if workers == 2:
        deadline = time.monotonic() + 30
        while not job.done() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert job.done()
    assert job.result() == 1
    assert not job.done()


def _broken_prepare() -> None:
    raise InputError("fonts", "no fonts found", "Install DejaVu fonts")


@fork_only
def test_a_worker_that_failed_getting_ready_says_why(two_workers: None) -> None:
    """A worker whose preparation fails ends at once; sending to it later is no error, and its
    value raises the worker's own error (not a broken pipe)."""
    job = Background.worker("printing", _broken_prepare, _finish)
    deadline = time.monotonic() + 30
    while not job.done() and time.monotonic() < deadline:
        time.sleep(0.05)
    job.send(list(range(100)))
    with pytest.raises(InputError, match="no fonts"):
        job.result()


def _ready_at(_: None = None) -> float:
    return time.monotonic()


def _finish_at(ready: float, sent: float) -> tuple[float, float]:
    return ready, sent


@fork_only
def test_a_worker_gets_ready_before_its_input_exists(two_workers: None) -> None:
    """The preparation runs in the child at once, not when the input arrives."""
    job = Background.worker("printing", _ready_at, _finish_at)
    time.sleep(0.5)
    sent = time.monotonic()
    job.send(sent)
    ready, got = job.result()
    assert got == sent and ready < sent - 0.2
