"""evaluation/late_interaction.py: FILIP's token-wise scores against hand-computed values, each
direction on its own axis, padding and special tokens left out, blocks that do not change them."""
import pytest
import torch

from evaluation.late_interaction import token_scores, word_mask

# one image, two unit patch tokens; one caption: start, two words, end of text, padding (2-d features)
PATCHES = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
CAPTION = torch.tensor([[[0.6, 0.8], [1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [0.0, 1.0]]])
EOT = torch.tensor([3])


def test_words_are_the_positions_between_start_and_end_of_text():
    assert word_mask(torch.tensor([3, 1, 5]), 6).tolist() == [[False, True, True, False, False, False],
                                                               [False] * 6,
                                                               [False, True, True, True, True, False]]


def test_scores_by_hand():
    """Words (1, 0) and (0.8, 0.6). i2t: patch (1, 0) best matches 1.0, patch (0, 1) best 0.6 ->
    0.8. t2i: word (1, 0) best patch 1.0, word (0.8, 0.6) best 0.8 -> 0.9. Taking the max over the
    wrong axis swaps the two; letting the start token (0.6, 0.8) or the end/padding (0, 1) in gives
    i2t 0.9 or 1.0."""
    i2t, t2i = token_scores(PATCHES, CAPTION, word_mask(EOT, 5))
    assert i2t.item() == pytest.approx(0.8) and t2i.item() == pytest.approx(0.9)


def test_padding_and_special_tokens_change_nothing():
    mask = word_mask(EOT, 5)
    loud = CAPTION.clone()
    loud[0, 0], loud[0, 3:] = torch.tensor([0.0, 5.0]), torch.tensor([-3.0, 7.0])  # start, end, padding
    assert [s.tolist() for s in token_scores(PATCHES, loud, mask)] == [s.tolist() for s in token_scores(PATCHES, CAPTION, mask)]


def test_blocks_do_not_change_the_scores_and_each_pair_is_its_own():
    g = torch.Generator().manual_seed(0)
    images, texts = torch.randn(7, 5, 8, generator=g), torch.randn(6, 9, 8, generator=g)
    mask = word_mask(torch.tensor([3, 8, 2, 5, 8, 4]), 9)
    whole, blocks = token_scores(images, texts, mask, chunk=100), token_scores(images, texts, mask, chunk=2)
    for a, b in zip(whole, blocks):
        assert torch.allclose(a, b, atol=1e-6)
    single = token_scores(images[3:4], texts[4:5], mask[4:5])
    assert single[0].item() == pytest.approx(whole[0][3, 4].item(), abs=1e-6)
    assert single[1].item() == pytest.approx(whole[1][3, 4].item(), abs=1e-6)
    assert not torch.allclose(whole[0], whole[1])  # the two directions differ


def test_a_caption_without_words_is_refused():
    with pytest.raises(ValueError, match="captions \\[0\\] have no word token"):
        token_scores(PATCHES, CAPTION, word_mask(torch.tensor([1]), 5))
