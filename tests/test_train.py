"""train.py: config layering, one-line errors, and the run folder's safety: one run per folder (a
lock naming its holder), no resume across configurations, no evaluation of untrained prompts,
results.json written last, leftovers of killed runs removed."""
import errno
import importlib.util
import json
import os
import subprocess
import sys

import pytest
import yaml

import engine
import run_folder
import train
from tests.dcar_helpers import TINY_DCAR, small_synth_opts

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOY = ["DATASET.NAME", "ToyColours", "INPUT.SIZE", "(8, 8)", "DATALOADER.NUM_WORKERS", "0", "OPTIM.MAX_EPOCH", "2",
       "OPTIM.NAME", "sgd", "OPTIM.LR", "0.05", "TEST.EVALUATOR", "Classification"]
SYNTH = small_synth_opts(OPTIM__MAX_EPOCH=1)


def _toy(tmp_path, *opts, out="run"):
    return ["--trainer", "ToyTrainer", "--root", str(tmp_path / "data"), "--output-dir", str(tmp_path / out),
            "--seed", "0", *TOY, *opts]


def _dcar(tmp_path, ckpt, *opts, flags=(), out="dcar"):
    return ["--trainer", "DCAR", "--root", str(tmp_path / "data"), "--output-dir", str(tmp_path / out), "--seed", "1",
            "--dataset-config-file", "configs/datasets/fdrd_synth.yaml", "--config-file", TINY_DCAR, *flags,
            "MODEL.BACKBONE.NAME", ckpt, *SYNTH, *opts]


def _error_line(capsys, argv) -> str:
    """Run train.py, expect exit status 2 and return its ERROR line."""
    with pytest.raises(SystemExit) as exit_info:
        train.run(argv)
    assert exit_info.value.code == 2
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("ERROR")]
    assert len(lines) == 1
    return lines[0]


def test_train_py_rejects_unknown_trainer(tmp_path, capsys):
    line = _error_line(capsys, ["--trainer", "NoSuchTrainer", "--output-dir", str(tmp_path / "o")])
    assert "Registered trainers" in line and "Set it with --trainer NAME." in line
    assert not (tmp_path / "o").exists()  # fails before writing anything
    assert 'Did you mean "DCAR"?' in _error_line(capsys, ["--trainer", "dcar", "--output-dir", str(tmp_path / "o")])


def test_config_errors_are_one_error_line_with_exit_status_2(tmp_path, capsys):
    assert _error_line(capsys, ["OPTIM.NOPE", "1"]).startswith(
        "ERROR: Config error in the command line: Non-existent key: OPTIM.NOPE")
    assert "KEY VALUE pairs" in _error_line(capsys, ["OPTIM.LR"])
    missing = tmp_path / "no.yaml"
    assert _error_line(capsys, ["--config-file", str(missing)]) == f"ERROR: Config file not found: {missing}"
    broken = _write(tmp_path / "broken.yaml", "OPTIM:\n  LR: [0.1\n")  # YAML syntax (the old check caught assertions only)
    for flag in ("--config-file", "--dataset-config-file"):
        assert _error_line(capsys, [flag, broken]).startswith(f"ERROR: Config error in {broken}: while parsing")
    listed = _write(tmp_path / "list.yaml", "- 1\n- 2\n")  # not a mapping
    assert _error_line(capsys, ["--config-file", listed]).startswith(f"ERROR: Config error in {listed}")


def _write(path, text):
    path.write_text(text)
    return str(path)


def test_train_py_end_to_end_writes_log_config_env(tmp_path):
    out = tmp_path / "run"
    argv = ["--trainer", "ToyTrainer", "--root", str(tmp_path / "data"), "--output-dir", str(out), "--seed", "0", *TOY]
    train.main(train.build_parser().parse_args(argv))
    log = (out / "log.txt").read_text()
    first = log.splitlines()[0]
    assert first == f"Engine: {engine.ENGINE_DESCRIPTION}"
    assert "Setting fixed seed: 0" in log and "Finish training" in log and "* accuracy:" in log
    assert "SEED: 0" in (out / "config.yaml").read_text()
    assert "PyTorch version" in (out / "env.txt").read_text()
    assert (out / "model" / "model.pth.tar-2").is_file()


