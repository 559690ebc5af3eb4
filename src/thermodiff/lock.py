"""The lock of a run directory: one training process at a time.

``DIR/train.lock`` says who trains the run (process id, host, when). It is held with ``flock``,
which the kernel releases when the process ends however it ends, and checked by what it says,
for file systems whose ``flock`` does not reach every process: a holder on this host is alive
if its process id runs (with the same start time, so a reused id does not count); a holder on
another host is alive while it keeps touching the file (every HEARTBEAT seconds). A second
process is refused with one clear message while the holder lives; the lock of a holder that is
gone is taken over, with a warning. Within one process the lock is re-entrant; under torchrun
only the main process takes it.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import threading
import time
import warnings
from pathlib import Path

from .disk import process_alive
from .errors import CheckpointError, ThermodiffWarning

LOCK_NAME = "train.lock"
HEARTBEAT = 30.0  # seconds between touches of the lock file
STALE_AFTER = 4 * HEARTBEAT  # a holder on another host that has not touched it for this long is gone

_held: dict[str, "RunLock"] = {}  # this process's locks, by the real path of their directory


def process_start(pid: int) -> str | None:
    """The start time of process ``pid`` (clock ticks since boot; Linux), to tell a reused id apart."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[19]
    except (OSError, IndexError):
        return None


def _me() -> dict:
    return {"pid": os.getpid(), "host": socket.gethostname(), "start": process_start(os.getpid()),
            "since": time.strftime("%Y-%m-%d %H:%M:%S")}


def _alive(holder: dict, age: float) -> bool:
    """Whether the process that wrote ``holder`` (a lock file last touched ``age`` seconds ago) still runs."""
    if holder.get("host") != socket.gethostname():
        return age < STALE_AFTER
    pid = holder.get("pid")
    if not isinstance(pid, int) or pid == os.getpid() or not process_alive(pid):
        return False
    return holder.get("start") is None or process_start(pid) in (None, holder.get("start"))


def _describe(holder: dict) -> str:
    return f"pid {holder.get('pid')} on {holder.get('host')}, since {holder.get('since')}"


class RunLock:
    """``with RunLock(run_dir):`` -- train ``run_dir`` alone (see the module doc)."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.path = self.directory / LOCK_NAME
        self.key = os.path.realpath(self.directory)
        self.count = 0
        self.fd: int | None = None
        self._stop = threading.Event()

    def __enter__(self) -> "RunLock":
        held = _held.get(self.key)
        if held is not None:
            held.count += 1
            return held
        self._acquire()
        self.count = 1
        _held[self.key] = self
        return self

    def __exit__(self, *exc) -> None:
        held = _held[self.key]
        held.count -= 1
        if held.count == 0:
            del _held[self.key]
            held._release()

    def _acquire(self) -> None:
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            except OSError as err:
                raise CheckpointError(f"cannot train {self.directory}: cannot write its lock file "
                                      f"({err.strerror or err})") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder, _ = self._read(fd)
                os.close(fd)
                raise self._refusal(holder) from None
            if os.path.exists(self.path) and os.fstat(fd).st_ino == os.stat(self.path).st_ino:
                break
            os.close(fd)  # the holder removed the file as we opened it: try the new one
        holder, age = self._read(fd)
        if holder and _alive(holder, age):
            os.close(fd)
            raise self._refusal(holder)
        if holder:
            warnings.warn(ThermodiffWarning(f"took over the lock of {self.directory} from {_describe(holder)}, "
                                            "which no longer runs"), stacklevel=3)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(_me()).encode(), 0)
        os.fsync(fd)
        self.fd = fd
        threading.Thread(target=self._heartbeat, name="thermodiff-lock", daemon=True).start()

    def _refusal(self, holder: dict) -> CheckpointError:
        who = _describe(holder) if holder else "another process"
        return CheckpointError(f"{self.directory} is being trained by another process ({who}); wait for it to "
                               f"finish or stop it (a lock whose process is gone is taken over: {self.path})")

    @staticmethod
    def _read(fd: int) -> tuple[dict, float]:
        try:
            text = os.pread(fd, 4096, 0).decode()
            holder = json.loads(text) if text.strip() else {}
        except (OSError, ValueError):  # cut short by a crash while its holder wrote it: nobody's
            holder = {}
        age = time.time() - os.fstat(fd).st_mtime
        return (holder if isinstance(holder, dict) else {}), age

    def _heartbeat(self) -> None:
        while not self._stop.wait(HEARTBEAT):
            try:
                os.utime(self.path)
            except OSError:
                pass

    def _release(self) -> None:
        self._stop.set()
        try:
            if os.path.exists(self.path) and os.fstat(self.fd).st_ino == os.stat(self.path).st_ino:
                os.unlink(self.path)
        except OSError:
            pass
        finally:
            os.close(self.fd)
            self.fd = None
