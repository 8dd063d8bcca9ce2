"""reporting.identity: which keys change results, and how two configurations differ."""
from reporting.identity import differences, flatten, group_key, run_key


def test_flatten_nested_and_tuples():
    assert flatten({"A": {"B": (1, 2), "C": {"D": "x"}}, "E": 0}) == {"A.B": [1, 2], "A.C.D": "x", "E": 0}


def test_differences_name_result_keys_only_and_absent_keys():
    saved = {"OPTIM.LR": 0.05, "TRAIN.PRINT_FREQ": 10, "OLD.KEY": 1}
    now = {"OPTIM.LR": 0.1, "TRAIN.PRINT_FREQ": 20, "NEW.KEY": "x"}
    assert differences(saved, now) == ["NEW.KEY: saved (absent), now 'x'", "OLD.KEY: saved 1, now (absent)",
                                       "OPTIM.LR: saved 0.05, now 0.1"]


def test_a_key_the_saved_run_predates_counts_as_its_default():
    defaults = {"NEW.KEY": "lexicon"}
    assert differences({"A": 1}, {"A": 1, "NEW.KEY": "lexicon"}, defaults=defaults) == []
    assert differences({"A": 1}, {"A": 1, "NEW.KEY": "domain"}, defaults=defaults) == [
        "NEW.KEY: saved 'lexicon', now 'domain'"]
    assert differences({"A": 1, "NEW.KEY": "domain"}, {"A": 1, "NEW.KEY": "lexicon"}, defaults=defaults) == [
        "NEW.KEY: saved 'domain', now 'lexicon'"]  # a saved value is never replaced by the default


def test_group_key_ignores_seed_domains_and_non_result_keys():
    a = {"OPTIM.LR": 0.1, "SEED": 1, "DATASET.FDRD.DOMAINS": ["DTD"], "OUTPUT_DIR": "a"}
    b = {"OPTIM.LR": 0.1, "SEED": 2, "DATASET.FDRD.DOMAINS": ["Caltech101"], "OUTPUT_DIR": "b"}
    assert group_key(a) == group_key(b) != group_key({**a, "OPTIM.LR": 0.2})


def test_run_key_tells_seeds_and_domains_apart_but_not_where_a_run_was_written():
    a = {"OPTIM.LR": 0.1, "SEED": 1, "DATASET.FDRD.DOMAINS": ["DTD"], "OUTPUT_DIR": "a"}
    assert run_key(a) == run_key({**a, "OUTPUT_DIR": "b", "VERBOSE": False})
    assert len({run_key(a), run_key({**a, "SEED": 2}), run_key({**a, "DATASET.FDRD.DOMAINS": []})}) == 3
    assert group_key(a) == "0e0aa05cde"  # unchanged by run_key's arrival: averaged groups keep their keys


def test_a_run_is_identified_by_its_own_trainer_node_not_the_others():
    """Adding a trainer adds its node to every config: a CoOp run's identity must not change (fails
    if other trainers' nodes count), its own node must count, and a trainer the table does not know
    keeps every node (its node is not known here)."""
    coop = {"TRAINER.NAME": "CoOp", "TRAINER.COOP.N_CTX": 4, "TRAINER.TEXT_TRIM": True, "SEED": 1}
    with_more = {**coop, "TRAINER.DCAR.CATE.LAMBDA": 2.0, "TRAINER.MAPLE.N_CTX": 2}
    assert run_key(with_more) == run_key(coop) and group_key(with_more) == group_key(coop)
    assert run_key({**coop, "TRAINER.COOP.N_CTX": 8}) != run_key(coop)
    assert run_key({**coop, "TRAINER.TEXT_TRIM": False}) != run_key(coop)  # keys of every trainer count
    unknown = {**coop, "TRAINER.NAME": "Mine"}
    assert run_key({**unknown, "TRAINER.DCAR.CATE.LAMBDA": 2.0}) != run_key(unknown)
