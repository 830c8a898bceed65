"""A real ``larseg simulate -j 2`` interrupted by real signals, a full disk, other jobs' files.

Every case goes through the installed console script in a subprocess, as a user's shell runs it,
and the resumed file is compared dataset by dataset with one written without interruption.
benchmarks/stress_interrupt.py repeats the interruptions at many random moments.
"""

from __future__ import annotations

import resource
import signal
import time

import h5py
import pytest

from larseg.io import partial_path
from tests.interrupting import (committed_events, larseg, same_file, signal_group, start,
                                wait_for_commits)

JOB = ["simulate", "-d", "microboone", "-g", "bomb", "-n", "32", "--seed", "3", "-j", "2", "-q"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The job run once without interruption."""
    path = tmp_path_factory.mktemp("ref") / "ref.h5"
    done = larseg(*JOB, "-o", str(path))
    assert done.returncode == 0, done.stderr
    return path


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_cleanly_and_the_rerun_resumes_to_the_same_file(tmp_path, reference, sig):
    out = tmp_path / "run.h5"
    proc = start(*JOB, "-o", str(out))
    wait_for_commits(proc, partial_path(out), 8)
    t0 = time.monotonic()
    signal_group(proc, sig)
    _, err = proc.communicate(timeout=60)
    assert time.monotonic() - t0 < 10, "the first signal must stop the job within seconds"
    assert proc.returncode == 128 + sig, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    name = signal.Signals(sig).name
    assert lines[-1].startswith(f"interrupted ({name}): ") and lines[-1].endswith(
        f"events kept in {partial_path(out)}; run the same command to resume"), err
    kept = int(lines[-1].split(": ")[1].split()[0])
    assert 8 <= kept < 32 and committed_events(partial_path(out)) == kept
    assert not out.exists()

    again = larseg(*JOB, "-o", str(out))
    assert again.returncode == 0, again.stderr
    assert f"resuming an interrupted run: {kept} events kept" in again.stderr
    assert same_file(out, reference) is None, same_file(out, reference)
    assert not partial_path(out).exists()


def test_sigkill_at_a_commit_boundary_resumes_to_the_same_file(tmp_path, reference):
    out = tmp_path / "run.h5"
    proc = start(*JOB, "-o", str(out))
    wait_for_commits(proc, partial_path(out), 8)
    signal_group(proc, signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    again = larseg(*JOB, "-o", str(out))
    assert again.returncode == 0, again.stderr
    assert same_file(out, reference) is None, same_file(out, reference)


def test_full_disk_fails_with_one_line_and_the_job_resumes(tmp_path, reference):
    """A file-size limit makes writes fail as a full disk does (EFBIG; Python ignores SIGXFSZ)."""
    out = tmp_path / "run.h5"
    # a commit reserves the bytes of its rows before deflate (~3x what it writes): with the
    # size of the whole file as the limit the first commit fits and a later one does not
    limit = reference.stat().st_size

    def small_disk() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    failed = larseg(*JOB, "-o", str(out), preexec_fn=small_disk)
    assert failed.returncode == 1, failed.stderr
    lines = [ln for ln in failed.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: file {partial_path(out)}: writing "
                                                   "failed"), failed.stderr
    kept = committed_events(partial_path(out))
    assert 0 < kept < 32
    again = larseg(*JOB, "-o", str(out))
    assert again.returncode == 0, again.stderr
    assert same_file(out, reference) is None, same_file(out, reference)


def test_resume_with_other_settings_is_refused(tmp_path):
    out = tmp_path / "mix.h5"
    first = larseg("simulate", "-g", "cosmics", "-n", "2", "--seed", "7", "-o", str(out), "-q")
    assert first.returncode == 0, first.stderr
    before = out.read_bytes()
    other = larseg("simulate", "-d", "sbnd", "-g", "neutrino", "-n", "3", "--seed", "99",
                   "-o", str(out), "-q")
    assert other.returncode == 1
    assert "detector is 'microboone' there, 'sbnd' here" in other.stderr, other.stderr
    assert "--overwrite" in other.stderr
    assert out.read_bytes() == before
    seed = larseg("simulate", "-g", "cosmics", "-n", "3", "--seed", "8", "-o", str(out), "-q")
    assert seed.returncode == 1 and "seed is 7 there, 8 here" in seed.stderr, seed.stderr
    fresh = larseg("simulate", "-d", "sbnd", "-g", "neutrino", "-n", "3", "--seed", "99",
                   "-o", str(out), "-q", "--overwrite")
    assert fresh.returncode == 0, fresh.stderr
    with h5py.File(out) as f:
        assert f["Events/event_id"].shape == (3,) and "sparse2d_sbndwire_group" in f["Data"]
        assert "sparse2d_wire_group" not in f["Data"]


def test_a_file_larseg_did_not_write_is_never_replaced(tmp_path):
    text = tmp_path / "y.h5"
    text.write_text("my notes\n")
    refused = larseg("simulate", "-n", "2", "-o", str(text), "-q")
    assert refused.returncode == 1
    assert f"file {text} exists and is not an HDF5 file" in refused.stderr, refused.stderr
    assert "Warning" not in refused.stderr
    assert text.read_text() == "my notes\n" and not partial_path(text).exists()

    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = [1, 2, 3]
    refused = larseg("simulate", "-n", "2", "-o", str(foreign), "-q")
    assert refused.returncode == 1 and "no job record" in refused.stderr, refused.stderr
    with h5py.File(foreign) as f:
        assert list(f) == ["x"]


def test_a_directory_as_output_is_one_clear_line(tmp_path):
    done = larseg("simulate", "-n", "2", "-o", str(tmp_path), "-q")
    assert done.returncode == 1
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert lines == [f"error: {tmp_path} is a directory; give -o a file name, e.g. "
                     f"{tmp_path / 'events.h5'}"], done.stderr


def test_a_damaged_header_is_reported_with_the_file_name(tmp_path, simulated_files):
    damaged = tmp_path / "damaged.h5"
    raw = bytearray(simulated_files["microboone"].read_bytes())
    at = raw.find(b"SNOD")  # a group's symbol-table node
    assert at > 0
    raw[at:at + 4] = b"XXXX"
    damaged.write_bytes(bytes(raw))
    done = larseg("info", str(damaged))
    assert done.returncode == 1
    assert done.stderr.startswith(f"error: file {damaged}"), done.stderr
    assert "RuntimeError" not in done.stderr
