"""parse_test_res.py: seed aggregation with warnings, log parsing, and the comparison table."""
import json
import math

import pytest

import parse_test_res as ptr


def _results(path, method, per_domain, seed):
    path.mkdir(parents=True, exist_ok=True)
    flat = {}
    for dom, m in per_domain.items():
        flat.update({f"{dom}/{k}": v for k, v in m.items()})
    (path / "results.json").write_text(json.dumps({"metrics": flat, "per_domain": per_domain, "trainer": method, "seed": seed}))


def test_mean_std_and_missing_unfinished_seeds(tmp_path, capsys):
    d = tmp_path / "exp"
    _results(d / "seed1", "DCAR", {"X": {"i2t_R@1": 10.0}}, 1)
    (d / "seed2").mkdir()
    (d / "seed2" / "log.txt").write_text("Evaluate on the *test* set\n* X/i2t_R@1: 20.00%\n")
    (d / "seed3").mkdir()
    (d / "seed3" / "log.txt").write_text("epoch [1/5] ...\n")  # crashed: no final results
    summary, warnings, runs = ptr.parse_directory(str(d), [1, 2, 3, 4], ci95=False)
    assert list(runs) == ["seed1", "seed2"]
    assert summary["X/i2t_R@1"] == pytest.approx((15.0, 5.0))
    assert any("seed3 is unfinished" in w for w in warnings) and any("seed4 is missing" in w for w in warnings)
    mean, ci = ptr.parse_directory(str(d), [1, 2], ci95=True)[0]["X/i2t_R@1"]
    assert ci == pytest.approx(1.96 * 5.0 / math.sqrt(2))
    assert ptr.main([str(d)]) == 0
    out = capsys.readouterr().out
    assert "* X/i2t_R@1: 15.00% +- 5.00% (std)" in out and "WARNING: seed3 is unfinished" in out


def test_log_uses_last_test_evaluation_only(tmp_path):
    run = tmp_path / "seed1"
    run.mkdir()
    (run / "log.txt").write_text(
        "Evaluate on the *test* set\n* i2t_R@1: 1.00%\nFinish training\n"
        "Evaluate on the *test* set\n* i2t_R@1: 2.50%\n* i2t_medr: 3\n"
    )
    assert ptr.read_run(str(run)) == {"i2t_R@1": 2.5, "i2t_medr": 3.0}


def test_nothing_found_is_an_error(tmp_path, capsys):
    assert ptr.main([str(tmp_path)]) == 1
    assert "Nothing found" in capsys.readouterr().out


def test_table_layout_with_avg_row(tmp_path):
    for seed, bump in ((1, 0.0), (2, 2.0)):
        _results(tmp_path / "A" / "DCAR" / f"seed{seed}", "DCAR",
                 {"Caltech101": {"i2t_R@1": 40 + bump, "t2i_R@1": 30.0}, "DTD": {"i2t_R@1": 20.0, "t2i_R@1": 10.0}}, seed)
    _results(tmp_path / "A" / "ZS" / "seed1", "ZeroshotCLIP", {"Caltech101": {"i2t_R@1": 35.0, "t2i_R@1": 25.0}}, 1)
    assert ptr.main(["--table", str(tmp_path), "--ks", "1"]) == 0
    lines = (tmp_path / "table.md").read_text().splitlines()
    assert [c.strip() for c in lines[0].split("|")[1:-1]] == ["domain", "K", "i2t ZeroshotCLIP", "i2t DCAR",
                                                              "t2i ZeroshotCLIP", "t2i DCAR"]
    rows = [[c.strip() for c in line.split("|")[1:-1]] for line in lines[2:]]
    assert rows[0] == ["Caltech101", "1", "35.00", "41.00", "25.00", "30.00"]
    assert rows[1] == ["DTD", "1", "-", "20.00", "-", "10.00"]
    assert rows[2] == ["AVG", "1", "-", "30.50", "-", "20.00"]  # ZS lacks DTD: no average
    assert (tmp_path / "table.csv").read_text().startswith("domain,K,")
