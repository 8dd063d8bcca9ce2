"""engine.locking: a live holder is named (refuse) or waited for; a dead holder's lock is taken over."""
import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from engine.locking import LockedError, acquire, locked, release

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOLD = ("import sys, time; sys.path.insert(0, {root!r}); from engine.locking import acquire; "
        "acquire({path!r}, 'holding for a test', wait=False); print('held', flush=True); time.sleep(60)")


@pytest.fixture
def holder(tmp_path):
    """A live process holding the lock at tmp_path/x.lock."""
    path = str(tmp_path / "x.lock")
    proc = subprocess.Popen([sys.executable, "-c", HOLD.format(root=ROOT, path=path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    yield path, proc
    proc.kill()
    proc.wait()


def test_live_holder_is_named_when_refusing(holder):
    path, proc = holder
    with pytest.raises(LockedError, match=rf"held by process {proc.pid} on host .*holding for a test.*Use another"):
        acquire(path, "second", wait=False, how_to="Use another folder.")


def test_waiting_caller_proceeds_once_the_holder_is_gone(holder, capsys):
    path, proc = holder
    threading.Timer(1.0, proc.kill).start()  # not reaped: a zombie counts as dead
    start = time.time()
    acquire(path, "second", wait=True, poll_s=0.2)
    assert time.time() - start >= 0.9
    assert json.load(open(path))["pid"] == os.getpid()
    out = capsys.readouterr().out
    assert f"Waiting for process {proc.pid}" in out and "Taking over the stale lock" in out
    release(path)
    assert not os.path.exists(path)


def test_dead_holder_is_taken_over_and_release_is_owner_only(tmp_path, capsys):
    path = tmp_path / "y.lock"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    path.write_text(json.dumps({"pid": int(dead.stdout), "host": socket.gethostname(), "started": 0, "what": "old"}))
    with locked(str(path), "new", wait=False):
        assert json.loads(path.read_text())["what"] == "new"
        assert "Taking over the stale lock" in capsys.readouterr().out
    assert not path.exists()
    path.write_text(json.dumps({"pid": 1, "host": "another-host", "started": 0, "what": "elsewhere"}))
    with pytest.raises(LockedError, match="another-host"):  # cannot be checked: treated as live
        acquire(str(path), "new", wait=False)
    release(str(path))  # not ours: left alone
    assert path.exists()
