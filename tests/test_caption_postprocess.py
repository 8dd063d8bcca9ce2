"""datasets/captioning/postprocess.py: noise filters, repeats, the subcategory name, the token budget."""
import pytest

from datasets.captioning.postprocess import drop_repeats, finalise, fit_budget, insert_name, noise
from datasets.text import encode


@pytest.mark.parametrize("text,why", [("I'm sorry, but I cannot describe this image.", "refusal"),
                                      ("As an AI model I am unable to see the picture clearly here.", "refusal"),
                                      ("### 12 34 !!! ??? ...", "non-text"), ("", "non-text"),
                                      ("A red bird.", "too short"), ("A small red bird sits on a branch.", "")])
def test_noise(text, why):
    assert noise(text) == why


def test_repeated_sentences_are_dropped_and_counted():
    text, n = drop_repeats("A red bird sits. It is small. a red bird  sits. It is small! The sky is blue.")
    assert text == "A red bird sits. It is small. The sky is blue." and n == 2


def test_name_goes_in_as_the_released_files_write_it():
    assert insert_name("A hairless cat lies on a bed.", "Sphynx", "photo") == (
        "This is a photo of Sphynx.A hairless cat lies on a bed.", "")
    assert insert_name("A purple flower.", "globe thistle", "a") == ("This is a globe thistle.A purple flower.", "")
    # inline: whole words only -- the released Pets files turned "scattered" into "s{breed}tered"
    text, repair = insert_name("A fluffy cat lies on scattered cushions; the cat is calm.", "Ragdoll", "inline", ("cat",))
    assert text == "A fluffy Ragdoll lies on scattered cushions; the cat is calm." and repair
    assert insert_name("A Ragdoll on a sofa.", "Ragdoll", "inline", ("cat",)) == ("A Ragdoll on a sofa.", "")
    assert insert_name("A dog runs.", "Ragdoll", "inline", ("cat",))[0] == "This is a photo of Ragdoll.A dog runs."


def test_budget_cuts_at_a_sentence_boundary_and_keeps_the_name():
    long = "This is a photo of Migal." + " ".join(f"Sentence {i} says something about the emblem." for i in range(30))
    out = fit_budget(long, len("This is a photo of Migal."), budget=40)
    assert out.startswith("This is a photo of Migal.Sentence 0") and out.endswith(".") and len(encode(out)) <= 40
    assert len(encode(out + " Sentence 99 says something about the emblem.")) > 40  # as many sentences as fit
    o = finalise(long[len("This is a photo of Migal."):], "Migal", "photo", budget=40)
    assert o.caption == out and o.repairs == ["shortened to the token budget at a sentence boundary"]
    # inline: the sentence naming the class is beyond the budget -> rejected, not written without the name
    o = finalise(" ".join(["A red thing is here."] * 1 + [f"Part {i} of the text is long." for i in range(20)])
                 + " The Migal is red.", "Migal", "inline", ("emblem",), budget=30)
    assert o.caption is None and "subcategory" in o.rejected


def test_finalise_reports_each_repair():
    o = finalise("A small red emblem.  A small red emblem. It is on the left.", "Migal", "photo")
    assert o.caption == "This is a photo of Migal.A small red emblem. It is on the left."
    assert o.repairs == ["repeated sentences removed"]
    assert finalise("I cannot help with that request today.", "Migal", "photo").rejected == "refusal"
