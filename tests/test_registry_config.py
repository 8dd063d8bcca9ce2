"""Registries, registration by import, and train.py's config layering."""
import pytest

import engine
import train
from engine.embedded.registry import Registry


def test_registry_register_get_and_duplicates():
    reg = Registry("THING")

    @reg.register()
    class Foo:
        pass

    assert reg.get("Foo") is Foo and reg.registered_names() == ["Foo"]
    with pytest.raises(KeyError, match='already registered in "THING"'):
        reg.register(Foo)
    reg.register(Foo, force=True)
    with pytest.raises(KeyError, match='"Bar" does not exist'):
        reg.get("Bar")


def test_unknown_name_lists_registered_ones():
    with pytest.raises(ValueError) as err:
        engine.check_registered(engine.TRAINER_REGISTRY, "ToyTrainr", "trainer")
    msg = str(err.value)
    assert 'Did you mean "ToyTrainer"' in msg and "Registered trainers:" in msg and "ToyTrainer" in msg


def test_train_py_rejects_unknown_trainer(tmp_path):
    args = train.build_parser().parse_args(["--trainer", "NoSuchTrainer", "--output-dir", str(tmp_path / "o")])
    with pytest.raises(SystemExit, match="Registered trainers"):
        train.main(args)
    assert not (tmp_path / "o").exists()  # fails before writing anything


def _write(path, text):
    path.write_text(text)
    return str(path)


def test_config_layering_order(tmp_path):
    ds = _write(tmp_path / "ds.yaml", 'DATASET:\n  NAME: "ToyColours"\n  NUM_SHOTS: 4\nOPTIM:\n  LR: 0.1\n  MAX_EPOCH: 3\n')
    tr = _write(
        tmp_path / "tr.yaml",
        "OPTIM:\n  LR: 0.2\n  WARMUP_CONS_LR: 1e-5\nINPUT:\n  SIZE: (32, 32)\n  TRANSFORMS: [\"normalize\"]\n"
        "DATALOADER:\n  TRAIN_X:\n    BATCH_SIZE: 8\n",
    )
    args = train.build_parser().parse_args(
        ["--dataset-config-file", ds, "--config-file", tr, "--seed", "0", "--trainer", "ToyTrainer",
         "--root", "/data", "OPTIM.MAX_EPOCH", "7", "DATALOADER.TRAIN_X.BATCH_SIZE", "2"]
    )
    cfg = train.setup_cfg(args)
    assert cfg.DATASET.NAME == "ToyColours" and cfg.DATASET.NUM_SHOTS == 4  # dataset file
    assert cfg.OPTIM.LR == 0.2  # trainer file beats dataset file
    assert cfg.OPTIM.WARMUP_CONS_LR == 1e-5 and isinstance(cfg.OPTIM.WARMUP_CONS_LR, float)  # yacs literal_eval
    assert cfg.INPUT.SIZE == (32, 32) and cfg.INPUT.TRANSFORMS == ("normalize",)
    assert cfg.OPTIM.MAX_EPOCH == 7 and cfg.DATALOADER.TRAIN_X.BATCH_SIZE == 2  # opts beat files
    assert cfg.SEED == 0  # seed 0 is a seed
    assert cfg.DATASET.ROOT == "/data" and cfg.TRAINER.NAME == "ToyTrainer"
    assert cfg.MODEL.BACKBONE.CACHE_DIR == ""  # key added by a trainers module (registration by import)
    assert cfg.is_frozen()


def test_seed_unset_stays_negative_and_bad_opts_fail(tmp_path):
    cfg = train.setup_cfg(train.build_parser().parse_args([]))
    assert cfg.SEED == -1
    with pytest.raises(ValueError, match="Type mismatch"):
        train.setup_cfg(train.build_parser().parse_args(["OPTIM.LR", "1"]))
    with pytest.raises(SystemExit, match="Config error in the command line: Non-existent key: OPTIM.NOPE"):
        train.setup_cfg(train.build_parser().parse_args(["OPTIM.NOPE", "1"]))
    with pytest.raises(SystemExit, match="KEY VALUE"):
        train.setup_cfg(train.build_parser().parse_args(["OPTIM.LR"]))
    with pytest.raises(SystemExit, match="Config file not found"):
        train.setup_cfg(train.build_parser().parse_args(["--config-file", str(tmp_path / "missing.yaml")]))


def test_train_py_end_to_end_writes_log_config_env(tmp_path):
    out = tmp_path / "run"
    argv = ["--trainer", "ToyTrainer", "--root", str(tmp_path / "data"), "--output-dir", str(out), "--seed", "0",
            "DATASET.NAME", "ToyColours", "INPUT.SIZE", "(8, 8)", "DATALOADER.NUM_WORKERS", "0",
            "OPTIM.MAX_EPOCH", "2", "OPTIM.NAME", "sgd", "OPTIM.LR", "0.05"]
    train.main(train.build_parser().parse_args(argv))
    log = (out / "log.txt").read_text()
    first = log.splitlines()[0]
    assert first == f"Engine: {engine.ENGINE_DESCRIPTION}"
    assert "Setting fixed seed: 0" in log and "Finish training" in log and "* accuracy:" in log
    assert "SEED: 0" in (out / "config.yaml").read_text()
    assert "PyTorch version" in (out / "env.txt").read_text()
    assert (out / "model" / "model.pth.tar-2").is_file()


def test_bad_input_is_one_message_not_a_traceback(tmp_path, capsys):
    argv = ["--trainer", "ZeroshotCLIP", "--root", str(tmp_path), "--output-dir", str(tmp_path / "o"),
            "--dataset-config-file", "configs/datasets/fdrd_dtd.yaml", "TEST.EVALUATOR", "Retrieval"]
    with pytest.raises(SystemExit) as exit_info:
        train.run(argv)
    assert exit_info.value.code == 2
    assert "ERROR: DTD: no train or test caption file" in capsys.readouterr().out
