"""benchmarks/studies/synthetic_benchmark.py end to end in its --quick setting (a tiny FDRDSynth, the
tiny CLIP, one epoch): every section of the report is produced from real runs."""
import json
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_quick_benchmark_writes_the_whole_report(tmp_path, tiny_clip_files):
    out, js = tmp_path / "bench.md", tmp_path / "bench.json"
    cmd = [sys.executable, "-m", "benchmarks", "run", "synthetic_benchmark", "--quick", "--seeds", "1", "2", "--workers", "2",
           "--backbone", tiny_clip_files["described"], "--data", str(tmp_path / "data"), "--runs", str(tmp_path / "runs"),
           "--out", str(out), "--json", str(js), "--records", str(tmp_path / "records"),
           "--other-draws",  # one draw here: across_draws has its own test
           "--only", "MaPLe", "DCAR"]  # the other methods' rows are built the same way
    res = subprocess.run([*cmd, "--extended"], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    report = json.loads(js.read_text())
    assert {"seeds", "data_seed", "test_images_per_domain", "probe", "rows", "differences", "negative_discrimination",
            "runs_time_s", "val_images_per_domain", "val_halfwidth_rsum", "tuning", "protocols", "data_seeds",
            "negative_set", "across_draws"} <= set(report)
    assert report["val_images_per_domain"] == 6 and list(report["data_seeds"]) == ["0"]
    assert report["seeds"] == [1, 2] and report["data_seed"] == 0
    assert report["test_images_per_domain"] == {"SynthEmblem": 24, "SynthBloom": 24}
    assert set(report["probe"]) == {"subcategory", "colour", "background", "size", "position", "pattern"}
    assert all({"image_probe", "text_probe", "chance", "zero_shot", "zero_shot_chance"} <= set(r)
               for r in report["probe"].values())
    rows = report["rows"]
    assert "zero-shot CLIP" in rows and "full fine-tuning (upper bound)" in rows
    assert len(rows) == 2 + 2 + 4 + 2 + 3  # references, methods, chain, extended, protocol rows
    protocols = report["protocols"]  # every trainable method under both directions of L_con
    assert set(protocols) == {"full fine-tuning (upper bound)", "MaPLe", "DCAR"}
    for method, p in protocols.items():
        assert p[p["config_loss"]]["row"] == method and p["symmetric"]["row"] != p["i2t"]["row"]
        assert rows[p["i2t"]["row"]]["summary"]["i2t_R@1"][0] == p["i2t"]["i2t_R@1"]
        assert {"i2t_R@1", "t2i_R@1"} == set(p["i2t"]["vs_zero_shot"])
        assert set(p["other_minus_config"]) == {"i2t_R@1", "t2i_R@1", "rsum"}
    assert all(set(r["per_seed"]) == {"1", "2"} for r in rows.values())
    compared = {(d["row"], d["reference"]) for d in report["differences"]}
    assert ("DCAR", "MaPLe") in compared and ("full fine-tuning (upper bound)", "MaPLe") in compared
    assert "PromptSRC" not in rows and "CoOp" not in rows  # --only
    assert ("MaPLe", "DCAR") not in compared and ("1 prompts only, at DCAR's settings", "DCAR") in compared
    assert ("7 full, CAA = identity", "DCAR") in compared
    assert all(len(d["ci95"]) == 2 and len(d["ci95_seeds"]) == 2 for d in report["differences"])
    assert all("negdisc_category" in v for v in report["negative_discrimination"].values())
    assert set(report["negative_discrimination"]) == {n for n, r in rows.items() if r["role"] != "protocol"}
    assert set(report["negative_synonym_rate"]) == set(report["test_images_per_domain"])  # beside the figures
    assert not any(report["negative_synonym_rate"].values())
    text = out.read_text()
    for section in ("## 1. What the frozen backbone knows", "Gates:", "Oracle retrievers", "## 5. Paired differences",
                    "## 7. Protocols", "## 8. Every difference on each draw", "Negatives: one standard set"):
        assert section in text
    again = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)  # finished runs are reused
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    chain = json.loads(js.read_text())  # without --extended: the component chain, rows 6 and 7 left out
    assert chain["runs"] == report["runs"] - 4 and f"0 runs made, {chain['runs']} reused" in again.stdout
    assert len(chain["rows"]) == 2 + 2 + 4 + 3 and "7 full, CAA = identity" not in chain["rows"]
    assert {c["reference"] for c in chain["components"]} == {"MaPLe", "1 prompts only, at DCAR's settings",
                                                             "2 + DTR (no L_cate)",
                                                             "3 + L_cate, category negatives, alpha 0",
                                                             "4 + attribute negatives, alpha 0"}
    made = out.read_text()
    for folder in ("runs", "data"):  # another machine: no run folder, no data; the records stand for them
        shutil.rmtree(tmp_path / folder)
    regenerated = subprocess.run([sys.executable, "-m", "benchmarks", "report", *cmd[4:]], cwd=ROOT, capture_output=True,
                                 text=True, timeout=300)
    assert regenerated.returncode == 0, regenerated.stdout[-3000:] + regenerated.stderr[-3000:]
    assert json.loads(js.read_text()) == chain and out.read_text() == made  # the same report, from the records alone
    assert not (tmp_path / "data").exists() and not (tmp_path / "runs").exists()  # no run, no data, no probe made


