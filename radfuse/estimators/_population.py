"""Population training: many networks of one architecture trained as one batched fit.

The members' parameters and buffers are stacked (members on the first axis) and every step
runs the estimator's own ``_loss`` once per *call group* under :func:`torch.func.vmap`, through
:func:`torch.func.functional_call` on a member's module (members whose loss-shaping parameters
and layout agree share a call; a step also splits by batch size, e.g. the last short batch).
Each member keeps its own training rows, shuffling generator (seeded as its single fit's),
learning rate, weight decay, epochs, early stopping and history; one :class:`BatchedAdamW`
moves only the members still training. What differs from a single fit: batched kernels sum in
another order (results agree to rounding, not bit for bit), the model's own random draws
(dropout, modality dropout, reparameterisation) come from one population generator instead of
each member's, and ``history_``'s ``seconds`` is the population's epoch time.
"""

from __future__ import annotations

import time
from collections import defaultdict

import torch
from torch.func import functional_call, vmap

from radfuse.estimators._adamw import BatchedAdamW
from radfuse.estimators._device import autocast
from radfuse.estimators._plan import FitPlan, seeded_rng
from radfuse.estimators._training import (
    EarlyStopping,
    FitContext,
    Member,
    ProgressBar,
    check_finite_loss,
    to_numpy,
)

__all__ = [
    "TRAINING_PARAMETERS",
    "build_modules",
    "call_key",
    "signature",
    "train_population",
]

#: Parameters that only steer the loop (not the network nor the loss): members may differ in them.
TRAINING_PARAMETERS = frozenset(
    {
        "lr",
        "weight_decay",
        "max_epochs",
        "batch_size",
        "early_stopping",
        "validation_fraction",
        "n_iter_no_change",
        "tol",
        "class_weight",
        "random_state",
        "progress",
        "device",
    }
)


def call_key(plan: FitPlan) -> str:
    """What a member's loss depends on besides its tensors: members with equal keys share a call."""
    est = plan.estimator
    params = {k: v for k, v in est.get_params(deep=False).items() if k not in TRAINING_PARAMETERS}
    layout = (est.layout_.names, est.layout_.sizes)
    fitted = [getattr(est, a, None) for a in ("input_modalities_", "target_modalities_")]
    return repr((type(est).__name__, sorted(params.items()), layout, fitted, est.n_classes_))


class _Call(torch.nn.Module):
    """A member's loss (or validation loss and output) as a module, for ``functional_call``."""

    def __init__(self, est, module):
        super().__init__()
        self.est, self.m = est, module
        self.ctx = None

    def forward(self, batch, predict: bool):
        loss, parts = self.est._loss(self.m, batch, self.ctx)
        parts = {k: torch.as_tensor(v, device=loss.device).float() for k, v in parts.items()}
        if predict:
            return loss.float(), parts, self.est._predict_output(self.m, batch)
        return loss.float(), parts


class _MemberView:
    """One member's slice of the stacked state, as the ``module`` of an :class:`EarlyStopping`."""

    def __init__(self, state: dict, i: int):
        self.state, self.i = state, i

    def state_dict(self) -> dict:
        return {n: t[self.i] for n, t in self.state.items()}

    @torch.no_grad()
    def load_state_dict(self, state: dict) -> None:
        for n, v in state.items():
            self.state[n][self.i].copy_(v)


def _pad(t: torch.Tensor, n: int) -> torch.Tensor:
    return torch.cat([t, t.new_zeros((n - len(t), *t.shape[1:]))]) if len(t) < n else t


