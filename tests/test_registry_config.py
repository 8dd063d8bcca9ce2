"""Registries and registration by import."""
import pytest

import engine
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


def test_a_name_in_the_wrong_case_gets_the_registered_spelling():
    import plugins

    plugins.load_plugins()
    with pytest.raises(ValueError, match='Did you mean "CoOp"'):  # difflib alone finds nothing for "coop"
        engine.check_registered(engine.TRAINER_REGISTRY, "coop", "trainer")
