"""The Retrieval evaluator against a naive full-matrix reference and hand-built cases."""
from types import SimpleNamespace

import pytest
import torch

from evaluation.items import Item
from evaluation.ranking import normalize, ranks, ranks_from_scores
from evaluation.retrieval import Retrieval
from plugins import default_cfg


def naive_ranks(queries, gallery, correct):
    """Full fp64 score matrix of features normalised in fp64; sort by (-score, index); rank of
    the first correct item."""
    q, g = normalize(queries, torch.float64), normalize(gallery, torch.float64)
    out = []
    for i in range(len(q)):
        scores = (q[i][None] * g).sum(-1)
        order = sorted(range(len(g)), key=lambda j: (-scores[j].item(), j))
        out.append(min(order.index(c) for c in correct[i]))
    return torch.tensor(out)


def _csr(groups):
    ptr = torch.tensor([0] + [len(g) for g in groups]).cumsum(0)
    return ptr, torch.tensor([i for g in groups for i in g])


def _evaluate(image_feats, items, text_feats, chunk=2048, ks=(1, 5, 10)):
    cfg = default_cfg()
    cfg.TEST.RETRIEVAL.CHUNK = chunk
    cfg.TEST.RETRIEVAL.KS = ks
    cfg.TEST.RETRIEVAL.TEXT_BATCH_SIZE = 7
    ev = Retrieval(cfg)
    for b in range(0, len(items), 5):
        ev.process(image_feats[b:b + 5], items[b:b + 5])
    calls = []

    def encode(batch):
        calls.extend(batch)
        if next(iter(text_feats.values())).dim() == 2:  # word tokens per caption (late interaction)
            return [text_feats[s] for s in batch]
        return torch.stack([text_feats[s] for s in batch])

    res = ev.evaluate(encode)
    assert len(calls) == len(set(calls)) == len(set(text_feats))  # each unique caption encoded once
    assert res.snapshot.items == list(items) and torch.equal(res.snapshot.features, image_feats.float())
    return res


@pytest.mark.parametrize("chunk", [7, 64, 4096])
def test_chunked_ranks_equal_full_matrix_reference(chunk):
    torch.manual_seed(0)
    q, g = torch.randn(150, 16), torch.randn(130, 16)
    correct = [sorted({i % 130, (i * 7) % 130}) for i in range(150)]
    got = ranks(normalize(q), normalize(g), *_csr(correct), chunk=chunk)
    assert torch.equal(got, naive_ranks(q, g, correct))


def test_exact_ties_of_quantised_features_follow_the_index_rule():
    """Different vectors with mathematically equal scores (quantised features): fp32 rounding of
    the normalisation must not decide their order; the lower index wins, as in an fp64 reference."""
    gen = torch.Generator().manual_seed(5)
    mismatched = 0
    for _ in range(20):
        q = torch.randint(-2, 3, (30, 6), generator=gen).float()
        g = torch.randint(-2, 3, (40, 6), generator=gen).float()
        correct = [[int(torch.randint(0, 40, (1,), generator=gen))] for _ in range(30)]
        mismatched += not torch.equal(ranks(q, g, *_csr(correct), chunk=16), naive_ranks(q, g, correct))
    assert mismatched == 0


def test_all_equal_scores_break_ties_by_index():
    q, g = torch.ones(6, 4), torch.ones(6, 4)
    got = ranks(normalize(q), normalize(g), *_csr([[i] for i in range(6)]), chunk=4)
    assert got.tolist() == [0, 1, 2, 3, 4, 5]
    got = ranks(normalize(q), normalize(g), *_csr([[5, 2] for _ in range(6)]), chunk=4)
    assert got.tolist() == [2] * 6  # the best correct item is the lower index among equals


def test_ranks_from_a_score_matrix_follow_the_same_rule():
    """A score matrix (late interaction has no features to dot) gives the ranks of the features'
    dot products, ties included: fails if the target is not the best correct item, if an equal
    score with a lower index is not counted ahead, or if the target counts itself."""
    gen = torch.Generator().manual_seed(3)
    for _ in range(10):
        q = torch.randint(-2, 3, (25, 5), generator=gen).float()
        g = torch.randint(-2, 3, (30, 5), generator=gen).float()
        correct = [sorted({int(torch.randint(0, 30, (1,), generator=gen)) for _ in range(2)}) for _ in range(25)]
        scores = (normalize(q, torch.float64)[:, None] * normalize(g, torch.float64)[None]).sum(-1)  # as naive_ranks
        assert torch.equal(ranks_from_scores(scores, *_csr(correct)), naive_ranks(q, g, correct))
    tied = torch.ones(3, 4)
    assert ranks_from_scores(tied, *_csr([[2], [0], [3, 1]])).tolist() == [2, 0, 1]