class _Population:
    def __init__(self, plans: list[FitPlan], modules: list, labels: list[str]):
        self.plans, self.labels = plans, labels
        self.device, self.amp_dtype = plans[0].device, plans[0].amp_dtype
        self.members = [Member(m) for m in modules]
        named = [dict(m.named_parameters()) for m in modules]
        self.params = {n: torch.stack([d[n].detach() for d in named]) for n in named[0]}
        bufs = [dict(m.named_buffers()) for m in modules]
        self.buffers = {n: torch.stack([d[n] for d in bufs]) for n in bufs[0]}
        self.state = {**self.params, **self.buffers}
        n_max = max(len(p.rows) for p in plans)
        self.data = {k: torch.stack([_pad(p.data[k], n_max) for p in plans]) for k in plans[0].data}
        keys = [call_key(p) for p in plans]
        first = {k: keys.index(k) for k in dict.fromkeys(keys)}
        self.group = [first[k] for k in keys]  # a member's call group: its first member
        self.calls = {g: _Call(plans[g].estimator, modules[g]) for g in first.values()}
        self.generators = []
        for p in plans:
            g = torch.Generator(device=self.device)
            g.manual_seed(p.shuffle_seed)
            self.generators.append(g)
        # The models' own random draws (modality dropout, ...): one population generator.
        self.draws = torch.Generator(device=self.device)
        self.draws.manual_seed(plans[0].shuffle_seed)

    # -- one batched call --------------------------------------------------------------------
    def _run(self, g: int, members: list[int], rows: torch.Tensor, ctx, predict: bool):
        call = self.calls[g]
        call.ctx = ctx
        if len(members) == len(self.plans):
            state = self.state
        else:
            idx = torch.as_tensor(members, device=self.device)
            state = {n: t[idx] for n, t in self.state.items()}
        sel = torch.as_tensor(members, device=self.device)[:, None]
        batch = {k: v[sel, rows] for k, v in self.data.items()}
        state = {f"m.{n}": t for n, t in state.items()}

        def one(member_state, member_batch):
            return functional_call(call, member_state, (member_batch, predict))

        with autocast(self.device, self.amp_dtype):
            return vmap(one, randomness="different")(state, batch)

    def _modes(self, stage_index: int, train: bool) -> None:
        for g, call in self.calls.items():
            stage = self.plans[g].stages[stage_index]
            call.m.train(train)
            if train and stage.eval_modules:
                for sub in stage.eval_modules(call.m):
                    sub.eval()

    # -- one stage ---------------------------------------------------------------------------
    def run_stage(self, k: int) -> None:
        plans, device = self.plans, self.device
        stage0, mod0 = plans[0].stages[k], self.members[0].module
        chosen = mod0.parameters() if stage0.parameters is None else stage0.parameters(mod0)
        ids = {id(p) for p in chosen}
        names = [n for n, p in mod0.named_parameters() if id(p) in ids]
        if not names:
            raise ValueError(f"training stage {stage0.name!r} has no parameter to train.")
        for n, t in self.params.items():
            t.requires_grad_(n in names)
        stages = [p.stages[k] for p in plans]
        lrs = [p.lr(s) for p, s in zip(plans, stages)]
        opt = BatchedAdamW(
            {n: self.params[n] for n in names}, lrs, [p.estimator.weight_decay for p in plans]
        )
        rows = [p.stage_rows(k) for p in plans]
        tr = [torch.as_tensor(r[0], device=device) for r in rows]
        va = [torch.as_tensor(r[1], device=device) for r in rows]
        epochs = [p.n_epochs(s) for p, s in zip(plans, stages)]
        valid = [
            bool(p.estimator.early_stopping and s.early_stopping and len(r[1]))
            for p, s, r in zip(plans, stages, rows)
        ]
        for i, (m, v) in enumerate(zip(self.members, valid)):
            e = plans[i].estimator
            m.stopper = EarlyStopping(e.tol, e.n_iter_no_change) if v else None
        ctxs = {g: FitContext(plans[g].stages[k], 0, True, self.draws, device) for g in self.calls}
        name = type(plans[0].estimator).__name__
        bar = ProgressBar(
            any(p.estimator.progress for p in plans),
            max(epochs),
            f"{name} population of {len(plans)} {stage0.name}",
        )
        running = [i for i in range(len(plans)) if epochs[i] > 0]
        epoch = 0
        try:
            while running:
                epoch += 1
                t0 = time.perf_counter()
                for ctx in ctxs.values():
                    ctx.epoch = epoch
                train = self._train_epoch(k, opt, running, tr, ctxs)
                checked = self._validate(k, [i for i in running if valid[i]], va, ctxs)
                seconds = time.perf_counter() - t0
                still = []
                for i in running:
                    entry = {"stage": stage0.name, "epoch": epoch, **train[i]}
                    entry.update(checked.get(i, {}))
                    entry["seconds"] = seconds
                    member = self.members[i]
                    member.record(entry)
                    check_finite_loss(entry, name=f"{name} ({self.labels[i]})", lr=lrs[i])
                    stop = valid[i] and member.stopper.step(
                        entry["valid_loss"], _MemberView(self.state, i)
                    )
                    if not stop and epoch < epochs[i]:
                        still.append(i)
                bar.step(self.members[running[0]].history[-1])
                running = still
        finally:
            bar.close()
        for i, m in enumerate(self.members):
            if m.stopper is not None:
                m.stopper.restore(_MemberView(self.state, i))

    def _schedule(self, running: list[int], tr: list) -> list[dict]:
        """Per step, the members of each (call group, batch length)."""
        steps: list[dict] = []
        for i in running:
            n, bs = len(tr[i]), int(self.plans[i].estimator.batch_size)
            for s, start in enumerate(range(0, n, bs)):
                if s == len(steps):
                    steps.append(defaultdict(list))
                steps[s][(self.group[i], start, min(bs, n - start))].append(i)
        return steps

    def _train_epoch(self, k, opt, running, tr, ctxs) -> dict:
        self._modes(k, True)
        for ctx in ctxs.values():
            ctx.training = True
        n_max = max(len(tr[i]) for i in running)
        perm = torch.zeros(len(self.plans), n_max, dtype=torch.int64, device=self.device)
        for i in running:
            g = self.generators[i]
            perm[i, : len(tr[i])] = tr[i][torch.randperm(len(tr[i]), generator=g, device=g.device)]
        sums, names = None, None
        for step in self._schedule(running, tr):
            opt.zero_grad()
            total, done = 0.0, []
            active = torch.zeros(len(self.plans), dtype=torch.bool, device=self.device)
            for (g, start, size), members in step.items():
                idx = torch.as_tensor(members, device=self.device)
                loss, parts = self._run(g, members, perm[idx, start : start + size], ctxs[g], False)
                total = total + loss.sum()
                names = names or list(parts)
                rec = torch.stack([loss.detach(), *(parts[n].detach() for n in names)], dim=1)
                done.append((idx, rec * size))
                active[idx] = True
            total.backward()
            opt.step(active)
            if sums is None:
                sums = torch.zeros(len(self.plans), 1 + len(names), device=self.device)
            for idx, rec in done:
                sums.index_add_(0, idx, rec)
        # The epoch's only host-device sync.
        means = sums.tolist()
        out = {}
        for i in running:
            vals = [v / len(tr[i]) for v in means[i]]
            out[i] = {"train_loss": vals[0], **{f"train_{n}": v for n, v in zip(names, vals[1:])}}
        return out

    @torch.no_grad()
    def _validate(self, k, members, va, ctxs) -> dict:
        if not members:
            return {}
        self._modes(k, False)
        for ctx in ctxs.values():
            ctx.training = False
        groups = defaultdict(list)
        for i in members:
            groups[(self.group[i], len(va[i]))].append(i)
        out = {}
        for (g, _), ids in groups.items():
            rows = torch.stack([va[i] for i in ids])
            loss, parts, pred = self._run(g, ids, rows, ctxs[g], True)
            loss, parts = loss.tolist(), {n: v.tolist() for n, v in parts.items()}
            for j, i in enumerate(ids):
                est, plan = self.plans[i].estimator, self.plans[i]
                p = [o[j] for o in pred] if isinstance(pred, (tuple, list)) else pred[j]
                entry = {"valid_loss": loss[j], **{f"valid_{n}": v[j] for n, v in parts.items()}}
                y = plan.rows.y[plan.stage_rows(k)[1]]
                entry["valid_score"] = est._valid_score(y, to_numpy(p))
                out[i] = entry
        return out

    @torch.no_grad()
    def write_back(self) -> list[Member]:
        """Copy the trained weights into each member's own module."""
        for i, m in enumerate(self.members):
            for n, t in [*m.module.named_parameters(), *m.module.named_buffers()]:
                t.copy_(self.state[n][i])
        return self.members


