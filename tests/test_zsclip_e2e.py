"""ZeroshotCLIP end to end from train.py on FDRDSynth with a tiny checkpoint; parse_test_res over seeds."""
import hashlib
import json

import pytest

import parse_test_res
import train
from tests.dcar_helpers import small_synth_opts

SYNTH_SMALL = small_synth_opts(DATASET__FDRD_SYNTH__NUM_DOMAINS=3, DATASET__FDRD_SYNTH__TEST_IMAGES_PER_DOMAIN=39)


def _run(tmp_path, ckpt, seed, flags=(), opts=()):
    out = tmp_path / "out" / "fdrd_synth" / "ZeroshotCLIP" / "synth" / f"seed{seed}"
    argv = ["--root", str(tmp_path / "data"), "--trainer", "ZeroshotCLIP", "--seed", str(seed),
            "--dataset-config-file", "configs/datasets/fdrd_synth.yaml",
            "--config-file", "configs/trainers/ZeroshotCLIP/synth.yaml", "--output-dir", str(out), *flags,
            "MODEL.BACKBONE.NAME", ckpt, *SYNTH_SMALL, *opts]
    train.main(train.build_parser().parse_args(argv))
    return out


@pytest.mark.slow
def test_zeroshot_on_synth_writes_results_and_aggregates(tmp_path, tiny_clip_files, capsys):
    ckpt = tiny_clip_files["described"]
    outs = [_run(tmp_path, ckpt, s, ["--eval-only"]) for s in (1, 2)]
    outs.append(_run(tmp_path, ckpt, 3))  # train() of a zero-shot model evaluates too
    res = json.loads((outs[0] / "results.json").read_text())
    assert res["domains"] == ["SynthEmblem", "SynthBloom", "SynthBadge"]
    assert res["sizes"]["SynthBloom"]["images"] == res["sizes"]["SynthBloom"]["captions"] == 39  # 13 twin groups
    assert 0 <= res["metrics"]["i2t_R@1"] <= 100 and res["trainer"] == "ZeroshotCLIP" and res["seed"] == 1
    log = (outs[0] / "log.txt").read_text()
    assert "* i2t_R@1:" in log and "* SynthBloom/t2i_R@10:" in log
    sha = hashlib.sha256(open(ckpt, "rb").read()).hexdigest()  # the weights are recorded wherever a run is read
    assert res["backbone"]["sha256"] == sha and res["backbone"]["activation"] == "quick_gelu"
    assert res["backbone"]["source"] == ckpt and res["config"]["MODEL.BACKBONE.SHA256"] == sha
    assert f"backbone: {ckpt} from {ckpt}, sha256 {sha}, activation quick_gelu" in (outs[0] / "env.txt").read_text()
    assert f"sha256 {sha[:16]}..., activation quick_gelu" in log
    capsys.readouterr()
    assert parse_test_res.main([str(outs[0].parent)]) == 0
    out = capsys.readouterr().out
    assert "3 run(s): seed1, seed2, seed3" in out and "* i2t_R@1:" in out and "+- 0.00%" in out  # deterministic


def test_input_size_must_match_backbone(tmp_path, tiny_clip_files):
    path = tiny_clip_files["described"]
    with pytest.raises(ValueError, match=rf'INPUT.SIZE \(48, 48\) does not match the input resolution 32 of the backbone '
                                         rf'"{path}" \(its visual.positional_embedding has 17 rows\)'):
        _run(tmp_path, tiny_clip_files["described"], 1, ["--eval-only"], ["INPUT.SIZE", "(48, 48)"])


def test_retrieval_trainer_requires_retrieval_evaluator(tmp_path, tiny_clip_files):
    with pytest.raises(ValueError, match="set TEST.EVALUATOR Retrieval"):
        _run(tmp_path, tiny_clip_files["described"], 1, ["--eval-only"], ["TEST.EVALUATOR", "Classification"])