def test_a_draw_without_protocol_rows_checks_the_published_pattern_under_the_config_loss():
    from benchmarks.studies.synthetic_benchmark import digest, protocol_rows, protocols

    hit, miss = [0] * 20, [50] * 20  # ranks: every query at rank 0, or far below R@1
    seeds = 2
    ranks = {"zero-shot CLIP": [{"D": {"i2t": miss, "t2i": hit}}] * seeds,  # the one run, paired with each seed
             "MaPLe": [{"D": {"i2t": hit, "t2i": miss}}] * seeds,  # above zero-shot on i2t, below on t2i
             "CoOp": [{"D": {"i2t": hit, "t2i": hit}}] * seeds}
    rows = {name: {"summary": {"i2t_R@1": [100.0 * (r[0]["D"]["i2t"][0] == 0), 0.0],
                               "t2i_R@1": [100.0 * (r[0]["D"]["t2i"][0] == 0), 0.0]}} for name, r in ranks.items()}
    config_loss = {p.of: "symmetric" if "LOSS i2t" in p.name else "i2t" for p in protocol_rows()}
    got = protocols(rows, ranks)
    assert set(got) == {"MaPLe", "CoOp"}  # the trainable methods of this draw (zero-shot has no loss)
    for method, p in got.items():
        assert set(p) == {"config_loss", config_loss[method]} and p["config_loss"] == config_loss[method]
    assert got["MaPLe"][config_loss["MaPLe"]]["published_pattern"]
    assert not got["CoOp"][config_loss["CoOp"]]["published_pattern"]  # above zero-shot both ways
    assert digest({"rows": {}, "differences": [], "negative_discrimination": {}, "protocols": got})[
        "published_pattern"] == {"MaPLe": {config_loss["MaPLe"]: True}, "CoOp": {config_loss["CoOp"]: False}}


def test_every_method_is_compared_with_maple_and_the_newer_baselines_with_dcar_too():
    from benchmarks.studies.synthetic_benchmark import COMPARISONS, ROWS

    methods = {r.name for r in ROWS if r.role != "ablation"} - {"MaPLe"}
    assert {row for row, ref in COMPARISONS if ref == "MaPLe"} == methods
    assert {("PromptSRC", "DCAR"), ("CLIP-LoRA", "DCAR"), ("DCAR", "MaPLe")} <= set(COMPARISONS)
    assert not {(ref, row) for row, ref in COMPARISONS} & set(COMPARISONS)  # no pair in both orders


def test_protocol_rows_run_the_first_seeds_without_fine_grained_measures():
    from benchmarks.studies.synthetic_benchmark import PROTOCOL_SEEDS, ROWS, protocol_rows

    seeds = [1, 2, 3, 4, 5]
    for p in protocol_rows():
        assert p.run_seeds(seeds) == seeds[:PROTOCOL_SEEDS] and p.opts[-2:] == ("TEST.FINE_GRAINED", "False")
    assert ROWS[0].run_seeds(seeds) == [1] and all(r.run_seeds(seeds) == seeds for r in ROWS if r.seeded)


def test_other_draws_run_the_references_and_methods_only():
    from benchmarks.studies.synthetic_benchmark import ROWS, protocol_rows, rows_for_draw

    rows = [*ROWS, *protocol_rows()]
    assert rows_for_draw(rows, first=True) == rows
    assert {r.role for r in rows_for_draw(rows, first=False)} == {"reference", "method"}
    assert {"MaPLe", "DCAR", "CLIP-LoRA", "PromptSRC"} <= {r.name for r in rows_for_draw(rows, first=False)}


def test_the_report_goes_where_the_docs_cite_it():
    from benchmarks.studies.synthetic_benchmark import ROOT, arguments

    a = arguments().parse_args([])
    assert (a.json, a.out) == (os.path.join(ROOT, "docs", "results", "bench_synthetic.json"),
                               os.path.join(ROOT, "docs", "results", "synthetic_benchmark.md"))
