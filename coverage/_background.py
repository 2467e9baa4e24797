"""A step run in a second process while this one goes on (on machines with two cores or more).

A run's steps that do not depend on each other -- siting beside the assessment, the printed
report beside the map and the tables -- overlap: :class:`Background` forks the process (the
child sees every loaded input without copying or pickling it), runs one function there and
sends back its value, its log records and its step timings through a pipe. Where forking is
not possible or not safe, the function runs in this process when its value is asked for, so
the outputs never depend on whether a second process was used:

* :data:`walkshed.settings.workers` is 1 (or the machine has one core);
* the platform has no ``fork`` (Windows);
* this process runs other Python threads (a notebook kernel's, Dask's, a web server's):
  forking a threaded process can deadlock the child.

The child never touches the parent's files besides what the function writes: it leaves with
``os._exit`` (no ``atexit``, no ``finally`` of the parent's frames, no staging-folder
clean-up), dies with the default action on SIGINT and SIGTERM (unless the run was started with
them ignored, as a shell's ``&`` does), and dies with the parent (even a SIGKILLed one); the
parent kills and reaps it when it stops early. SIGINT and SIGTERM wait while the process forks.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import pickle
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from . import settings

T = TypeVar("T")

_log = logging.getLogger("walkshed")


def can_fork() -> bool:
    """Whether :class:`Background` runs its function in a second process."""
    want = settings.workers if settings.workers is not None else (os.cpu_count() or 1)
    return (int(want) > 1 and hasattr(os, "fork") and threading.active_count() == 1
            and threading.current_thread() is threading.main_thread()
            # children reaped by the system (SIGCHLD ignored) could not be waited for
            and signal.getsignal(signal.SIGCHLD) is not signal.SIG_IGN)


def flush_streams() -> None:
    """Flush stdout and stderr where they exist and are open."""
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            with contextlib.suppress(OSError, ValueError, AttributeError):
                stream.flush()


_STOP = (signal.SIGINT, signal.SIGTERM)


class _Collect(logging.Handler):
    """Keeps the child's records to replay them in the parent."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            record.msg, record.args = record.getMessage(), None  # plain text pickles
        except Exception:
            self.handleError(record)
            return
        record.exc_info = record.exc_text = None
        self.records.append(record)


class _Inbox:
    """One value sent from the parent to a child forked before it existed.

    The value is pickled into an anonymous file both processes hold, and its length is written
    to a pipe the child waits on: the parent never waits for the child to read (a pipe's
    buffer would hold only 64 KiB), and the child sees the end of the pipe (no value) when
    the parent closes it without sending.
    """

    def __init__(self) -> None:
        if hasattr(os, "memfd_create"):  # Linux: in memory
            self.box = os.memfd_create("walkshed-inbox", getattr(os, "MFD_CLOEXEC", 0))
        else:
            import tempfile

            with tempfile.TemporaryFile() as f:  # unlinked; lives on in the duplicate
                self.box = os.dup(f.fileno())
        self.read, self.write = os.pipe()

    def send(self, value: Any) -> None:
        """(Parent.) Store ``value`` and tell the child."""
        data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        done = 0
        while done < len(data):
            done += os.pwrite(self.box, memoryview(data)[done:], done)
        with contextlib.suppress(BrokenPipeError):  # the child ended: its error says why
            os.write(self.write, len(data).to_bytes(8, "little"))
        self.close()

    def receive(self) -> Any:
        """(Child.) Wait for the value; EOFError when the parent closed without sending."""
        head = b""
        while len(head) < 8:
            chunk = os.read(self.read, 8 - len(head))
            if not chunk:
                raise EOFError("the parent sent nothing")
            head += chunk
        size, parts, done = int.from_bytes(head, "little"), [], 0
        while done < size:
            chunk = os.pread(self.box, size - done, done)
            if not chunk:
                raise EOFError("the value was cut short")
            parts.append(chunk)
            done += len(chunk)
        return pickle.loads(b"".join(parts))

    def close(self) -> None:
        for name in ("box", "read", "write"):
            fd = getattr(self, name)
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
                setattr(self, name, -1)


