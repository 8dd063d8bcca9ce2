"""engine/fixes/logger.py: log.txt is the current attempt's log."""
import os
import sys
import time

from engine.fixes import logger


def test_log_txt_is_the_current_attempt_and_earlier_ones_keep_their_time(tmp_path):
    (tmp_path / "log.txt").write_text("attempt 1, killed\n")
    stamp = time.mktime((2026, 1, 2, 3, 4, 5, 0, 0, -1))
    os.utime(tmp_path / "log.txt", (stamp, stamp))
    console = sys.stdout
    try:
        assert logger.setup_logger(str(tmp_path)) == str(tmp_path / "log.txt")
        print("attempt 2")
        sys.stdout.close()
    finally:
        sys.stdout = console
    assert (tmp_path / "log.txt").read_text() == "attempt 2\n"
    assert (tmp_path / "log.txt-2026-01-02-03-04-05").read_text() == "attempt 1, killed\n"
