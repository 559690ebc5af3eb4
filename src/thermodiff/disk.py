"""Files on disk: written whole or not at all, durable, and readable as the user's umask says.

A write goes to ``.NAME.tmp-PID`` in the same folder, is flushed to the disk, takes the
permissions that a plain ``open()`` would give (0666 less the umask: some writers, safetensors
among them, create their files 0600), and replaces the old file by a rename; the folder is then
flushed too, so that the rename itself survives a crash. A process killed mid-write leaves its
temporary behind: ``remove_stale_temporaries`` deletes those whose process is gone.

Failures of the file system (a read-only folder, a full disk) become one CheckpointError that
names the file, not a traceback.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from .errors import CheckpointError

TEMPORARY = ".tmp-"  # .NAME.tmp-PID


def umask() -> int:
    """The process's umask (read from /proc where it can be, without changing it)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def follow_umask(path: Path, directory: bool = False) -> None:
    """Give ``path`` the permissions a new file (0666) or folder (0777) gets under the umask."""
    os.chmod(path, (0o777 if directory else 0o666) & ~umask())


def fsync_directory(path: Path) -> None:
    """Flush a folder's entries (a rename in it) to the disk; a no-op where folders cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def temporary_path(path: Path) -> Path:
    return path.with_name(f".{path.name}{TEMPORARY}{os.getpid()}")


def cannot_write(path: Path, err: OSError) -> CheckpointError:
    return CheckpointError(f"cannot write {path}: {err.strerror or err}")


def atomic_write(path: Path, write: Callable[[Path], None], previous: Path | None = None) -> None:
    """``write(tmp)`` writes the new file; it then replaces ``path`` in one step. ``previous``:
    keep the file it replaces under that name (a hard link, so ``path`` never goes missing)."""
    path = Path(path)
    tmp = temporary_path(path)
    try:
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        follow_umask(tmp)
        if previous is not None and path.exists():
            _keep_previous(path, previous)
        os.replace(tmp, path)
    except OSError as err:
        raise cannot_write(path, err) from None
    finally:
        if tmp.exists():
            tmp.unlink()
    fsync_directory(path.parent)


def _keep_previous(path: Path, previous: Path) -> None:
    link = temporary_path(previous)
    try:
        os.link(path, link)
        os.replace(link, previous)
    except OSError:  # no hard links here: a copy does the same, more slowly
        if link.exists():
            link.unlink()
        shutil.copyfile(path, link)
        os.replace(link, previous)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_save_npy(path: Path, array: np.ndarray) -> None:
    """An array as a .npy file (written through a handle: np.save would add a suffix to the temporary)."""
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            np.save(handle, array, allow_pickle=False)

    atomic_write(path, write)


def atomic_save_chunks(path: Path, shape: tuple[int, ...], dtype: np.dtype, chunks: Iterable[np.ndarray]) -> None:
    """A .npy file of ``shape`` and ``dtype`` written a chunk of rows at a time (what np.save writes)."""
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": shape}
            np.lib.format.write_array_header_1_0(handle, header)
            for chunk in chunks:
                handle.write(np.ascontiguousarray(chunk, dtype=dtype).tobytes())

    atomic_write(path, write)


def process_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def remove_stale_temporaries(folder: Path, prefix: str = ".") -> list[Path]:
    """Delete ``.NAME.tmp-PID`` files (and folders) in ``folder`` whose process no longer runs;
    returns what was deleted. Failures (a read-only folder) are left for the writer to report."""
    removed = []
    try:
        entries = list(Path(folder).glob(f"{prefix}*{TEMPORARY}*"))
    except OSError:
        return removed
    for entry in entries:
        pid = entry.name.rpartition(TEMPORARY)[2]
        if not pid.isdigit() or int(pid) == os.getpid() or process_alive(int(pid)):
            continue
        try:
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
            removed.append(entry)
        except OSError:
            pass
    return removed
