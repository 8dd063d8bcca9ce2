"""parse_test_res.py: seed aggregation with warnings, log parsing, grouping by run identity,
t intervals, and the comparison table."""
import json
import os
import subprocess
import sys

import pytest
import yaml

import parse_test_res as ptr
from reporting.identity import flatten

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _config(trainer="DCAR", shots=16, seed=1, lr=0.002, domains=("all",), weights="ab12", source="anywhere"):
    return {"TRAINER": {"NAME": trainer}, "DATASET": {"NAME": "FDRDSynth", "NUM_SHOTS": shots,
                                                      "FDRD": {"DOMAINS": list(domains)}},
            "SEED": seed, "OPTIM": {"LR": lr}, "OUTPUT_DIR": "anywhere",
            "MODEL": {"BACKBONE": {"NAME": "ViT-B/16", "SHA256": weights, "SOURCE": source}}}


def _results(path, per_domain, **config):
    """A run folder as train.py leaves it: config.yaml and results.json (with the flattened config)."""
    path.mkdir(parents=True, exist_ok=True)
    cfg = _config(**config)
    (path / "config.yaml").write_text(yaml.safe_dump(cfg))
    flat = {}
    for dom, m in per_domain.items():
        flat.update({f"{dom}/{k}": v for k, v in m.items()})
    if len(per_domain) == 1:
        flat.update(next(iter(per_domain.values())))
    (path / "results.json").write_text(json.dumps({
        "metrics": flat, "per_domain": per_domain, "trainer": cfg["TRAINER"]["NAME"], "seed": cfg["SEED"],
        "config": flatten(cfg), "eval_only": False}))


def _one_setting(directory, seeds, ci95=False):
    """(summary, warnings, seed dir -> metrics) of the runs of ``directory``, which must hold one setting."""
    groups, warnings = ptr.parse_groups(str(directory), seeds)
    (runs,) = groups.values()
    summary, more = ptr.summarize_runs(runs, ci95)
    return summary, warnings + more, {os.path.basename(r.path): r.metrics for r in runs}


def test_mean_std_and_missing_unfinished_seeds(tmp_path, capsys):
    d = tmp_path / "exp"
    _results(d / "seed1", {"X": {"i2t_R@1": 10.0, "rsum": 400.0}}, seed=1)
    (d / "seed2").mkdir()
    (d / "seed2" / "config.yaml").write_text(yaml.safe_dump(_config(seed=2)))
    (d / "seed2" / "log.txt").write_text("Evaluate on the *test* set\n* i2t_R@1: 20.00%\n* rsum: 410.00\n"
                                         "Results written to seed2/results.json\n")  # results.json lost since
    (d / "seed3").mkdir()
    (d / "seed3" / "log.txt").write_text("epoch [1/5] ...\n")  # crashed: no final results
    summary, warnings, runs = _one_setting(d, [1, 2, 3, 4])
    assert list(runs) == ["seed1", "seed2"]
    assert summary["i2t_R@1"] == pytest.approx((15.0, 5.0))
    assert any("seed3 is unfinished" in w for w in warnings) and any("seed4 is missing" in w for w in warnings)
    assert ptr.main([str(d)]) == 0
    out = capsys.readouterr().out
    assert "* i2t_R@1: 15.00% +- 5.00% (std)" in out and "WARNING: seed3 is unfinished" in out
    assert "* rsum: 405.00 +- 5.00 (std)" in out  # a sum of recalls, not a percentage


def test_ci95_is_a_t_interval(tmp_path):
    d = tmp_path / "exp"
    for seed, v in ((1, 10.0), (2, 20.0), (3, 30.0)):
        _results(d / f"seed{seed}", {"X": {"i2t_R@1": v}}, seed=seed)
    mean, half = _one_setting(d, [1, 2, 3], ci95=True)[0]["i2t_R@1"]
    assert mean == 20.0 and half == pytest.approx(4.302653 * 10.0 / 3 ** 0.5, rel=1e-6)  # t(0.975, 2) s / sqrt(n)


def test_directory_mixing_settings_is_not_averaged(tmp_path, capsys):
    d = tmp_path / "exp"
    _results(d / "seed1", {"X": {"i2t_R@1": 10.0}}, seed=1)
    _results(d / "seed2", {"X": {"i2t_R@1": 30.0}}, seed=2, lr=0.01)  # rerun into the folder with another LR
    groups, _ = ptr.parse_groups(str(d), [1, 2])
    assert [[os.path.basename(r.path) for r in runs] for runs in groups.values()] == [["seed1"], ["seed2"]]
    assert ptr.main([str(d), "--seeds", "1", "2"]) == 0
    out = capsys.readouterr().out
    assert "holds runs of 2 different settings" in out and "OPTIM.LR: reference 0.002, here 0.01" in out
    assert "* i2t_R@1: 10.00% (n = 1)\n" in out and "+- 0.00%" not in out  # a single run is a value, not 10 +- 0


