"""benchmarks/micro/dtr_roles.py: the role of every caption word from FDRDSynth's ground truth."""
from benchmarks.micro.dtr_roles import roles_of, word_weights
from datasets.fdrd.synth_world import distinctive_words
from datasets.text import tokenize, words


def test_roles_of_a_synthetic_caption_by_hand():
    caption = ("This is a photo of Migal.A small red emblem at the left side of the image, "
               "with a striped surface, on a white background. Nothing else can be seen in the image.")
    factors = {"subcategory": "Migal", "colour": "red", "size": "small", "position": "left", "pattern": "striped",
               "background": "white"}
    roles = dict(zip([w for w, _ in words(caption)], roles_of(caption, factors, distinctive_words())))
    assert roles["migal"] == "class name" and roles["red"] == "colour" and roles["small"] == "size"
    assert roles["left"] == "position" and roles["striped"] == "pattern" and roles["white"] == "background"
    assert roles["emblem"] == "noun" and roles["the"] == "function word" and roles["a"] == "function word"
    assert roles["side"] == roles["surface"] == roles["background"] == roles["nothing"] == "other (template, filler)"
    assert roles["."] == roles[","] == "punctuation"


def test_word_weights_average_each_words_pieces():
    import torch

    caption = "a checkered emblem"
    ids = tokenize([caption])[0][0]
    row = torch.ones(77)
    n = [k for _, k in words(caption)]
    row[1] = 2.0
    row[2:2 + n[1]] = torch.linspace(1.0, 1.5, n[1])
    assert word_weights(row, caption)[:2] == [2.0, float(torch.linspace(1.0, 1.5, n[1]).mean())]
    assert int(ids.argmax()) == 1 + sum(n)
