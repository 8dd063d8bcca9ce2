"""trainers.backbones.names: the table of published weights is well formed, and every name a
user may type resolves to one row or one legacy file."""
import re

from trainers.backbones import convert, names


def test_rows_are_well_formed():
    for name, row in names.PUBLISHED.items():
        assert re.fullmatch(r"[\w.-]+/[\w.-]+", row.repo), name
        assert row.file in ("open_clip_model.safetensors", "open_clip_pytorch_model.bin"), name
        assert row.revision == "" or re.fullmatch(r"[0-9a-f]{40}", row.revision), name
        assert row.sha256 == "" or re.fullmatch(r"[0-9a-f]{64}", row.sha256), name
        assert row.activation in convert.ACTIVATIONS and len(row.mean) == len(row.std) == 3, name


def test_activations_follow_the_training_recipe():
    """OpenAI trained with QuickGELU; LAION-2B and DataComp runs of open_clip with exact GELU."""
    for name, row in names.PUBLISHED.items():
        want = convert.QUICK_GELU if row.repo.endswith(".openai") else convert.GELU
        assert row.activation == want, name


def test_every_name_resolves_to_a_row_or_a_legacy_file():
    for name in names.all_names():
        c = names.canonical(name)
        assert names.is_known(name) and (c in names.PUBLISHED or names.legacy(c) or c == "synth-small"), name
    assert names.canonical("ViT-B-16:openai") == "ViT-B/16" and names.legacy("ViT-B/16").file == "ViT-B-16.pt"
    assert names.legacy("ViT-B/16").sha256.startswith("5806e77c")  # from the clip package's table of old URLs
    assert not names.is_known("ViT-B-16:laion400m_e31")  # not in the table: refused, never guessed


def test_every_row_is_pinned_and_list_says_which_hashes_are_not_published():
    lines = names.describe()
    assert len(lines) == len(names.all_names()) + 2  # + hf-hub: and local paths
    assert all(row.revision for row in names.PUBLISHED.values())
    unhashed = [line.split()[0] for line in lines if "sha256 not published" in line]
    assert unhashed == [n for n, r in names.PUBLISHED.items() if not r.sha256]
    assert {"RN50", "ViT-L/14@336px"} <= set(names.PUBLISHED)  # the RN and 336-px names have hub rows
    assert names.PUBLISHED["ViT-L/14"].sha256.startswith("9ce2e8a8")  # three public records agree


def test_a_revision_with_safetensors_is_read_as_safetensors():
    """Where a pinned revision publishes open_clip_model.safetensors, the row reads it, not the pickle."""
    for name in ("ViT-B-16:laion2b_s34b_b88k", "ViT-B-32:datacomp_xl_s13b_b90k", "RN50"):
        assert names.PUBLISHED[name].file == "open_clip_model.safetensors", name
