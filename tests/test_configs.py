"""trainers/configs.py: the shipped configs' backbones, the hint naming the config that fits, and
the README's table of them (its patterns match the files written for each backbone)."""
import glob
import os
from types import SimpleNamespace

from trainers.configs import CONFIG_ROOT, fit_hint, shipped_configs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _cfg(trainer, backbone):
    return SimpleNamespace(TRAINER=SimpleNamespace(NAME=trainer), MODEL=SimpleNamespace(BACKBONE=SimpleNamespace(NAME=backbone)))


def test_each_shipped_config_names_its_backbone():
    assert shipped_configs("DCAR") == {"configs/trainers/DCAR/synth.yaml": "synth-small",
                                       "configs/trainers/DCAR/vit_b32_ep10_batch32_2ctx.yaml": "ViT-B/32"}
    assert shipped_configs("NoSuchTrainer") == {}


def test_the_hint_names_the_config_written_for_the_backbone():
    assert fit_hint(_cfg("DCAR", "synth-small")) == (
        "With MODEL.BACKBONE.NAME synth-small use --config-file configs/trainers/DCAR/synth.yaml.")
    other = fit_hint(_cfg("DCAR", "/my/clip.pt"))
    assert "No shipped DCAR config is written for /my/clip.pt" in other
    assert "configs/trainers/DCAR/synth.yaml (synth-small)" in other and "vit_b32_ep10_batch32_2ctx.yaml (ViT-B/32)" in other


def test_the_readme_table_names_every_shipped_config_with_its_backbone():
    """Each pattern of the README's table matches configs written for its backbone, and together
    they match every shipped config (a new trainer's configs need no README edit when named so)."""
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    table = readme.split("**Which config for which backbone.**")[1].split("\n\n")[1]
    listed = {}
    for row in table.splitlines()[2:]:
        backbone, configs = (c.strip().strip("`") for c in row.strip("|").split("|"))
        for path in glob.glob(os.path.join(ROOT, configs)):
            listed[os.path.relpath(path, ROOT)] = backbone
    shipped = {p: b for t in os.listdir(CONFIG_ROOT) for p, b in shipped_configs(t).items()}
    assert listed == shipped