def test_runs_on_other_weights_under_the_same_name_are_not_averaged(tmp_path, capsys):
    d = tmp_path / "exp"
    _results(d / "seed1", {"X": {"i2t_R@1": 10.0}}, seed=1, source="/cluster/a/ViT-B-16.pt")
    _results(d / "seed2", {"X": {"i2t_R@1": 12.0}}, seed=2, source="hf-hub:timm/x@977e")  # same file, other place
    _results(d / "seed3", {"X": {"i2t_R@1": 30.0}}, seed=3, weights="cd34")  # other weights, same name
    groups, _ = ptr.parse_groups(str(d), [1, 2, 3])
    first, other = groups.values()
    assert [os.path.basename(r.path) for r in first] == ["seed1", "seed2"] and len(other) == 1
    assert ptr.summarize_runs(first, ci95=False)[0]["i2t_R@1"] == (11.0, 1.0)
    assert ptr.main([str(d), "--seeds", "1", "2", "3"]) == 0
    assert "MODEL.BACKBONE.SHA256: reference 'ab12', here 'cd34'" in capsys.readouterr().out


def test_log_uses_last_test_evaluation_only(tmp_path):
    run = tmp_path / "seed1"
    run.mkdir()
    (run / "log.txt").write_text(
        "Evaluate on the *test* set\n* i2t_R@1: 1.00%\nResults written to x\nFinish training\n"
        "Evaluate on the *test* set\n* i2t_R@1: 2.50%\n* i2t_medr: 3\nResults written to x\n"
    )
    assert ptr.read_record(str(run)).metrics == {"i2t_R@1": 2.5, "i2t_medr": 3.0}


def test_a_seed_killed_mid_test_is_unfinished_not_a_run(tmp_path, capsys):
    d = tmp_path / "exp"
    _results(d / "seed1", {"X": {"i2t_R@1": 10.0, "rsum": 400.0}}, seed=1)
    (d / "seed2").mkdir()
    (d / "seed2" / "config.yaml").write_text(yaml.safe_dump(_config(seed=2)))
    (d / "seed2" / "log.txt").write_text("Evaluate on the *test* set\n* i2t_R@1: 90.00%\n* i2t_R@5: 99.00%\n")  # killed
    summary, warnings, runs = _one_setting(d, [1, 2])
    assert list(runs) == ["seed1"] and summary["i2t_R@1"] == (10.0, None)
    assert any("seed2 is unfinished" in w for w in warnings)


def _damage(run, kind):
    path = run / "results.json"
    if kind == "truncated":
        path.write_text(path.read_text()[:40])
    elif kind == "flat":
        path.write_text(json.dumps({"i2t_R@1": 5.0}))
    elif kind == "list":
        path.write_text("[1, 2]")
    else:
        r = json.loads(path.read_text())
        r["metrics"]["i2t_R@1"] = "n/a"
        path.write_text(json.dumps(r))


@pytest.mark.parametrize("kind, said", [("truncated", "cannot be read (JSONDecodeError"),
                                        ("flat", 'has no "metrics" object'), ("list", "holds a JSON list"),
                                        ("string", "metrics i2t_R@1 is not a number")])
