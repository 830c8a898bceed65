"""Writing HDF5 files that survive a full disk: reserve space first, freeze after a failure.

The default HDF5 driver ("sec2") writes through one POSIX file descriptor. A commit reserves the
space it needs with ``posix_fallocate`` before writing anything (:func:`reserve_space`), so that a
full disk, a quota or a file-size limit fails before any byte of the commit is written, and gives
back what it did not use afterwards (:func:`release_space`). If a write fails anyway,
:func:`freeze` points the descriptor at /dev/null so that HDF5 cannot write half-updated metadata
over the last commit when the file is closed (it would leave a file HDF5 cannot open).
"""

from __future__ import annotations

import os

import h5py


def io_reason(e: OSError) -> str:
    """One line for an I/O error (HDF5's messages span lines and list buffer addresses)."""
    if e.errno:
        return f"{os.strerror(e.errno)}, errno {e.errno}"
    return str(e).splitlines()[0] if str(e) else type(e).__name__


def file_descriptor(h5: h5py.File) -> int | None:
    try:
        return int(h5.id.get_vfd_handle())
    except Exception:  # noqa: BLE001 - another HDF5 driver: no reservation, no freeze
        return None


def reserve_space(h5: h5py.File, nbytes: int) -> None:
    """Allocate ``nbytes`` beyond HDF5's end of file (OSError when there is no room)."""
    fd = file_descriptor(h5)
    if fd is not None and hasattr(os, "posix_fallocate"):
        os.posix_fallocate(fd, h5.id.get_filesize(), nbytes)


def release_space(h5: h5py.File) -> None:
    """Give back what a reservation did not use (HDF5 itself never trims a file it thinks is
    already its size)."""
    fd = file_descriptor(h5)
    if fd is not None:
        os.ftruncate(fd, h5.id.get_filesize())


def freeze(h5: h5py.File) -> None:
    """After a failed write: no byte more reaches the file. HDF5 would otherwise write its
    half-updated metadata when the file is closed, over the last commit's. The descriptor is
    pointed at /dev/null (read-only), so every later write fails and is dropped."""
    fd = file_descriptor(h5)
    if fd is not None:
        null = os.open(os.devnull, os.O_RDONLY)
        try:
            os.dup2(null, fd)
        finally:
            os.close(null)


def close_quietly(h5: h5py.File) -> None:
    """Close after a failure: an error while closing (disk full again) changes nothing, the
    last commit is what a resume finds."""
    try:
        h5.close()
    except Exception:  # noqa: BLE001
        pass