def test_rerun_with_another_config_is_refused_and_changes_nothing(tmp_path, capsys):
    train.run(_toy(tmp_path))
    saved = (tmp_path / "run" / "config.yaml").read_text()
    line = _error_line(capsys, _toy(tmp_path, "OPTIM.LR", "0.1"))
    assert "holds a run with another configuration (OPTIM.LR: saved 0.05, now 0.1)" in line
    assert "another --output-dir" in line
    assert (tmp_path / "run" / "config.yaml").read_text() == saved  # not rewritten to claim the new LR
    train.run(_toy(tmp_path, "TRAIN.PRINT_FREQ", "7"))  # a key that changes no result: resumes
    assert "Previous epoch: 2" in capsys.readouterr().out


def test_a_run_saved_before_a_key_existed_continues_when_the_key_is_at_its_default(tmp_path, capsys):
    """Adding a config key (whose default keeps the old behaviour) must not orphan every run made before."""
    train.run(_toy(tmp_path))
    path = tmp_path / "run" / "config.yaml"
    saved = yaml.safe_load(path.read_text())
    del saved["OPTIM"]["WARMUP_RECOUNT"]  # as if the key did not exist when the run was made
    path.write_text(yaml.safe_dump(saved))
    capsys.readouterr()
    train.run(_toy(tmp_path))  # resumes its last checkpoint instead of refusing
    out = capsys.readouterr().out
    assert "Previous epoch: 2" in out and "ERROR" not in out
    line = _error_line(capsys, _toy(tmp_path, "OPTIM.WARMUP_RECOUNT", "False"))
    assert "OPTIM.WARMUP_RECOUNT: saved True, now False" in line


def test_second_run_into_a_busy_folder_is_refused(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", (
        f"import sys, time; sys.path.insert(0, {ROOT!r}); from engine.locking import acquire; "
        f"acquire({str(out / run_folder.RUN_LOCK)!r}, 'train.py --trainer ToyTrainer --seed 2', wait=False); "
        "print('held', flush=True); time.sleep(60)")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        line = _error_line(capsys, _toy(tmp_path))
        assert f"held by process {holder.pid}" in line and "--seed 2" in line and "another --output-dir" in line
        assert not (out / "config.yaml").exists()
    finally:
        holder.kill()
        holder.wait()
    train.run(_toy(tmp_path))  # the holder is gone: its lock is taken over
    assert "Taking over the stale lock" in capsys.readouterr().out
    assert not (out / run_folder.RUN_LOCK).exists()


def test_leftover_temporary_files_of_a_killed_run_are_removed(tmp_path, capsys):
    train.run(_toy(tmp_path, "OPTIM.MAX_EPOCH", "1"))
    leftover = tmp_path / "run" / "model" / "model.pth.tar-2.tmp-99999"
    leftover.write_bytes(b"torn")
    train.run(_toy(tmp_path, "OPTIM.MAX_EPOCH", "1"))
    assert not leftover.exists()
    assert "Removed 1 unfinished temporary file(s)" in capsys.readouterr().out


def test_full_disk_and_read_only_folder_are_one_line(tmp_path, capsys, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "run" / "model"))

    monkeypatch.setattr(engine.fixes.checkpoint.torch, "save", full)
    line = _error_line(capsys, _toy(tmp_path))
    assert "No space left on device" in line and "free disk space or choose another --output-dir" in line
    assert not (tmp_path / "run" / run_folder.RUN_LOCK).exists()  # released on the way out

    def read_only(path, what):
        raise OSError(errno.EROFS, "Read-only file system", path)

    monkeypatch.setattr("engine.locking._try_create", read_only)
    line = _error_line(capsys, _toy(tmp_path, out="ro"))
    assert "Read-only file system" in line and "choose another --output-dir" in line


