"""datasets.negatives: category and attribute swaps, checked on hand-written captions."""
import random

import pytest

from datasets.negatives import (
    AttributeMode,
    AttributeVocabulary,
    ClassForm,
    attribute_swaps,
    build_negatives,
    category_swaps,
    item_rng,
    same_meaning,
)

CARDINAL = ClassForm("cardinal", "cardinal")
OTHERS = [ClassForm("blue jay", "blue_jay"), ClassForm("house sparrow", "house sparrow"), CARDINAL]


def test_category_swaps_replace_every_occurrence_whole_word_and_never_keep_the_class():
    caption = "A Cardinal perched; the cardinal's crest. Cardinals? no: cardinalfish."
    out = category_swaps(caption, CARDINAL, OTHERS, 5, random.Random(0), {caption})
    assert sorted(out) == sorted([
        "A blue jay perched; the blue jay's crest. Cardinals? no: cardinalfish.",
        "A house sparrow perched; the house sparrow's crest. Cardinals? no: cardinalfish."])  # only 2 others


def test_category_swaps_keep_the_underscore_spelling_of_the_occurrence():
    jay = ClassForm("blue jay", "blue_jay")
    out = category_swaps("a blue_jay and a Blue Jay", jay, [CARDINAL, ClassForm("wren", "wren")], 2,
                         random.Random(1), set())
    assert set(out) == {"a cardinal and a cardinal", "a wren and a wren"}


def test_no_category_negative_when_the_caption_does_not_name_the_class():
    assert category_swaps("a red bird", CARDINAL, OTHERS, 3, random.Random(0), set()) == []


def test_attribute_swap_changes_one_word_of_its_kind_and_keeps_case_and_class():
    caption = "Red bird, small, on the left"
    out = attribute_swaps(caption, [], 50, random.Random(0), {caption})
    by_kind = {}
    for text, kind in out:
        changed = [(a, b) for a, b in zip(caption.replace(",", "").split(), text.replace(",", "").split()) if a != b]
        assert len(changed) == 1 and len(text.split()) == len(caption.split())
        by_kind.setdefault(kind, set()).add(changed[0])
    assert by_kind["position"] == {("left", "right")}
    assert ("Red", "Blue") in by_kind["colour"] and all(b[0].isupper() for _, b in by_kind["colour"])
    assert ("small", "large") in by_kind["size"] and len(by_kind) == 3


def test_lexicon_attribute_swaps_never_swap_in_a_near_synonym():
    """A synonym "negative" describes the image truly (fails if the lexicon generator offers "big"
    for "large" or "furry" for "fluffy", as it did before issue 42, or only drops gray/grey)."""
    caption = "a large fluffy golden dog"
    out = {text for text, _ in attribute_swaps(caption, [], 500, random.Random(0), {caption})}
    for word, synonyms in (("large", ("big",)), ("fluffy", ("furry", "fuzzy")), ("golden", ("yellow",))):
        assert not [t for t in out for s in synonyms if caption.replace(word, s) == t], word
    assert "a huge fluffy golden dog" in out and "a large fluffy golden cat" not in out


def test_attribute_swaps_leave_the_protected_class_name_alone():
    caption = "a blue jay on a red branch"
    out = attribute_swaps(caption, [(2, 10)], 50, random.Random(0), set())
    assert out and all(text.startswith("a blue jay on a ") for text, _ in out)


def test_released_negatives_filtered_and_topped_up():
    caption = "a cardinal on a red branch"
    released = ("a blue jay on a red branch", caption, "a blue jay on a red branch", "a cardinal in snow")
    neg = build_negatives(caption, released, CARDINAL, OTHERS, 2, 1, random.Random(0))
    assert neg.category == ("a blue jay on a red branch", "a house sparrow on a red branch")
    assert neg.released_dropped == 3 and neg.class_found
    assert len(neg.attribute) == 1 and neg.attribute_kinds == ("colour",) and "cardinal" in neg.attribute[0]


def test_each_item_has_its_own_reproducible_rng():
    assert item_rng(1, "Birds", "a.jpg").random() == item_rng(1, "Birds", "a.jpg").random()
    assert item_rng(1, "Birds", "a.jpg").random() != item_rng(2, "Birds", "a.jpg").random()
    assert item_rng(1, "Birds", "a.jpg").random() != item_rng(1, "Birds", "b.jpg").random()