class Background(Generic[T]):
    """``fn(timings)`` in a forked child; :meth:`result` waits for its value.

    Parameters
    ----------
    fn
        Called with a dict into which it may put step durations (seconds by step name, as
        :class:`walkshed.pipeline.Reporter` keeps them); its value must pickle. With
        ``inbox``, called as ``fn(timings, receive)``: ``receive()`` waits for the value
        given to :meth:`send` (in the child, it arrives pickled).
    label
        The step's name, for progress.
    logs
        Replay the child's log records here (off: the caller says the same another way).
    inbox
        Whether the parent sends the child one value after the fork (:meth:`send`), so the
        child can get ready (imports, what the inputs alone decide) before the rest of its
        input exists.

    Notes
    -----
    The value, exception or log records of the child reach the parent only through
    :meth:`result`: call it (or :meth:`close`) exactly once. An exception raised by ``fn`` is
    raised again by :meth:`result` with its type and message.
    """

    def __init__(self, fn: Callable[..., T], *, label: str = "",
                 logs: bool = True, inbox: bool = False) -> None:
        self.label = label
        self._logs = logs
        self.timings: dict[str, float] = {}
        self._fn: Callable[[dict[str, float]], T] | None = None
        self._owner = os.getpid()
        self._pid = 0
        self._fd = -1
        self._inbox: _Inbox | None = None
        self._sent: list[Any] = []
        fork = can_fork()
        if inbox:  # in a child, the value comes through the inbox; here, from send()
            if fork:
                self._inbox = _Inbox()
            receive = self._inbox.receive if self._inbox is not None else self._sent_here
            self._fn = lambda timings: fn(timings, receive)
        else:
            self._fn = fn
        if not fork:
            return
        flush_streams()
        run = self._fn
        read, write = os.pipe()
        parent = os.getpid()
        wanted = {sig: signal.getsignal(sig) for sig in _STOP}
        # a Ctrl-C during the fork waits until both sides are ready for it (it would be lost
        # in the interpreter's at-fork hooks, or run the parent's handler in the child)
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP)
        try:
            with warnings.catch_warnings():
                # Python 3.12+ warns about fork whenever the OS counts more than one thread;
                # the only others here are native pools (OpenBLAS, HiGHS), which re-initialise
                # in a forked child (can_fork refuses while Python threads run)
                warnings.filterwarnings("ignore", "This process .* is multi-threaded",
                                        DeprecationWarning)
                pid = os.fork()
            if pid == 0:  # the child: run, send, leave without running anything of the parent's
                os.close(read)
                if self._inbox is not None:
                    os.close(self._inbox.write)
                for sig, was in wanted.items():  # an ignored signal stays ignored
                    signal.signal(sig, signal.SIG_IGN if was is signal.SIG_IGN else signal.SIG_DFL)
                signal.pthread_sigmask(signal.SIG_SETMASK, mask)
                _child(run, write, parent)
        finally:
            if os.getpid() == parent:
                signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        os.close(write)
        if self._inbox is not None:
            os.close(self._inbox.read)
            self._inbox.read = -1
        self._owner, self._pid, self._fd, self._fn = parent, pid, read, None

    @classmethod
    def step(cls, label: str, fn: Callable[[], T], *, logs: bool = True) -> Background[T]:
        """``fn()`` as a step named ``label``, its duration recorded under that name."""
        def timed(timings: dict[str, float]) -> T:
            t0 = time.perf_counter()
            value = fn()
            timings[label] = round(time.perf_counter() - t0, 3)
            return value

        return cls(timed, label=label, logs=logs)

    @classmethod
    def worker(cls, label: str, prepare: Callable[[], Any], finish: Callable[[Any, Any], T],
               *, logs: bool = True) -> Background[T]:
        """``finish(prepare(), sent)`` as a step named ``label``: ``prepare()`` runs at once
        (in the child), ``finish`` once :meth:`send` has given its input. The step's time is
        theirs together, without the wait between them."""
        def work(timings: dict[str, float], receive: Callable[[], Any]) -> T:
            t0 = time.perf_counter()
            ready = prepare()
            spent = time.perf_counter() - t0
            sent = receive()
            t0 = time.perf_counter()
            value = finish(ready, sent)
            timings[label] = round(spent + time.perf_counter() - t0, 3)
            return value

        return cls(work, label=label, logs=logs, inbox=True)

    def send(self, value: Any) -> None:
        """Give the function (built with ``inbox``) its input; once."""
        if self._inbox is not None:
            if self._inbox.write < 0:
                raise RuntimeError("Background.send() called twice")
            self._inbox.send(value)
        elif self._sent:
            raise RuntimeError("Background.send() called twice")
        else:
            self._sent.append(value)

    @property
    def forked(self) -> bool:
        """Whether the function runs in a child process."""
        return self._pid != 0

    def _sent_here(self) -> Any:
        if not self._sent:
            raise RuntimeError("Background: nothing was sent")
        return self._sent[0]

    def done(self) -> bool:
        """Whether :meth:`result` would return without waiting for a child (False when the
        function runs in this process: it has not run yet)."""
        if not self._pid or self._fd < 0:
            return False
        import select

        return bool(select.select([self._fd], [], [], 0)[0])

    def result(self) -> T:
        """The function's value (raising its exception), its log records replayed here."""
        if self._fn is not None:  # not forked: run it now
            fn, self._fn = self._fn, None
            return fn(self.timings)
        if not self._pid:
            raise RuntimeError("Background.result() called twice")
        if self._inbox is not None:  # sent, or never to be: the child is told so and ends
            self._inbox.close()
            self._inbox = None
        chunks = []
        with os.fdopen(self._fd, "rb") as pipe:
            self._fd = -1
            while chunk := pipe.read(1 << 20):
                chunks.append(chunk)
        pid, self._pid = self._pid, 0
        try:
            code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        except ChildProcessError:  # reaped already: its answer, if whole, says how it went
            code = 0
        if code == -signal.SIGINT:
            raise KeyboardInterrupt
        try:
            if code != 0:
                raise ValueError(f"exit {code}")
            kind, value, records, timings = pickle.loads(b"".join(chunks))
        except Exception as exc:  # killed, or stopped while answering
            raise RuntimeError(f"a background step ended without an answer ({exc})") from None
        self.timings.update(timings)
        for record in records if self._logs else ():
            logger = logging.getLogger(record.name)
            if logger.isEnabledFor(record.levelno):
                logger.handle(record)
        if kind == "error":
            raise value
        return value

    def close(self) -> None:
        """Stop the child (if any) without waiting for its value."""
        self._fn = None
        if os.getpid() != self._owner:  # a copy in another process: not its child, nor its fd
            self._pid, self._fd, self._inbox = 0, -1, None
            return
        if self._inbox is not None:
            self._inbox.close()
            self._inbox = None
        if self._pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self._pid, 0)
            self._pid = 0
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __copy__(self) -> Background[T]:  # one child, one pipe: copies share them
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Background[T]:
        return self

    def __del__(self) -> None:  # a run that stopped early leaves no child behind
        with contextlib.suppress(Exception):
            self.close()