def test_bad_input_is_one_message_not_a_traceback(tmp_path, capsys):
    argv = ["--trainer", "ZeroshotCLIP", "--root", str(tmp_path), "--output-dir", str(tmp_path / "o"),
            "--dataset-config-file", "configs/datasets/fdrd_dtd.yaml", "TEST.EVALUATOR", "Retrieval"]
    assert "ERROR: DTD: not present: no caption file in" in _error_line(capsys, argv)


def test_prompts_deeper_than_the_backbone_name_the_configs(tmp_path, tiny_clip_files, capsys):
    ckpt = tiny_clip_files["described"]
    line = _error_line(capsys, _dcar(tmp_path, ckpt, "TRAINER.DCAR.PROMPT_DEPTH", "9"))
    assert line.startswith("ERROR: PROMPT_DEPTH 9 exceeds the 3 layers of the text encoder (TRAINER.DCAR, backbone ")
    assert f"No shipped DCAR config is written for {ckpt}" in line and "DCAR/synth.yaml (synth-small)" in line


@pytest.mark.skipif(importlib.util.find_spec("dassl") is not None, reason="Dassl is installed here")
def test_dassl_engine_requested_without_dassl_is_one_line():
    res = subprocess.run([sys.executable, "train.py", "--trainer", "DCAR"], cwd=ROOT, capture_output=True, text=True,
                         env=dict(os.environ, DCAR_ENGINE="dassl"), timeout=120)
    assert res.returncode == 2 and res.stderr == ""
    assert res.stdout.startswith("ERROR: DCAR_ENGINE=dassl but Dassl cannot be imported") and res.stdout.count("\n") == 1
    assert "docs/engine.md, 'Real Dassl or the embedded engine'" in res.stdout


@pytest.mark.slow
def test_dcar_run_folder_identity_eval_only_and_results_last(tmp_path, tiny_clip_files, capsys, monkeypatch):
    ckpt = tiny_clip_files["described"]
    # a crash while drawing the final pictures leaves no results.json: the rerun is not "finished"
    monkeypatch.setattr("evaluation.report.plot_gallery", lambda *a: (_ for _ in ()).throw(OSError(errno.EIO, "boom")))
    _error_line(capsys, _dcar(tmp_path, ckpt))
    assert (tmp_path / "dcar" / "curves.png").is_file() and not (tmp_path / "dcar" / "results.json").exists()
    monkeypatch.undo()
    train.run(_dcar(tmp_path, ckpt))  # resumes (same config), evaluates, draws, then writes results.json
    run = tmp_path / "dcar"
    assert (run / "gallery.png").stat().st_mtime_ns <= (run / "results.json").stat().st_mtime_ns
    res = json.loads((run / "results.json").read_text())
    assert res["config"]["TRAINER.DCAR.CAA.TYPE"] == "adapter" and res["eval_only"] is False and res["group"]
    assert res["skipped_domains"] == {} and res["not_evaluated_domains"] == {}
    # resuming with the CAA switched off: one line naming the key, not a state-dict traceback
    line = _error_line(capsys, _dcar(tmp_path, ckpt, "TRAINER.DCAR.CAA.TYPE", "none"))
    assert "TRAINER.DCAR.CAA.TYPE: saved 'adapter', now 'none'" in line
    # evaluating untrained prompts is refused; a model from another config names the differences
    assert "--eval-only without --model-dir" in _error_line(capsys, _dcar(tmp_path, ckpt, flags=["--eval-only"], out="ev0"))
    line = _error_line(capsys, _dcar(tmp_path, ckpt, "TRAINER.DCAR.CAA.TYPE", "none",
                                     flags=["--eval-only", "--model-dir", str(run)], out="ev1"))
    assert "does not match the model" in line and "TRAINER.DCAR.CAA.TYPE: saved 'adapter', now 'none'" in line
    train.run(_dcar(tmp_path, ckpt, "DATASET.NUM_SHOTS", "2", flags=["--eval-only", "--model-dir", str(run)],
                    out="ev2"))  # the evaluation's own shots say nothing of the model
    again = json.loads((tmp_path / "ev2" / "results.json").read_text())
    assert again["eval_only"] is True and again["model_dir"] == str(run) and again["metrics"] == res["metrics"]
    assert res["num_shots"] == again["num_shots"] == -1  # the evaluated model's shots, not the evaluation's
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["TRAINER"]["DCAR"]["CAA"]["TYPE"] == "adapter"