SYNTH = ["This is a Dunvel.A medium blue emblem with a smooth surface is shown at the right side of the image "
         "on a white background.",
         "This is a Dunvel.A large red emblem with a checkered surface is shown at the left side of the image "
         "on a black background.",
         "This is a Tisros.A small green emblem with a striped surface is shown at the left side of the image "
         "on a gray background."]
DUNVEL, TISROS = ClassForm("dunvel", "Dunvel"), ClassForm("tisros", "Tisros")


def test_vocabulary_is_mined_from_the_domain_and_never_offers_a_synonym():
    vocab = AttributeVocabulary.mine(SYNTH + ["a big grey bird", "a little bird", "a bird in the foreground"],
                                     extra=("size:medium",))
    assert vocab.replacements("blue") == ["black", "gray", "green", "grey", "red", "white"]
    assert "grey" not in vocab.replacements("gray")  # the same colour in other letters
    assert vocab.replacements("large") == ["little", "medium", "small"]  # never "big"; "medium" from config
    assert vocab.replacements("right") == ["left"]
    assert vocab.replacements("background") == vocab.replacements("foreground") == []  # the scene, not a place
    assert "purple" not in vocab.used  # never said in the domain: never swapped in
    with pytest.raises(ValueError, match="write it as 'kind:word'"):
        AttributeVocabulary.mine(SYNTH, extra=("medium",))


@pytest.mark.parametrize("words", [1, 2])
def test_domain_swaps_change_exactly_the_configured_words_keep_the_class_and_stay_in_domain(words):
    vocab = AttributeVocabulary.mine(SYNTH, extra=("size:medium",))
    mode = AttributeMode(vocab, words, tuple(SYNTH[:2]))
    for seed in range(20):
        neg = build_negatives(SYNTH[0], (), DUNVEL, [TISROS], 1, 3, random.Random(seed), mode)
        assert len(neg.attribute) == 3
        for text, kind, (old, new) in zip(neg.attribute, neg.attribute_kinds, neg.attribute_edits):
            changed = [(a, b) for a, b in zip(SYNTH[0].split(), text.split()) if a != b]
            assert len(changed) == words and text.startswith("This is a Dunvel.")
            assert new in vocab.used and not same_meaning(old, new)
            assert len(kind.split("+")) <= words


def test_domain_swaps_draw_the_kind_uniformly():
    """One position word and four colour words: the lexicon mode rarely picks the position (one
    alternative against many colours); the domain mode picks each kind half of the time."""
    caption = "red, blue, green and white stripes on the left"
    vocab = AttributeVocabulary.mine([caption, "black marks on the right"])
    kinds = [build_negatives(caption, (), DUNVEL, [], 0, 1, random.Random(s), AttributeMode(vocab)).attribute_kinds[0]
             for s in range(400)]
    assert 0.4 < kinds.count("position") / len(kinds) < 0.6
    legacy = [build_negatives(caption, (), DUNVEL, [], 0, 1, random.Random(s)).attribute_kinds[0] for s in range(400)]
    assert legacy.count("position") / len(legacy) < 0.1


def test_sentence_fallback_and_released_cap():
    caption = "This is a Dunvel.It looks nice. It is on display."
    same = ("This is a Dunvel.It sits on a shelf.", caption)
    mode = AttributeMode(AttributeVocabulary.mine(SYNTH), 1, same)
    neg = build_negatives(caption, ("a Tisros.", "a Tisros!", "a Tisros?"), DUNVEL, [TISROS], 2, 1,
                          random.Random(0), mode)
    assert neg.category == ("a Tisros.", "a Tisros!")  # released negatives capped at the configured number
    assert neg.attribute_kinds == ("sentence",) and neg.attribute[0] in (
        "This is a Dunvel.It sits on a shelf. It is on display.", "This is a Dunvel.It looks nice. It sits on a shelf.")
    legacy = build_negatives(caption, ("a Tisros.", "a Tisros!", "a Tisros?"), DUNVEL, [TISROS], 2, 1, random.Random(0))
    assert len(legacy.category) == 3 and legacy.attribute == ()  # the first implementation, kept as it was
