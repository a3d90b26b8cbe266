"""Unit tests of the GMENet torch modules (radfuse.nn.gmenet)."""

import math

import pytest
import torch
import torch.nn.functional as F

from radfuse.nn.gmenet import (
    CGGM,
    DWEFM,
    CrossAttentionGenerator,
    GMENet,
    gaussian_moment_kl,
)
from radfuse.nn.losses import balanced_softmax_loss

SIZES = [5, 7, 3]
PRESENT = torch.tensor(
    [[1, 1, 1], [1, 0, 1], [0, 0, 1], [1, 1, 0], [0, 1, 0], [1, 1, 1]], dtype=torch.bool
)


def _net(**kw):
    torch.manual_seed(0)
    return GMENet(SIZES, [2, 3], d_model=32, n_tokens=4, attn_dim=16, n_heads=2, **kw)


def _blocks(B=6, seed=1):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(B, s, generator=g) for s in SIZES]


def test_shapes_and_outputs():
    net = _net().eval()
    out = net(_blocks(), PRESENT)
    assert [tuple(lg.shape) for lg in out["logits"]] == [(6, 2), (6, 3)]
    for key in ("features", "completed", "generated", "gates"):
        assert out[key].shape == (6, 3, 32)
    assert out["router"].shape == (6, 3)
    assert all(torch.isfinite(lg).all() for lg in out["logits"])


def test_real_features_where_present_generated_only_where_absent():
    net = _net().eval()
    blocks = _blocks()
    out = net(blocks, PRESENT)
    pres = PRESENT.unsqueeze(-1)
    torch.testing.assert_close(out["completed"][PRESENT], out["features"][PRESENT])
    torch.testing.assert_close(out["completed"][~PRESENT], out["generated"][~PRESENT])
    # Generated slots really are generated (non-zero) and present slots were never generated.
    assert (out["generated"][~PRESENT].abs().sum(-1) > 0).all()
    assert (out["generated"] * pres).abs().sum() == 0
    # Whatever sits in an absent block's input never reaches the output.
    garbage = [b.clone() for b in blocks]
    for m, b in enumerate(garbage):
        b[~PRESENT[:, m]] = 1e3
    out2 = net(garbage, PRESENT)
    for a, b in zip(out["logits"], out2["logits"]):
        torch.testing.assert_close(a, b)


def test_generation_false_zero_fills():
    net = _net(generation=False).eval()
    out = net(_blocks(), PRESENT)
    assert out["completed"][~PRESENT].abs().sum() == 0
    torch.testing.assert_close(out["completed"][PRESENT], out["features"][PRESENT])


def test_gates_in_open_unit_interval():
    net = _net().eval()
    out = net(_blocks(), PRESENT)
    g = out["gates"][~PRESENT]
    assert g.numel() > 0 and (g > 0).all() and (g < 1).all()
    assert out["gates"][PRESENT].abs().sum() == 0


@pytest.mark.parametrize("fusion", ["dwefm", "concat"])
def test_router_weights_sum_to_one(fusion):
    net = _net(fusion=fusion).eval()
    w = net(_blocks(), PRESENT)["router"]
    assert (w > 0).all()
    torch.testing.assert_close(w.sum(1), torch.ones(6))
    if fusion == "dwefm":
        # The router depends on the row (not a constant weighting).
        assert w.std(0).max() > 1e-4


def test_dwefm_router_responds_to_presence():
    torch.manual_seed(0)
    fus = DWEFM(3, 8, 8, 8).eval()
    f = torch.randn(4, 3, 8)
    w_all = fus(f, torch.ones(4, 3, dtype=torch.bool))[1]
    w_part = fus(f, torch.tensor([[1, 0, 1]] * 4, dtype=torch.bool))[1]
    assert not torch.allclose(w_all, w_part)


def test_attention_query_receives_gradient_and_masks_keys():
    torch.manual_seed(0)
    gen = CrossAttentionGenerator(3, target=0, d_model=32, n_tokens=4, attn_dim=16, n_heads=2)
    feats = torch.randn(5, 3, 32)
    avail = torch.tensor([[1, 1, 1], [0, 1, 0], [1, 0, 1], [1, 1, 1], [0, 0, 1]], dtype=torch.bool)
    out, _gate, attn = gen(feats, avail, return_attention=True)
    assert attn.shape == (5, 2, 4, 12)
    torch.testing.assert_close(attn.sum(-1), torch.ones(5, 2, 4))
    # Keys of the target (modality 0) and of unavailable modalities get no attention.
    assert attn[..., 0:4].abs().max() == 0
    assert attn[1, ..., 8:12].abs().max() == 0 and attn[2, ..., 4:8].abs().max() == 0
    # The attention is not degenerate: weights vary across the tokens of a source.
    assert attn[0].std(-1).max() > 1e-3
    out.pow(2).sum().backward()
    assert gen.query.grad is not None and gen.query.grad.abs().sum() > 0
    assert gen.query_pos.grad.abs().sum() > 0 and gen.key_pos.grad.abs().sum() > 0


