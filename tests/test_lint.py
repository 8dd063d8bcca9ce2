"""The linter (ruff, configured in pyproject.toml) passes on the whole repository."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_ruff_passes():
    res = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", ROOT], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert "No module named ruff" not in res.stderr, "ruff is missing: pip install -r requirements-dev.txt"
    assert res.returncode == 0, res.stdout + res.stderr
