"""numba's on-disk kernel cache: stale entries dropped, and whether a first run must compile.

Both keep a stamp in ``larseg/sim/__pycache__`` keyed on a hash of kernel sources. Importing this
module imports no kernel (the CLI asks :func:`kernels_ready` before it loads the simulator).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

HERE = Path(__file__).parent
CACHE = HERE / "__pycache__"


def sources_digest(files: Iterable[Path], salt: bytes = b"") -> str:
    """sha1 of ``salt`` followed by the files' bytes, in the order given."""
    h = hashlib.sha1(salt)
    for f in files:
        h.update(f.read_bytes())
    return h.hexdigest()


def drop_stale(modules: Iterable[str], stamp_name: str) -> None:
    """numba's cache of a function is keyed on its own file only: after an edit of a callee in
    another module (say tracks.py), the cached event kernel of transport.py would silently run
    the old code. Keep a hash of the modules' sources and drop their cache files when it
    changes."""
    modules = tuple(modules)
    try:
        digest = sources_digest(HERE / f"{m}.py" for m in modules)
        stamp = CACHE / stamp_name
        if stamp.exists() and stamp.read_text() == digest:
            return
        CACHE.mkdir(exist_ok=True)
        for m in modules:
            for f in list(CACHE.glob(f"{m}.*.nbi")) + list(CACHE.glob(f"{m}.*.nbc")):
                f.unlink(missing_ok=True)
        stamp.write_text(digest)
    except OSError:   # read-only install or a concurrent worker: numba's own checks remain
        pass


def _warm_stamp() -> Path:
    """Stamp of this version's kernels (every simulation source + product conversion)."""
    import numba

    files = sorted(HERE.glob("*.py")) + [HERE.parent / "io" / "convert.py"]
    return CACHE / f"kernels_warm.{sources_digest(files, numba.__version__.encode())[:16]}"


def kernels_ready() -> bool:
    """Whether numba's on-disk cache holds this version's kernels (else the first event of a run
    compiles them: about a minute on two cores)."""
    try:
        return _warm_stamp().exists()
    except OSError:
        return False


def mark_kernels_ready() -> None:
    try:
        stamp = _warm_stamp()
        stamp.parent.mkdir(exist_ok=True)
        for old in stamp.parent.glob("kernels_warm.*"):
            old.unlink(missing_ok=True)
        stamp.touch()
    except OSError:  # read-only install: numba cannot cache either, nothing to remember
        pass