def _portable(exc: BaseException) -> BaseException:
    """``exc`` if it survives a pickle round trip, else a RuntimeError with its text; with the
    child's traceback as a note (``--debug`` shows it)."""
    import traceback

    with contextlib.suppress(Exception):
        exc.add_note("In a second process:\n" + "".join(traceback.format_tb(exc.__traceback__)))
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc


def _die_with(parent: int) -> None:
    """End this (child) process as soon as ``parent`` ends, even by SIGKILL."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    else:
        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(0.2)
            os._exit(1)

        threading.Thread(target=watch, daemon=True).start()
    if os.getppid() != parent:  # it ended before the line above
        os._exit(1)


def _child(fn: Callable[[dict[str, float]], Any], fd: int, parent: int) -> None:
    """Run ``fn`` in the forked child and write its outcome to ``fd``; never returns."""
    code = 0
    try:
        _die_with(parent)
        collect = _Collect()
        logger = logging.getLogger("walkshed")
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.addHandler(collect)
        logger.propagate = False
        timings: dict[str, float] = {}
        try:
            out: tuple[Any, ...] = ("value", fn(timings), collect.records, timings)
        except (Exception, KeyboardInterrupt) as exc:  # raised again in the parent
            out = ("error", _portable(exc), collect.records, timings)
        try:
            data = pickle.dumps(out, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # an answer that does not pickle is a bug: say which
            data = pickle.dumps(("error", RuntimeError(f"background step: {exc!r}"),
                                 collect.records, timings))
        with os.fdopen(fd, "wb") as pipe:
            pipe.write(data)
    except BaseException:
        code = 1
    finally:
        os._exit(code)