def test_evaluator_matches_reference_on_random_features():
    torch.manual_seed(1)
    n, d = 40, 8
    img = torch.randn(n, d)
    caps = [f"caption {i}" for i in range(n)]
    feats = {c: torch.randn(d) for c in caps}
    items = [Item((c,), "X") for c in caps]
    result = _evaluate(img, items, feats, chunk=16, ks=(1, 5))
    res = result.metrics
    txt = torch.stack([feats[c] for c in caps])
    i2t = naive_ranks(img, txt, [[i] for i in range(n)])
    t2i = naive_ranks(txt, img, [[i] for i in range(n)])
    assert res["i2t_R@1"] == pytest.approx(100 * (i2t < 1).float().mean().item())
    assert res["i2t_R@5"] == pytest.approx(100 * (i2t < 5).float().mean().item())
    assert res["t2i_R@5"] == pytest.approx(100 * (t2i < 5).float().mean().item())
    assert res["t2i_medr"] == pytest.approx((t2i + 1).double().median().item() if n % 2 else
                                            ((t2i + 1).double().sort().values[n // 2 - 1:n // 2 + 1].mean().item()))
    assert res["rsum"] == pytest.approx(sum(res[k] for k in res if "_R@" in k))
    assert list(result.per_domain) == ["X"] and result.sizes["X"]["images"] == n
    assert sorted(result.item_ranks["X"]["i2t"]) == sorted(i2t.tolist())


def test_patch_and_word_tokens_are_ranked_by_late_interaction():
    """Images as patch tokens, captions as word tokens (FILIP): the scores of docs/method.md,
    "FILIP" by hand. i2t: A-a 1.0, A-b 0.5, B-a = B-b = 1.0 (B's caption b ranks behind a, the
    lower index); t2i: a-A 1.0, a-B 0.5, b-A = b-B = 1.0 (caption b's image B behind A). Pooled
    features would score B-b above B-a (its mean patch is b's only word)."""
    x, y = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    img = torch.stack([torch.stack([x, y]), torch.stack([x, x])])
    feats = {"a": torch.stack([x, y]), "b": x[None]}
    items = [Item(("a",), "X"), Item(("b",), "X")]
    result = _evaluate(img, items, feats, ks=(1,))
    assert result.item_ranks["X"] == {"i2t": [0, 1], "t2i": [0, 1]}
    assert result.metrics["i2t_R@1"] == result.metrics["t2i_R@1"] == 50.0


def test_asymmetric_case_distinguishes_directions():
    img = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    feats = {"a": torch.tensor([0.9, 0.436]), "b": torch.tensor([0.95, 0.312])}
    items = [Item(("a",), "X"), Item(("b",), "X")]
    res = _evaluate(img, items, feats, ks=(1,)).metrics
    assert res["i2t_R@1"] == 0.0 and res["t2i_R@1"] == 50.0
    assert res["i2t_medr"] == 2.0 and res["t2i_meanr"] == 1.5


def test_several_captions_per_image_and_duplicates():
    e = torch.eye(4)
    # image 0 has captions p and q; images 1 and 2 share the string "dup"; image 3 has r.
    items = [Item(("p", "q"), "X"), Item(("dup",), "X"),
             Item(("dup",), "X"), Item(("r",), "X")]
    img = torch.stack([e[0], e[1], e[1] + 0.01 * e[2], e[3]])
    feats = {"p": e[3] + 0.1 * e[0], "q": e[0], "dup": e[1], "r": e[3]}
    result = _evaluate(img, items, feats, ks=(1, 2))
    res = result.metrics
    # i2t: img0 -> q first (hit@1); img1 -> dup; img2 -> dup (correct for both); img3 -> r
    assert res["i2t_R@1"] == 100.0
    # t2i queries p, q, dup, dup, r: p -> image 3 ranks above image 0 (miss@1, hit@2); others hit@1
    assert res["t2i_R@1"] == 80.0 and res["t2i_R@2"] == 100.0
    assert result.sizes["X"]["duplicate_captions"] == 2 and result.sizes["X"]["captions"] == 5


def test_fp16_features_are_scored_in_fp32():
    torch.manual_seed(2)
    img = torch.randn(20, 8).half()
    caps = [f"c{i}" for i in range(20)]
    feats = {c: torch.randn(8).half() for c in caps}
    items = [Item((c,), "X") for c in caps]
    res16 = _evaluate(img, items, feats).metrics
    res32 = _evaluate(img.float(), items, {c: f.float() for c, f in feats.items()}).metrics
    assert res16 == res32


def test_several_domains_average_unweighted():
    torch.manual_seed(3)
    items, feats, img = [], {}, []
    for dom, n in (("A", 4), ("B", 8)):
        for i in range(n):
            c = f"{dom}{i}"
            feats[c] = torch.randn(6)
            img.append(feats[c] + 0.01 * torch.randn(6))  # near-perfect retrieval
            items.append(Item((c,), dom))
    res = _evaluate(torch.stack(img), items, feats).metrics
    assert res["A/i2t_R@1"] == 100.0 and res["B/i2t_R@1"] == 100.0
    assert res["i2t_R@1"] == pytest.approx((res["A/i2t_R@1"] + res["B/i2t_R@1"]) / 2)
    assert res["i2t_meanr"] == pytest.approx((res["A/i2t_meanr"] + res["B/i2t_meanr"]) / 2)


def test_items_without_the_retrieval_fields_are_refused_by_name():
    ev = Retrieval(default_cfg())
    with pytest.raises(TypeError, match=r"item 1 \(SimpleNamespace\) is not a retrieval item: it lacks domain_name, key"):
        ev.process(torch.zeros(2, 4), [Item(("a",)), SimpleNamespace(captions=("b",))])
    with pytest.raises(TypeError, match="has no caption"):
        ev.process(torch.zeros(1, 4), [Item(())])
