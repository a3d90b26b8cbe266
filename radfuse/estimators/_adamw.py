"""AdamW over stacked parameters: one optimiser for a population of networks.

Every tensor has the members on its first axis. Each member has its own learning rate, weight
decay and step count, and only the members in the step's ``active`` mask move: plain AdamW would
decay the weights and carry the momentum of a member that has finished (its gradient is zero,
not absent), so the whole update of an inactive member is masked, and its moments and step
count stay as they were. The arithmetic is torch's single-tensor AdamW (decoupled weight decay,
``betas=(0.9, 0.999)``, ``eps=1e-8``, its defaults), per member.
"""

from __future__ import annotations

import torch

__all__ = ["BatchedAdamW"]

BETA1, BETA2, EPS = 0.9, 0.999, 1e-8


class BatchedAdamW:
    """AdamW of ``params`` (``{name: (P, ...) tensor}``), members on the first axis.

    Parameters
    ----------
    params : dict of Tensor
        The stacked tensors this optimiser updates (``requires_grad``; a tensor whose ``grad``
        is None after backward is skipped, as torch's AdamW skips it).
    lr, weight_decay : sequence of float, one per member
    """

    def __init__(self, params: dict, lr, weight_decay):
        first = next(iter(params.values()))
        self.params = params
        self.lr = torch.as_tensor(lr, dtype=torch.float64, device=first.device)
        self.wd = torch.as_tensor(weight_decay, dtype=torch.float64, device=first.device)
        self.steps = torch.zeros(len(self.lr), dtype=torch.float64, device=first.device)
        self.moments = {n: (torch.zeros_like(p), torch.zeros_like(p)) for n, p in params.items()}

    def zero_grad(self) -> None:
        for p in self.params.values():
            p.grad = None

    @torch.no_grad()
    def step(self, active: torch.Tensor) -> None:
        """One update of the members where ``active`` (bool, one per member) is True."""
        on = active.to(torch.float64)
        self.steps += on
        steps = self.steps.clamp_min(1.0)
        # Per member, as torch computes them in Python floats; 0 for an inactive member.
        decay = 1.0 - self.lr * self.wd * on
        step_size = self.lr / (1.0 - BETA1**steps) * on
        bc2_sqrt = (1.0 - BETA2**steps).sqrt()
        keep2 = torch.where(active, BETA2, 1.0)
        new2 = (1.0 - BETA2) * on
        for n, p in self.params.items():
            g = p.grad
            if g is None:
                continue
            shape = (-1,) + (1,) * (p.dim() - 1)

            def per(t, shape=shape, dtype=p.dtype):
                return t.to(dtype).view(shape)

            m1, m2 = self.moments[n]
            p.mul_(per(decay))
            m1.lerp_(g, per((1.0 - BETA1) * on))
            # The operand order of torch's addcmul_ / addcdiv_ (value * t1, then * or / t2).
            m2.mul_(per(keep2)).addcmul_(g * per(new2), g)
            denom = (m2.sqrt() / per(bc2_sqrt)).add_(EPS)
            p.addcdiv_(m1 * per(-step_size), denom)