def test_generator_without_any_source_gives_zero_not_nan():
    torch.manual_seed(0)
    gen = CrossAttentionGenerator(2, target=1, d_model=16, n_tokens=4, attn_dim=8, n_heads=2)
    feats = torch.randn(3, 2, 16)
    avail = torch.tensor([[1, 0], [0, 0], [0, 1]], dtype=torch.bool)
    out, _gate = gen(feats, avail)
    assert torch.isfinite(out).all()
    assert out[1].abs().sum() == 0 and out[2].abs().sum() == 0 and out[0].abs().sum() > 0


def test_collapse_guard_pretrain_loss_never_trains_stems():
    net = _net()
    blocks = _blocks(B=16)
    full = torch.ones(16, 3, dtype=torch.bool)
    feats = net.encode(blocks, full)
    loss, parts = net.cggm.pretrain_loss(feats, generator=torch.Generator().manual_seed(0))
    assert set(parts) == {"mse", "kl", "cycle"} and all(float(v) > 0 for v in parts.values())
    loss.backward()
    assert all(p.grad is None for p in net.stems.parameters())
    assert all(p.grad is None for p in net.heads.parameters())
    grads = [p.grad for p in net.cggm.parameters()]
    assert all(g is not None for g in grads) and sum(g.abs().sum() for g in grads) > 0


def test_stage_parameter_groups_partition_the_network():
    net = _net()
    groups = [{id(p) for p in net.stage_parameters(s)} for s in (1, 2, 3)]
    assert groups[1].isdisjoint(groups[0]) and groups[2] <= groups[0]
    assert groups[0] | groups[1] == {id(p) for p in net.parameters()}
    with pytest.raises(ValueError, match="stage"):
        net.stage_parameters(4)


def test_cggm_learns_a_predictable_modality():
    # Modality 1 is a fixed nonlinear function of modality 0: the generator must learn it.
    g = torch.Generator().manual_seed(0)
    f0 = torch.randn(256, 16, generator=g)
    f1 = torch.tanh(f0 @ torch.randn(16, 16, generator=g) / 4)
    f1 = (f1 - f1.mean(0)) / f1.std(0)
    feats = torch.stack([f0, f1], 1)
    torch.manual_seed(0)
    cggm = CGGM(2, 16, n_tokens=4, attn_dim=16, n_heads=2, dropout=0.0)
    opt = torch.optim.AdamW(cggm.parameters(), lr=1e-2)
    for _ in range(150):
        loss, _ = cggm.pretrain_loss(feats, generator=g)
        opt.zero_grad()
        loss.backward()
        opt.step()
    cggm.eval()
    with torch.no_grad():
        pres = torch.tensor([[True, False]]).expand(256, 2)
        _completed, generated, _ = cggm(feats, pres)
    r = torch.corrcoef(torch.stack([generated[:, 1].flatten(), f1.flatten()]))[0, 1]
    assert r > 0.75


def test_balanced_softmax_matches_shifted_cross_entropy_and_masks():
    torch.manual_seed(0)
    logits = torch.randn(6, 3)
    y = torch.tensor([0, 1, 2, -1, 1, 0])
    prior = torch.log(torch.tensor([0.5, 0.3, 0.2]))
    loss = balanced_softmax_loss(logits, y, prior)
    keep = y >= 0
    ref = F.cross_entropy(logits[keep] + prior, y[keep])
    torch.testing.assert_close(loss, ref)
    # A uniform prior gives plain cross-entropy.
    uni = torch.full((3,), -math.log(3))
    torch.testing.assert_close(
        balanced_softmax_loss(logits, y, uni), F.cross_entropy(logits[keep], y[keep])
    )
    # Weighted: a zero weight removes a row.
    w = torch.tensor([1.0, 1.0, 0.0, 1.0, 1.0, 1.0])
    ref_w = F.cross_entropy(logits[[0, 1, 4, 5]] + prior, y[[0, 1, 4, 5]])
    torch.testing.assert_close(balanced_softmax_loss(logits, y, prior, w), ref_w)
    # Nothing labelled: zero, not NaN.
    assert balanced_softmax_loss(logits, torch.full((6,), -1), prior) == 0


def test_multitask_loss_ignores_missing_labels_per_task():
    net = _net().eval()
    out = net(_blocks(), PRESENT)
    y = torch.tensor([[0, 2], [1, -1], [-1, 0], [1, 1], [0, -1], [1, 2]])
    loss = net.classification_loss(out["logits"], y)
    y2 = y.clone()
    y2[:, 1] = torch.where(y[:, 1] < 0, -7, y[:, 1])
    torch.testing.assert_close(loss, net.classification_loss(out["logits"], y2))
    ref = sum(balanced_softmax_loss(out["logits"][t], y[:, t], net.log_prior(t)) for t in range(2))
    torch.testing.assert_close(loss, ref)


def test_gaussian_moment_kl():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(500, 4, generator=g)
    assert gaussian_moment_kl(a, a) < 1e-6
    assert gaussian_moment_kl(a, a * 0.1) > gaussian_moment_kl(a, a * 0.9) > 0


def test_bad_arguments():
    with pytest.raises(ValueError, match="fusion"):
        GMENet(SIZES, [2], fusion="sum")
    with pytest.raises(ValueError, match="n_tokens"):
        GMENet(SIZES, [2], d_model=30, n_tokens=8)
