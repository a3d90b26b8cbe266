"""SurMoE network and the discrete-time survival functions (pure PyTorch, CPU float32)."""

import math

import numpy as np
import pytest
import torch
from sksurv.metrics import concordance_index_censored

from radfuse.nn.surmoe import CrossAttention, MoELayer, SurMoENet, chunk_groups
from radfuse.nn.survival import (
    bin_times,
    discrete_time_nll,
    risk_from_survival,
    survival_from_hazards,
    time_bins,
)

LOG3 = math.log(3.0)  # sigmoid(log 3) = 0.75, sigmoid(-log 3) = 0.25


def small_net(block_sizes=(6, 4, 5), chunk=2, **kw):
    torch.manual_seed(0)
    params = dict(d_model=16, n_heads=4, dropout=0.0)
    params.update(kw)
    return SurMoENet(chunk_groups(block_sizes, chunk), **params)


def batch(n=6, block_sizes=(6, 4, 5), seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, sum(block_sizes), generator=g)
    present = torch.rand(n, len(block_sizes), generator=g) > 0.4
    present[:, 0] |= ~present.any(dim=1)  # at least one modality per row
    present[0] = True
    present[1] = torch.tensor([True] + [False] * (len(block_sizes) - 1))
    return zero_absent(x, present, block_sizes), present


def zero_absent(x, present, block_sizes):
    x = x.clone()
    start = 0
    for m, n in enumerate(block_sizes):
        x[~present[:, m], start : start + n] = 0.0
        start += n
    return x


# -- survival functions ---------------------------------------------------------------------------


def test_nll_hand_computed():
    logits = torch.tensor([[0.0, LOG3, -LOG3], [-LOG3, 0.0, 0.0], [LOG3, 0.0, 0.0]])
    bins = torch.tensor([1, 2, 0])
    event = torch.tensor([1, 0, 1])
    # event in bin 1: -log S(0) - log h(1); censored in bin 2: -log S(2); event in bin 0: -log h(0)
    row = [
        -math.log(0.5) - math.log(0.75),
        -math.log(0.75 * 0.5 * 0.5),
        -math.log(0.75),
    ]
    assert discrete_time_nll(logits, bins, event).item() == pytest.approx(sum(row) / 3, rel=1e-6)
    w = torch.tensor([1.0, 2.0, 0.0])
    expected = (row[0] + 2 * row[1]) / 3  # divided by the batch size, as every radfuse loss
    assert discrete_time_nll(logits, bins, event, w).item() == pytest.approx(expected, rel=1e-6)
    # censored in bin 0 only survives bin 0; bool events work as 0/1
    one = discrete_time_nll(logits[:1], torch.tensor([0]), torch.tensor([False]))
    assert one.item() == pytest.approx(-math.log(0.5), rel=1e-6)


def test_nll_stable_for_large_logits():
    logits = torch.tensor([[-200.0, 200.0, 0.0]], requires_grad=True)
    loss = discrete_time_nll(logits, torch.tensor([1]), torch.tensor([1]))
    assert loss.item() == pytest.approx(0.0, abs=1e-6)
    loss.backward()
    assert torch.isfinite(logits.grad).all()
    with pytest.raises(ValueError, match="bin_index"):
        discrete_time_nll(logits, torch.tensor([3]), torch.tensor([1]))


def test_survival_and_risk():
    hazards, surv = survival_from_hazards(torch.tensor([[0.0, LOG3, -LOG3]]))
    torch.testing.assert_close(hazards, torch.tensor([[0.5, 0.75, 0.25]]))
    torch.testing.assert_close(surv, torch.tensor([[0.5, 0.125, 0.09375]]))
    torch.testing.assert_close(risk_from_survival(surv), torch.tensor([-0.71875]))


