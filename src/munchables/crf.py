"""The linear-chain CRF on top of the BiLSTM: log-likelihood, Viterbi and span marginals, batched and masked.

A linear-chain conditional random field (Lafferty et al. 2001) scores a tag sequence
y = (y_1, ..., y_N) of a sentence by Eq. 5 of the paper (as in Lample et al. 2016):

    s(e, y) = start[y_1] + sum_{i=1..N} P[i, y_i] + sum_{i=1..N-1} A[y_i, y_{i+1}] + end[y_N]

where P are the emission scores from the encoder and A[i, j] is the score of moving from tag i
to tag j; the start and end scores are the transitions out of y_0 = <start> and into
y_{N+1} = <end>. Training minimises the negative log-likelihood log Z - s(e, y), with log Z
computed by the forward algorithm in log space; decoding is Viterbi with backtracking (Eq. 6).
The confidence of a tagged span is its marginal probability from forward-backward (Rabiner 1989;
Culotta & McCallum 2004 score extracted fields of a CRF the same way): the total probability of
every path that carries the span's tags at its positions (and, optionally, not a given tag right
after it), see `segment_log_prob`.

Shapes: B sentences in a batch, T time steps (the longest sentence), K tags. A batch is
padded at the end: ``mask`` (B, T) is a contiguous prefix of True per row, every row has at
least one True. Both recursions loop over time only and carry a sentence's state unchanged
through its padded steps (``torch.where``), so padding never changes a result and no value
ever has to travel from the device to the host.
"""

import torch
from torch import Tensor, nn


