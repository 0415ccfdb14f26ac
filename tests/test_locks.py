"""util/locks.py and its users: one process at a time into a run directory, a store, a tag output.

The holders here are real other processes (flock is per open file), except where threads are the
point: a waiter that wakes on a lock file its holder has just removed must lock the new one."""

import os
import subprocess
import sys
import threading
import time

import pytest

from munchables.cli import main
from munchables.errors import UserError
from munchables.util import locks

HOLD = """
import sys, time
from munchables.util import locks
with locks.refusing(sys.argv[1], lambda pid: "busy " + pid):
    print("held", flush=True)
    sys.stdin.readline()
"""


class Holder:
    """Another process holding the lock file `path` until `release()`."""

    def __init__(self, path):
        self.proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "held"
        self.pid = self.proc.pid

    def release(self):
        self.proc.communicate("\n", timeout=30)
        assert self.proc.returncode == 0

    def kill(self):
        self.proc.kill()
        self.proc.wait()


def test_a_held_lock_is_refused_with_its_pid_and_free_once_released(tmp_path):
    path = tmp_path / "x.lock"
    holder = Holder(path)
    try:
        assert locks.holder(path) == str(holder.pid)
        with pytest.raises(UserError, match=f"^busy {holder.pid}$"):
            with locks.refusing(path, lambda pid: f"busy {pid}"):
                pass
    finally:
        holder.release()
    assert not path.exists() and locks.holder(path) is None  # removed on release
    with locks.refusing(path, lambda pid: "never"):
        assert locks.holder(path) == str(os.getpid())
    assert not path.exists()


def test_a_killed_holder_leaves_no_lock_behind(tmp_path):
    path = tmp_path / "x.lock"
    holder = Holder(path)
    holder.kill()  # no clean-up ran: the file stays, the lock went with the process
    assert path.exists() and locks.holder(path) is None
    with locks.refusing(path, lambda pid: "stale lock honoured"):
        pass


def test_a_waiter_woken_by_a_removed_lock_file_locks_the_new_one(tmp_path):
    """A holds; B waits on the same file; A removes the file and releases. B must then hold the
    lock of the file at the path, so that C is refused while B holds it."""
    path = tmp_path / "x.lock"
    order, b_holds, b_may_go = [], threading.Event(), threading.Event()

    def b():
        with locks.waiting(path, lambda: order.append("b waits")):
            order.append("b holds")
            b_holds.set()
            b_may_go.wait(30)

    with locks.waiting(path):
        thread = threading.Thread(target=b)
        thread.start()
        for _ in range(200):
            if order:
                break
            time.sleep(0.01)
        assert order == ["b waits"]
    assert b_holds.wait(30)
    with pytest.raises(UserError, match="^refused$"):
        with locks.refusing(path, lambda pid: "refused"):
            pass
    b_may_go.set()
    thread.join(30)
    assert order == ["b waits", "b holds"] and not path.exists()


@pytest.fixture
def model_dir(three_head_tagger, tmp_path):
    return three_head_tagger.save(tmp_path / "model").parent


def _docs(path):
    path.write_text("1|t|Aspirin and fever\n1|a|No asthma was seen after caffeine .\n\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("fmt", ["pubtator", "brat"])
def test_a_second_munch_tag_into_the_same_output_stops_and_touches_nothing(model_dir, tmp_path, capsys, fmt):
    docs, out = _docs(tmp_path / "in.pubtator"), tmp_path / ("out" if fmt == "brat" else "out.pubtator")
    args = ["-q", "tag", "--model", str(model_dir), "--input", str(docs), "--format", fmt, "--out", str(out)]
    assert main(args) == 0
    before = sorted((p.relative_to(tmp_path), p.read_bytes()) for p in tmp_path.rglob("*") if p.is_file()
                    and "model" not in p.parts)
    holder = Holder(tmp_path / (out.name + ".munch.lock"))  # what a first munch tag holds while it writes
    try:
        for extra in (["--overwrite"], ["--resume"]):
            assert main(args + extra) == 2
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and f"is being written by another munch tag (pid {holder.pid})" in err
            after = sorted((p.relative_to(tmp_path), p.read_bytes()) for p in tmp_path.rglob("*") if p.is_file()
                           and "model" not in p.parts and not p.name.endswith(".munch.lock"))
            assert after == before
    finally:
        holder.release()
    assert main(args + ["--overwrite"]) == 0  # free again
    assert not (tmp_path / (out.name + ".munch.lock")).exists()


def test_a_second_munch_tag_into_the_same_out_dir_stops(model_dir, tmp_path, capsys):
    folder, out = tmp_path / "in", tmp_path / "tagged"
    folder.mkdir()
    out.mkdir()
    _docs(folder / "a.pubtator")
    args = ["-q", "tag", "--model", str(model_dir), "--input", str(folder), "--format", "pubtator",
            "--out-dir", str(out)]
    holder = Holder(out / ".munch.lock")
    try:
        assert main(args) == 2
        assert f"--out-dir {out} is being written by another munch tag (pid {holder.pid})" in capsys.readouterr().err
        assert sorted(p.name for p in out.iterdir()) == [".munch.lock"]
    finally:
        holder.release()
    assert main(args) == 0 and (out / "a.pubtator").exists() and not (out / ".munch.lock").exists()


def test_munch_tag_into_a_read_only_folder(model_dir, tmp_path, capsys):
    """No place for the lock is the same one line as no place for the output; a device (a pipe,
    /dev/stdout: the next test) is written without a lock, as before."""
    docs = _docs(tmp_path / "in.pubtator")
    locked = tmp_path / "ro"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as a user who can write anywhere (root)")
        assert main(["-q", "tag", "--model", str(model_dir), "--input", str(docs), "--out", str(locked / "o.txt")]) == 2
        assert "cannot write there" in capsys.readouterr().err
    finally:
        locked.chmod(0o755)


def test_munch_tag_into_a_pipe_takes_no_lock(model_dir, tmp_path):
    """A named pipe (like /dev/stdout) is no file to protect and has no place beside it for a lock:
    it is written unlocked, whole."""
    docs = _docs(tmp_path / "in.pubtator")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(open(fifo, "rb").read()))
    reader.start()
    assert main(["-q", "tag", "--model", str(model_dir), "--input", str(docs), "--format", "pubtator",
                 "--out", str(fifo)]) == 0
    reader.join(30)
    assert got and got[0].startswith(b"1|t|Aspirin and fever")
    assert not list(tmp_path.glob("*.munch.lock"))