def test_time_bins_uncensored_quantiles():
    times = [1.0, 2.0, 3.0, 4.0, 5.0, 100.0, 0.5]
    events = [1, 1, 1, 1, 1, 0, 0]  # the censored 100 and 0.5 do not move the cut points
    edges = time_bins(times, events, n_bins=3)
    np.testing.assert_allclose(edges, [-np.inf, 7 / 3, 11 / 3, np.inf])
    # bin j is (edges[j], edges[j + 1]]: a time on a cut point goes to the lower bin
    idx = bin_times([0.5, edges[1], 2.4, edges[2], 4.0, 100.0], edges)
    np.testing.assert_array_equal(idx, [0, 0, 1, 1, 2, 2])
    assert idx.dtype == np.int64
    assert len(time_bins(times, events)) == 5


def test_time_bins_errors():
    with pytest.raises(ValueError, match="uncensored"):
        time_bins([1.0, 2.0], [0, 0])
    with pytest.raises(ValueError, match="tied"):
        time_bins([1.0, 1.0, 1.0, 2.0], [1, 1, 1, 1], n_bins=4)
    with pytest.raises(ValueError, match="row 1"):
        time_bins([1.0, np.nan], [1, 1])
    with pytest.raises(ValueError, match="-inf"):
        bin_times([1.0], [0.0, 1.0, np.inf])


# -- network --------------------------------------------------------------------------------------


def test_shapes_and_layout():
    net = small_net(n_bins=5, n_moe_layers=2).eval()
    assert net.block_sizes == [6, 4, 5]
    assert net.token_modality.tolist() == [0, 0, 0, 1, 1, 2, 2, 2]
    x, present = batch()
    assert net(x, present).shape == (6, 5)
    routing = net.routing(x, present)
    assert len(routing) == 2 * 2 * 3  # (encoder + decoder) x passes x modalities
    assert all(w.shape == (6, 4) for w in routing)
    # overlapping, uneven groups (e.g. by filter family) are fine
    SurMoENet([[[0, 1], [1, 2, 3]], [[0], [1]]], d_model=8, n_heads=2)


def test_input_errors():
    net = small_net().eval()
    x, present = batch()
    with pytest.raises(ValueError, match="no modality"):
        net(x, torch.zeros_like(present))
    bad = x.clone()
    bad[2, 3] = float("nan")
    with pytest.raises(ValueError, match="row 2, column 3"):
        net(bad, present)
    with pytest.raises(ValueError, match=r"shape \(b, 15\)"):
        net(x[:, :10], present)
    with pytest.raises(ValueError, match="modality 1: columns \\[1\\]"):
        SurMoENet([[[0, 1]], [[0], [2]]])
    with pytest.raises(ValueError, match="at least 2"):
        SurMoENet([[[0, 1]]])
    with pytest.raises(ValueError, match="top_k"):
        small_net(top_k=5)


@pytest.mark.parametrize("top_k", [None, 2])
def test_absent_block_values_do_not_matter(top_k):
    net = small_net(top_k=top_k).eval()
    x, present = batch(n=8)
    out = net(x, present)
    noisy = x + 100 * torch.randn(x.shape, generator=torch.Generator().manual_seed(5))
    noisy = torch.where(present.repeat_interleave(torch.tensor(net.block_sizes), dim=1), x, noisy)
    assert not torch.equal(noisy, x)
    assert torch.equal(net(noisy, present), out)


def test_layers_ignore_absent_tokens():
    torch.manual_seed(0)
    tm = torch.tensor([0, 0, 1, 1, 1, 2])
    present = torch.tensor([[True, False, True], [True, True, False], [False, False, True]])
    z = torch.randn(3, 6, 8)
    noisy = z.clone()
    absent = ~present[:, tm]
    noisy[absent] = 50 * torch.randn(int(absent.sum()), 8)
    moe, cross = MoELayer(tm, 3, 8, n_heads=2).eval(), CrossAttention(tm, 3, 8).eval()
    (a, wa), (b, wb) = moe(z, tm, present), moe(noisy, tm, present)
    keep = ~absent
    torch.testing.assert_close(a[keep], b[keep], rtol=0, atol=1e-6)
    torch.testing.assert_close(wa, wb, rtol=0, atol=1e-6)
    torch.testing.assert_close(cross(z, present)[keep], cross(noisy, present)[keep])
    # a modality alone in its row (row 2: modality 2) passes the cross-attention unchanged
    assert torch.equal(cross(z, present)[2, 5], z[2, 5])


