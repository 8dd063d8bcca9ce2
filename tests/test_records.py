"""benchmarks/harness/records.py: a run's record keeps exactly what a rerun must reproduce, compactly; the
ranks survive the encoding; a rerun is checked against its record, and a changed figure or rank
is named (fails if the check compared nothing, or the encoding lost ranks above 255)."""
import json

import pytest

import train
from benchmarks.harness import records
from plugins import default_cfg
from reporting.identity import flatten, run_key
from tests.dcar_helpers import small_synth_opts


def test_ranks_round_trip_and_stay_small():
    ranks = [0, 1, 2, 255, 256, 70_000, 3] * 300
    text = records.encode_ranks(ranks)
    assert records.decode_ranks(text) == ranks
    assert len(text) < len(json.dumps(ranks)) / 4


def _zero_shot(tmp_path, ckpt, name):
    out = tmp_path / name
    train.main(train.build_parser().parse_args([
        "--root", str(tmp_path / "data"), "--trainer", "ZeroshotCLIP", "--seed", "1", "--eval-only",
        "--dataset-config-file", "configs/datasets/fdrd_synth.yaml", "--config-file",
        "configs/trainers/ZeroshotCLIP/synth.yaml", "--output-dir", str(out), "MODEL.BACKBONE.NAME", ckpt,
        *small_synth_opts()]))
    return out


def test_a_rerun_is_checked_against_its_record(tmp_path, ckpt, capsys):
    first, rerun = _zero_shot(tmp_path, ckpt, "first"), _zero_shot(tmp_path, ckpt, "rerun")
    folder = str(tmp_path / "records")
    assert records.main(["add", str(first), "--records", folder]) == 0
    results = json.loads((first / "results.json").read_text())
    record = records.read_record(run_key(results["config"]), folder)
    assert record["item_ranks"] == results["item_ranks"] and record["metrics"] == results["metrics"]
    assert record["trainer"] == "ZeroshotCLIP" and record["config"]["TRAINER.NAME"] == "ZeroshotCLIP"
    assert "OUTPUT_DIR" not in record["config"] and "SEED" in record["config"]  # results-changing keys only
    assert set(record["negatives"]) == set(results["sizes"]) and results["negatives"]  # per domain, as the run made them
    assert all(n["synonym_rate"] == 0.0 and n["items"] > 0 for n in record["negatives"].values())
    assert records.main(["check", str(rerun), "--records", folder]) == 0  # another folder, the same run
    assert "equal to its record" in capsys.readouterr().out
    changed = json.loads((rerun / "results.json").read_text())
    changed["metrics"]["i2t_R@1"] += 1.0
    dom = next(iter(changed["item_ranks"]))
    changed["item_ranks"][dom]["t2i"][0] += 1
    (rerun / "results.json").write_text(json.dumps(changed))
    assert records.main(["check", str(rerun), "--records", folder]) == 1
    out = capsys.readouterr().out
    assert f"metrics.i2t_R@1: recorded {results['metrics']['i2t_R@1']}, rerun {changed['metrics']['i2t_R@1']}" in out
    assert f"item_ranks.{dom}.t2i: ranks differ" in out and "2 differences" in out


def test_a_folder_without_a_run_or_a_record_is_one_line(tmp_path, capsys):
    assert records.main(["check", str(tmp_path), "--records", str(tmp_path / "r")]) == 2
    assert capsys.readouterr().out.startswith(f"ERROR: {tmp_path} has no results.json")
    results = {"config": {**flatten(default_cfg()), "SEED": 5}}
    (tmp_path / "results.json").write_text(json.dumps(results))
    assert records.main(["check", str(tmp_path), "--records", str(tmp_path / "r")]) == 2
    assert "no committed run has this configuration" in capsys.readouterr().out


@pytest.mark.parametrize("part", records.COMPARED)
def test_every_compared_part_counts(part):
    base = {"metrics": {"rsum": 1.0}, "per_domain": {"A": {"rsum": 1.0}}, "sizes": {"A": {"images": 3}},
            "negatives": {"A": {"synonym_rate": 0.0}}, "item_ranks": {"A": {"i2t": [0, 1]}}}
    other = json.loads(json.dumps(base))
    leaf = other[part]
    while isinstance(next(iter(leaf.values())), dict):
        leaf = next(iter(leaf.values()))
    key = next(iter(leaf))
    leaf[key] = [1, 1] if isinstance(leaf[key], list) else leaf[key] + 1
    assert records.differences(other, base) and not records.differences(base, base)


def test_a_record_keeps_the_runs_domain_order(tmp_path):
    """The bootstrap pools the domains' items in the run's order: a record read back gives that order
    (fails if the record is written with sorted keys, which reorders the domains and so the resamples)."""
    ranks = {dom: {"i2t": records.encode_ranks([0, 1])} for dom in ("SynthEmblem", "SynthBloom")}
    records.write_record({"identity": "abc", "item_ranks": ranks, "sizes": {"SynthEmblem": 2, "SynthBloom": 2}},
                         str(tmp_path))
    back = records.read_record("abc", str(tmp_path))
    assert list(back["item_ranks"]) == list(back["sizes"]) == ["SynthEmblem", "SynthBloom"]
