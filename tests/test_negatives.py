"""datasets.negatives: category and attribute swaps, checked on hand-written captions."""
import random

from datasets.negatives import ClassForm, attribute_swaps, build_negatives, category_swaps, item_rng

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