def test_rows_are_independent():
    net = small_net().eval()
    x, present = batch(n=7)
    out = net(x, present)
    alone = torch.cat([net(x[i : i + 1], present[i : i + 1]) for i in range(len(x))])
    torch.testing.assert_close(alone, out, rtol=0, atol=1e-6)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(net(x[perm], present[perm]), out[perm], rtol=0, atol=1e-6)


def test_top_k_routing():
    torch.manual_seed(0)
    tm = torch.tensor([0, 0, 1, 1, 1])
    present = torch.tensor([[True, True], [True, False], [False, True], [True, True]])
    z = torch.randn(4, 5, 8)
    dense = MoELayer(tm, 2, 8, n_heads=2).eval()
    w_dense = dense.routing_weights(z, present)
    assert (w_dense > 0).all()
    torch.testing.assert_close(w_dense.sum(1), torch.ones(4))
    for k in (1, 2, 4):
        layer = MoELayer(tm, 2, 8, n_heads=2, top_k=k).eval()
        layer.load_state_dict(dense.state_dict())
        w = layer.routing_weights(z, present)
        assert ((w > 0).sum(1) == k).all()
        # keeping the top k and re-softmaxing = the dense weights renormalised over the top k
        top = w_dense.topk(k, dim=1)
        expected = torch.zeros_like(w_dense).scatter(1, top.indices, top.values)
        torch.testing.assert_close(w, expected / expected.sum(1, keepdim=True))
    hard = MoELayer(tm, 2, 8, n_heads=2, top_k=1).eval()
    hard.load_state_dict(dense.state_dict())
    out, w = hard(z, tm, present)
    experts = dense.experts(z, tm, present)
    chosen = experts[torch.arange(4), w.argmax(1)]
    torch.testing.assert_close(out, chosen)

    x, p = batch()
    net_dense, net_hard = small_net().eval(), small_net(top_k=1).eval()
    assert all(((w == 1) | (w == 0)).all() for w in net_hard.routing(x, p))
    assert not torch.allclose(net_dense(x, p), net_hard(x, p))


def test_gradients_reach_every_parameter():
    net = small_net(dropout=0.1).train()
    x, present = batch(n=10)
    assert not present.all()  # the missing embeddings need an absent block
    logits = net(x, present)
    loss = discrete_time_nll(logits, torch.arange(10) % 4, torch.arange(10) % 3 > 0)
    loss.backward()
    for name, p in net.named_parameters():
        assert p.grad is not None, name
        assert p.grad.abs().sum() > 0, name


def _synthetic(n=96, seed=0):
    rng = np.random.default_rng(seed)
    sizes = (4, 3)
    x = rng.standard_normal((n, sum(sizes))).astype(np.float32)
    score = x[:, 0] + 0.5 * x[:, 4]
    t_event = rng.exponential(np.exp(-score))
    t_cens = rng.exponential(2.0, n)
    times, events = np.minimum(t_event, t_cens), t_event <= t_cens
    present = np.ones((n, 2), dtype=bool)
    present[rng.random(n) < 0.25, 1] = False
    x[~present[:, 1], 4:] = 0.0
    return sizes, x, present, times, events


def test_training_learns_risk():
    sizes, x, present, times, events = _synthetic()
    edges = time_bins(times, events, n_bins=4)
    bins = torch.from_numpy(bin_times(times, edges))
    xt, pt, ev = torch.from_numpy(x), torch.from_numpy(present), torch.from_numpy(events)
    torch.manual_seed(0)
    net = SurMoENet(chunk_groups(sizes, 2), d_model=16, n_heads=4, dropout=0.0)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(120):
        opt.zero_grad()
        loss = discrete_time_nll(net(xt, pt), bins, ev)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-10:]) < 0.9 * np.mean(losses[:10])
    with torch.no_grad():
        risk = risk_from_survival(survival_from_hazards(net.eval()(xt, pt))[1]).numpy()
    cindex = concordance_index_censored(events, times, risk)[0]
    assert cindex > 0.7