def build_modules(plans: list[FitPlan]) -> list[torch.nn.Module]:
    """Each plan's network, initialised exactly as its single fit initialises it."""
    modules = []
    for p in plans:
        with seeded_rng(p.device, p.init_seed):
            modules.append(p.estimator._build_module().to(p.device))
    return modules


def signature(plan: FitPlan, module: torch.nn.Module) -> tuple:
    """What members of one population share: class, device, precision, shapes and stages."""
    return (
        type(plan.estimator),
        str(plan.device),
        plan.amp_dtype,
        tuple((k, tuple(v.shape[1:]), v.dtype) for k, v in plan.data.items()),
        tuple(s.name for s in plan.stages),
        tuple((n, tuple(t.shape), t.dtype) for n, t in module.state_dict(keep_vars=True).items()),
        tuple((n, tuple(t.shape), t.dtype) for n, t in module.named_buffers()),
    )


def train_population(plans: list[FitPlan], modules: list, labels: list[str]) -> list[Member]:
    """Train plans of one :func:`signature` as one population; one trained Member per plan.

    ``modules`` are from :func:`build_modules`; ``labels`` name the members in error messages
    (e.g. their position in ``fit_many``).
    """
    for p, label in zip(plans, labels):
        for k in range(len(p.stages)):
            try:
                p.stage_rows(k)
            except ValueError as exc:
                raise ValueError(f"{label}: {exc}") from None
    pop = _Population(plans, modules, labels)
    with seeded_rng(plans[0].device, plans[0].init_seed):
        for k in range(len(plans[0].stages)):
            pop.run_stage(k)
    return pop.write_back()