def test_a_damaged_results_json_is_skipped_named_and_counted_and_the_rest_still_tabulated(tmp_path, capsys, kind, said):
    for seed, lr in ((1, 0.002), (2, 0.002), (1, 0.01)):
        _results(tmp_path / f"lr{lr}" / f"seed{seed}", {"Caltech101": {"i2t_R@1": 10.0 * seed}}, seed=seed, lr=lr)
    _damage(tmp_path / "lr0.002" / "seed2", kind)
    assert ptr.main(["--table", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"WARNING: {os.path.join('lr0.002', 'seed2')} is skipped: " in out and said in out
    assert "1 run(s) skipped as unreadable" in out and "Traceback" not in out
    header, rows, _ = _table(tmp_path)
    assert len(header) == 2 + 2 * 2 and rows[0][2:4] == ["10.00", "10.00"]  # both columns, seed2 not averaged in
    assert ptr.main([str(tmp_path / "lr0.002"), "--seeds", "1", "2"]) == 0
    assert "WARNING: seed2 is skipped" in capsys.readouterr().out


def test_a_damaged_results_json_falls_back_to_a_complete_log(tmp_path, capsys):
    run = tmp_path / "seed1"
    _results(run, {"X": {"i2t_R@1": 10.0}}, seed=1)
    _damage(run, "truncated")
    (run / "log.txt").write_text("Evaluate on the *test* set\n* i2t_R@1: 10.00%\nResults written to x\n")
    assert ptr.read_record(str(run)).metrics == {"i2t_R@1": 10.0}
    assert "its final results are read from log.txt" in capsys.readouterr().out


def test_nothing_found_is_an_error(tmp_path, capsys):
    assert ptr.main([str(tmp_path)]) == 2
    assert f"ERROR: no finished run in {tmp_path}: expected seed*/ folders" in capsys.readouterr().out
    assert ptr.main(["--table", str(tmp_path)]) == 2
    assert f"ERROR: no results.json found under {tmp_path}" in capsys.readouterr().out


def _table(root):
    lines = (root / "table.md").read_text().splitlines()
    header = [c.strip() for c in lines[0].split("|")[1:-1]]
    rows = [[c.strip() for c in line.split("|")[1:-1]] for line in lines[2:] if line.startswith("|")]
    return header, rows, lines


def test_table_layout_with_avg_row(tmp_path):
    for seed, bump in ((1, 0.0), (2, 2.0)):
        for dom, v in (("Caltech101", {"i2t_R@1": 40 + bump, "t2i_R@1": 30.0}), ("DTD", {"i2t_R@1": 20.0, "t2i_R@1": 10.0})):
            _results(tmp_path / "A" / "DCAR" / dom / f"seed{seed}", {dom: v}, seed=seed, domains=(dom,))
    _results(tmp_path / "A" / "ZS" / "seed1", {"Caltech101": {"i2t_R@1": 35.0, "t2i_R@1": 25.0}}, trainer="ZeroshotCLIP")
    assert ptr.main(["--table", str(tmp_path), "--ks", "1"]) == 0
    header, rows, _ = _table(tmp_path)
    assert header == ["domain", "K", "i2t ZeroshotCLIP", "i2t DCAR", "t2i ZeroshotCLIP", "t2i DCAR"]
    assert rows[0] == ["Caltech101", "1", "35.00", "41.00", "25.00", "30.00"]  # per-domain runs form one column
    assert rows[1] == ["DTD", "1", "-", "20.00", "-", "10.00"]
    assert rows[2] == ["AVG", "1", "-", "30.50", "-", "20.00"]  # ZS lacks DTD: no average
    assert (tmp_path / "table.csv").read_text().startswith("domain,K,")


def test_table_never_averages_different_settings(tmp_path, capsys):
    """16-shot runs, their eval-only re-evaluations and a 2-shot run under one trainer name: three
    columns, each listed with its runs and how it differs."""
    for seed, v in ((1, 40.0), (2, 42.0)):
        _results(tmp_path / "DCAR" / "16shots" / f"seed{seed}", {"X": {"i2t_R@1": v, "t2i_R@1": v}}, seed=seed)
        reeval = tmp_path / "evaluation" / "DCAR" / f"seed{seed}"
        _results(reeval, {"X": {"i2t_R@1": v + 5, "t2i_R@1": v + 5}}, seed=seed)
        res = json.loads((reeval / "results.json").read_text())
        res.update(eval_only=True, model_dir=str(tmp_path / "DCAR" / "16shots" / f"seed{seed}"))
        (reeval / "results.json").write_text(json.dumps(res))
    _results(tmp_path / "DCAR" / "2shots" / "seed1", {"X": {"i2t_R@1": 30.0, "t2i_R@1": 30.0}}, shots=2)
    assert ptr.main(["--table", str(tmp_path), "--ks", "1"]) == 0
    header, rows, lines = _table(tmp_path)
    assert header[2:5] == ["i2t DCAR, 16 shots", "i2t DCAR, 16 shots, re-evaluated", "i2t DCAR, 2 shots"]
    assert rows[0][2:5] == ["41.00", "46.00", "30.00"]  # never 40.29-style mixtures
    legend = "\n".join(lines)
    assert "2 run(s) of DCAR on FDRDSynth, 16 shots, config" in legend
    assert "evaluated from" in legend and "DATASET.NUM_SHOTS: reference 16, here 2" in legend


def test_help_does_not_import_torch():
    res = subprocess.run([sys.executable, "-X", "importtime", "parse_test_res.py", "--help"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and "torch" not in res.stderr


def test_table_lists_negative_discrimination(tmp_path):
    for seed, v in ((1, 60.0), (2, 70.0)):
        _results(tmp_path / "DCAR" / f"seed{seed}", {"X": {"i2t_R@1": 1.0, "negdisc_category": v, "twin_i2t_colour": 80.0}},
                 seed=seed)
    assert ptr.main(["--table", str(tmp_path), "--ks", "1"]) == 0
    text = (tmp_path / "table.md").read_text()
    assert "| negdisc_category | 65.00  |" in text and "| twin_i2t_colour  | 80.00  |" in text