class CRF(nn.Module):
    """Linear-chain CRF over K tags: transition scores A[i, j] from tag i to tag j, plus start and end scores.

    Lafferty et al. 2001 for the model, Lample et al. 2016 for its use on top of a BiLSTM with
    start and end transitions. The parameters keep their own dtype; every computation runs in
    the dtype of the emissions.
    """

    def __init__(self, num_tags: int):
        super().__init__()
        if num_tags < 1:
            raise ValueError(f"num_tags must be at least 1; got {num_tags}")
        self.num_tags = num_tags
        # Small uniform values, as in pytorch-crf: no tag or transition is preferred at the start.
        self.transitions = nn.Parameter(torch.empty(num_tags, num_tags).uniform_(-0.1, 0.1))  # shape: (K, K), [from, to]
        self.start = nn.Parameter(torch.empty(num_tags).uniform_(-0.1, 0.1))  # shape: (K,)
        self.end = nn.Parameter(torch.empty(num_tags).uniform_(-0.1, 0.1))  # shape: (K,)

    def extra_repr(self) -> str:
        return f"num_tags={self.num_tags}"

    # ------------------------------------------------------------------ public methods
    def forward(self, emissions: Tensor, tags: Tensor, mask: Tensor) -> Tensor:
        """Negative log-likelihood per sentence, log Z - s(e, y); shape (B,), always >= 0."""
        self._check(emissions, mask, tags)
        return self._log_partition(emissions, mask) - self._score(emissions, tags, mask)  # shape: (B,)

    def score(self, emissions: Tensor, tags: Tensor, mask: Tensor) -> Tensor:
        """Unnormalised score s(e, y) of the given path (Eq. 5 of the paper); shape (B,)."""
        self._check(emissions, mask, tags)
        return self._score(emissions, tags, mask)

    def log_partition(self, emissions: Tensor, mask: Tensor) -> Tensor:
        """log Z, the log-sum-exp of s(e, y) over all K^N paths, by the forward algorithm; shape (B,)."""
        self._check(emissions, mask)
        return self._log_partition(emissions, mask)

    @torch.no_grad()
    def decode(self, emissions: Tensor, mask: Tensor) -> Tensor:
        """Best path by Viterbi with backtracking (Eq. 6 of the paper); shape (B, T) long, padded positions hold 0."""
        self._check(emissions, mask)
        return self._viterbi(emissions, mask)

    @torch.no_grad()
    def segment_log_prob(self, emissions: Tensor, mask: Tensor, path: Tensor, rows: Tensor, starts: Tensor,
                         ends: Tensor, not_after: Tensor) -> Tensor:
        """log P(y[s:e] = path[r, s:e] and y[e] != not_after | emissions) for S segments; shape (S,).

        Segment i is positions starts[i] .. ends[i]-1 of sentence rows[i] (all (S,) long); the
        constraint on the tag right after it applies when ends[i] is before the sentence's end
        and not_after[i] >= 0. For an IOB2 entity B-X I-X ... this is the probability that the
        model puts exactly this entity (type and both boundaries) there: not_after = I-X.
        One forward-backward pass for the batch, then O(1) gathers per segment.
        """
        self._check(emissions, mask, path)
        B, T, K = emissions.shape
        transitions, _, end = self._params(emissions.dtype)
        alpha, beta, log_z = self._forward_backward(emissions, mask)  # (B, T, K), (B, T, K), (B,)
        path = torch.where(mask, path, 0)  # shape: (B, T)
        # the score of each step along the path: A[y_{t-1}, y_t] + P[t, y_t], 0 at t = 0
        emit = emissions.gather(2, path.unsqueeze(2)).squeeze(2)  # shape: (B, T)
        trans = transitions[path[:, :-1], path[:, 1:]]  # shape: (B, T-1)
        step = torch.cat([torch.zeros_like(emit[:, :1]), trans + emit[:, 1:]], dim=1)  # shape: (B, T)
        cum = step.cumsum(dim=1)  # shape: (B, T)
        first_tag = path[rows, starts]  # shape: (S,)
        last_tag = path[rows, ends - 1]  # shape: (S,)
        inner = cum[rows, ends - 1] - cum[rows, starts]  # shape: (S,)  steps starts+1 .. ends-1
        head = alpha[rows, starts, first_tag]  # shape: (S,)  every prefix into the first tag
        # the tail: into the tag after the segment (not `not_after`), then every suffix
        nxt = ends.clamp(max=T - 1)  # shape: (S,)
        cont = transitions[last_tag] + emissions[rows, nxt] + beta[rows, nxt]  # shape: (S, K)
        banned = torch.arange(K, device=emissions.device).unsqueeze(0) == not_after.unsqueeze(1)  # shape: (S, K)
        cont = torch.logsumexp(cont.masked_fill(banned, float("-inf")), dim=1)  # shape: (S,)
        inside = ends < mask.sum(dim=1)[rows]  # shape: (S,)  a real position follows the segment
        tail = torch.where(inside, cont, end[last_tag])  # shape: (S,)
        return head + inner + tail - log_z[rows]  # shape: (S,)

    # ------------------------------------------------------------------ input checks
    def _check(self, emissions: Tensor, mask: Tensor, tags: Tensor | None = None) -> None:
        """Cheap checks at the public boundary: shapes and dtypes only, plus mask[:, 0] (see below)."""
        if emissions.dim() != 3:
            raise ValueError(f"emissions must have shape (B, T, K); got {tuple(emissions.shape)}")
        B, T, K = emissions.shape
        if K != self.num_tags:
            raise ValueError(f"emissions have K={K} tags but the CRF has num_tags={self.num_tags}")
        if T < 1:
            raise ValueError(f"emissions must have at least one time step; got shape {tuple(emissions.shape)}")
        if not emissions.is_floating_point():
            raise ValueError(f"emissions must be a floating-point tensor; got {emissions.dtype}")
        if mask.shape != (B, T):
            raise ValueError(f"mask must have shape (B, T) = {(B, T)} like the emissions; got {tuple(mask.shape)}")
        if mask.dtype != torch.bool:
            raise ValueError(f"mask must be a bool tensor; got {mask.dtype} (use mask.bool())")
        if tags is not None:
            if tags.shape != (B, T):
                raise ValueError(f"tags must have shape (B, T) = {(B, T)} like the emissions; got {tuple(tags.shape)}")
            if tags.dtype != torch.long:
                raise ValueError(f"tags must be a long tensor; got {tags.dtype} (use tags.long())")
        # Every sentence must start at position 0 (length >= 1, padding only at the end). On the
        # CPU this costs microseconds, so we check it, and that each row is a prefix, and name the
        # bad rows. On an accelerator a Python `if` on a tensor would wait for the device, so we
        # only check mask[:, 0] there, asynchronously: a failure surfaces at a later kernel launch.
        if mask.device.type == "cpu":
            bad = ~mask[:, 0] | (mask[:, 1:] & ~mask[:, :-1]).any(dim=1)  # shape: (B,)
            if bad.any():
                rows = bad.nonzero().flatten().tolist()
                raise ValueError(
                    "mask must be a contiguous prefix of True per row with mask[:, 0] True "
                    f"(every sentence has length >= 1, padding only at the end); bad rows {rows[:10]}: "
                    f"{mask[rows[:3]].int().tolist()}"
                )
        else:
            torch._assert_async(mask[:, 0].all(), "CRF: mask[:, 0] must be all True")

    # ------------------------------------------------------------------ the computations
    def _params(self, dtype: torch.dtype) -> tuple[Tensor, Tensor, Tensor]:
        """The parameters in the dtype of the emissions (a no-op when they already match)."""
        return self.transitions.to(dtype), self.start.to(dtype), self.end.to(dtype)

    def _score(self, emissions: Tensor, tags: Tensor, mask: Tensor) -> Tensor:
        """Eq. 5: start + emissions along the path + transitions along the path + end."""
        B, T, K = emissions.shape
        transitions, start, end = self._params(emissions.dtype)
        # Padded tags may hold anything (an ignore index, say): point them at tag 0 so that the
        # gathers below stay in range; their scores are masked out anyway.
        tags = torch.where(mask, tags, 0)  # shape: (B, T)

        emit = emissions.gather(2, tags.unsqueeze(2)).squeeze(2)  # shape: (B, T)
        emit = torch.where(mask, emit, 0.0).sum(dim=1)  # shape: (B,)  where, not *: padding may be inf

        pair = tags[:, :-1] * K + tags[:, 1:]  # shape: (B, T-1)  index of A[y_t, y_{t+1}] in A.flatten()
        trans = transitions.flatten().gather(0, pair.flatten()).view(B, T - 1)  # shape: (B, T-1)
        trans = torch.where(mask[:, 1:], trans, 0.0).sum(dim=1)  # shape: (B,)

        lengths = mask.sum(dim=1)  # shape: (B,)  stays on the device
        last = tags.gather(1, (lengths - 1).unsqueeze(1)).squeeze(1)  # shape: (B,)  tag at the last real position
        return start.gather(0, tags[:, 0]) + emit + trans + end.gather(0, last)  # shape: (B,)

    def _log_partition(self, emissions: Tensor, mask: Tensor) -> Tensor:
        """Forward algorithm in log space: alpha_t[j] = logsumexp_i(alpha_{t-1}[i] + A[i, j]) + P[t, j]."""
        T = emissions.size(1)
        transitions, start, end = self._params(emissions.dtype)
        alpha = start + emissions[:, 0]  # shape: (B, K)
        for t in range(1, T):
            # alpha[b, i] + A[i, j], summed out over the previous tag i
            nxt = torch.logsumexp(alpha.unsqueeze(2) + transitions, dim=1) + emissions[:, t]  # shape: (B, K)
            alpha = torch.where(mask[:, t].unsqueeze(1), nxt, alpha)  # shape: (B, K)  padding: carry alpha
        # alpha now holds each sentence's last real step, so `end` lands at its last position
        return torch.logsumexp(alpha + end, dim=1)  # shape: (B,)

    def _forward_backward(self, emissions: Tensor, mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """alpha[b, t, k]: log-sum of every prefix y_1..y_t with y_t = k (emission t included);
        beta[b, t, k]: log-sum of every suffix after t given y_t = k (end score included); log Z."""
        B, T, K = emissions.shape
        transitions, start, end = self._params(emissions.dtype)
        alphas = [start + emissions[:, 0]]  # each (B, K)
        for t in range(1, T):
            nxt = torch.logsumexp(alphas[-1].unsqueeze(2) + transitions, dim=1) + emissions[:, t]  # shape: (B, K)
            alphas.append(torch.where(mask[:, t].unsqueeze(1), nxt, alphas[-1]))  # padding: carry
        ends = end.expand(B, K)  # shape: (B, K)
        betas = [ends]  # built from t = T-1 down to 0
        for t in range(T - 2, -1, -1):
            # beta_t[i] = logsumexp_j(A[i, j] + P[t+1, j] + beta_{t+1}[j]); at a sentence's last
            # real step (t+1 padding) it is the end score
            nxt = torch.logsumexp(transitions + (emissions[:, t + 1] + betas[-1]).unsqueeze(1), dim=2)  # shape: (B, K)
            betas.append(torch.where(mask[:, t + 1].unsqueeze(1), nxt, ends))
        alpha = torch.stack(alphas, dim=1)  # shape: (B, T, K)
        beta = torch.stack(betas[::-1], dim=1)  # shape: (B, T, K)
        return alpha, beta, torch.logsumexp(alphas[-1] + end, dim=1)

    def _viterbi(self, emissions: Tensor, mask: Tensor) -> Tensor:
        """Viterbi: max instead of logsumexp, backpointers kept, then one backward pass with gather."""
        B, T, K = emissions.shape
        transitions, start, end = self._params(emissions.dtype)
        identity = torch.arange(K, device=emissions.device).expand(B, K)  # shape: (B, K)
        # history[t, b, j]: best previous tag when sentence b is at tag j at step t. At padded
        # steps it is the identity, so backtracking walks through the padding unchanged.
        history = torch.zeros(T, B, K, dtype=torch.long, device=emissions.device)  # shape: (T, B, K)

        best = start + emissions[:, 0]  # shape: (B, K)
        for t in range(1, T):
            real = mask[:, t].unsqueeze(1)  # shape: (B, 1)
            cand, argbest = (best.unsqueeze(2) + transitions).max(dim=1)  # shape: (B, K), (B, K)
            best = torch.where(real, cand + emissions[:, t], best)  # shape: (B, K)  padding: carry
            history[t] = torch.where(real, argbest, identity)  # shape: (B, K)

        path = torch.empty(T, B, dtype=torch.long, device=emissions.device)  # shape: (T, B)
        tag = (best + end).argmax(dim=1)  # shape: (B,)  the best tag at each sentence's last real step
        path[T - 1] = tag
        for t in range(T - 1, 0, -1):
            tag = history[t].gather(1, tag.unsqueeze(1)).squeeze(1)  # shape: (B,)
            path[t - 1] = tag
        return torch.where(mask, path.t(), 0)  # shape: (B, T)