@pytest.mark.slow
def test_finished_run_is_left_alone_and_an_ablation_into_it_refused(tmp_path, tiny_clip_files, capsys):
    ckpt = tiny_clip_files["described"]
    train.run(_dcar(tmp_path, ckpt))
    before = (tmp_path / "dcar" / "results.json").read_bytes()
    capsys.readouterr()
    train.run(_dcar(tmp_path, ckpt))
    assert capsys.readouterr().out.startswith("Finished: ")
    line = _error_line(capsys, _dcar(tmp_path, ckpt, "TRAINER.DCAR.CATE.LAMBDA", "0.0"))  # an ablation row
    saved = yaml.safe_load((tmp_path / "dcar" / "config.yaml").read_text())["TRAINER"]["DCAR"]["CATE"]["LAMBDA"]
    assert f"TRAINER.DCAR.CATE.LAMBDA: saved {saved}, now 0.0" in line and saved != 0.0
    assert (tmp_path / "dcar" / "results.json").read_bytes() == before


def _fail_fsync_of(monkeypatch, name):
    """A full disk at the first write whose temporary file is for ``name`` (its bytes are written)."""
    from engine import writes

    real = writes.os.fsync

    def fsync(fd):
        if os.path.basename(os.readlink(f"/proc/self/fd/{fd}")).startswith(f"{name}.tmp-"):
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fd)

    monkeypatch.setattr(writes.os, "fsync", fsync)


TWO_EPOCHS = ("OPTIM.MAX_EPOCH", "2")


@pytest.fixture(scope="module")
def whole(tmp_path_factory, ckpt):
    """The final metrics of an uninterrupted two-epoch run."""
    root, saved = tmp_path_factory.mktemp("whole"), sys.stdout
    try:
        train.run(_dcar(root, ckpt, *TWO_EPOCHS))
    finally:  # train.run tees stdout into the run's log
        if sys.stdout is not saved:
            sys.stdout.close()
            sys.stdout = saved
    return json.loads((root / "dcar" / "results.json").read_text())["metrics"]


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="names open files through /proc")
@pytest.mark.parametrize("fails", ["model.pth.tar-2", "results.json", "gallery.png"])
def test_a_full_disk_is_one_line_loses_nothing_and_the_rerun_finishes_as_uninterrupted(tmp_path, ckpt, capsys,
                                                                                      monkeypatch, fails, whole):
    two = TWO_EPOCHS
    _fail_fsync_of(monkeypatch, fails)
    line = _error_line(capsys, _dcar(tmp_path, ckpt, *two))
    run = tmp_path / "dcar"
    assert line.startswith(f"ERROR: No space left on device writing {run}") and f"{fails}: it needs " in line
    assert "MiB free there" in line and "rerun the same command" in line
    leftovers = [f for d, _, fs in os.walk(run) for f in fs if ".tmp-" in f]
    assert leftovers == [] and not (run / "results.json").exists()
    if fails == "model.pth.tar-2":  # the epoch-1 checkpoint is intact and still the resume point
        learner = run / "prompt_learner"
        assert (learner / "checkpoint").read_text().strip() == "model.pth.tar-1"
        assert engine.fixes.checkpoint.load_checkpoint(str(learner / "model.pth.tar-1"))["epoch"] == 1
    monkeypatch.undo()
    train.run(_dcar(tmp_path, ckpt, *two))  # disk freed: the same command resumes and finishes
    assert json.loads((run / "results.json").read_text())["metrics"] == whole


def test_a_full_disk_wrapped_by_torch_is_one_line(tmp_path, ckpt, capsys, monkeypatch):
    def wrapped(*_a, **_k):
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError:
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 1 vs 0")  # noqa: B904

    monkeypatch.setattr("engine.fixes.checkpoint.torch.save", wrapped)
    line = _error_line(capsys, _dcar(tmp_path, ckpt))
    assert line == "ERROR: No space left on device: free disk space or choose another --output-dir"
