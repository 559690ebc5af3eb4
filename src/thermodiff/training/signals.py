"""Stopping cleanly on SIGTERM and SIGINT: what schedulers send before they preempt a job, and Ctrl-C.

While training, either signal is only noted; the loop finishes the step it is in, writes the
checkpoint and stops (under torchrun every process stops at the same step: the loop agrees on it,
as on the time limit). A second signal stops at once: the step may be torn, so nothing is
written and the last checkpoint stands. Outside training the handlers that were there before
are back in place.
"""

from __future__ import annotations

import signal
import threading

SIGNALS = (signal.SIGTERM, signal.SIGINT)
_active: "StopSignals | None" = None  # the instance whose handlers are installed


class StopSignals:
    """A context in which SIGTERM and SIGINT note ``received`` (the signal's number) instead of stopping.

    Contexts nest: an inner one shares the outer one's state (the command line opens one before it
    loads the data, so that a signal that early stops training at its first step). ``release``
    puts the previous handlers back, whichever context is open: the loop calls it when it ends.
    """

    def __init__(self):
        self._received: int | None = None
        self._previous: dict[int, object] = {}
        self._outer: StopSignals | None = None

    @property
    def received(self) -> int | None:
        return self._outer.received if self._outer is not None else self._received

    def __enter__(self) -> "StopSignals":
        global _active
        if _active is not None:
            self._outer = _active
        elif threading.current_thread() is threading.main_thread():  # handlers can only be set there
            for sig in SIGNALS:
                self._previous[sig] = signal.signal(sig, self._note)
            _active = self
        return self

    def __exit__(self, *exc) -> None:
        if self._outer is None:
            release()

    def _note(self, signum: int, frame) -> None:
        if self._received is not None:  # the second one: stop now
            release()
            raise KeyboardInterrupt
        self._received = signum


def release() -> None:
    """Put back the handlers that were there before the outermost context."""
    global _active
    if _active is not None:
        for sig, handler in _active._previous.items():
            signal.signal(sig, handler)
        _active._previous, _active = {}, None


def name(signum: int | None) -> str:
    return signal.Signals(signum).name if signum else "an interrupt"
