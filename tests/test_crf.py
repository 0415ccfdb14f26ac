"""The CRF against brute force: every one of the K^L tag sequences of a sentence, scored by hand."""

import itertools

import pytest
import torch
from torch.func import functional_call

from munchables.crf import CRF

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
DEVICES = ["cpu", pytest.param("cuda", marks=CUDA)]
GARBAGE = 1e4  # scale of the values written into padded positions: any leak would dominate

# (K tags, sentence lengths in one batch, seed); K^L stays small enough to enumerate
CASES = [
    (2, [1], 0),
    (2, [6, 1, 3], 1),
    (3, [6], 2),
    (3, [2, 6, 4, 5], 3),
    (4, [5, 5, 3, 1], 4),
    (4, [1, 2], 5),
    (5, [4, 1, 3], 6),
    (5, [2, 4], 7),
]


def make_case(num_tags, lengths, seed, dtype=torch.float64, device="cpu"):
    """A CRF and a padded batch; the padded emissions and tags are large random garbage."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # the CRF's own initialisation
    crf = CRF(num_tags).to(device=device, dtype=dtype)
    with torch.no_grad():  # spread the parameters out so that paths differ clearly
        for p in crf.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=dtype))
    B, T = len(lengths), max(lengths)
    mask = torch.arange(T).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)  # (B, T)
    emissions = torch.randn(B, T, num_tags, generator=gen, dtype=dtype)  # (B, T, K)
    garbage = GARBAGE * torch.randn(B, T, num_tags, generator=gen, dtype=dtype)
    emissions = torch.where(mask.unsqueeze(2), emissions, garbage)
    tags = torch.randint(num_tags, (B, T), generator=gen)  # (B, T)
    tags = torch.where(mask, tags, torch.randint(-100, 100, (B, T), generator=gen))
    return crf, emissions.to(device), tags.to(device), mask.to(device)


def path_score(crf, emissions, path):
    """Eq. 5 written out for one sentence: start + emissions + transitions + end, in Python floats."""
    A, start, end = crf.transitions.tolist(), crf.start.tolist(), crf.end.tolist()
    e = emissions.tolist()
    total = start[path[0]] + end[path[-1]]
    for i, tag in enumerate(path):
        total += e[i][tag]
        if i > 0:
            total += A[path[i - 1]][tag]
    return total


def all_paths(crf, emissions, length):
    """Every tag sequence of one sentence (its first `length` emission rows) with its score."""
    K = emissions.size(-1)
    return [(p, path_score(crf, emissions[:length], p)) for p in itertools.product(range(K), repeat=length)]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-10), (torch.float32, 1e-4)])
@pytest.mark.parametrize("num_tags, lengths, seed", CASES)
def test_log_partition_matches_brute_force(num_tags, lengths, seed, dtype, tol, device):
    crf, emissions, _, mask = make_case(num_tags, lengths, seed, dtype, device)
    log_z = crf.log_partition(emissions, mask)
    assert log_z.shape == (len(lengths),) and log_z.dtype == dtype
    for b, length in enumerate(lengths):
        scores = torch.tensor([s for _, s in all_paths(crf, emissions[b], length)], dtype=torch.float64)
        assert log_z[b].item() == pytest.approx(torch.logsumexp(scores, 0).item(), rel=tol, abs=tol)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("num_tags, lengths, seed", CASES)
def test_decode_matches_brute_force(num_tags, lengths, seed, device):
    crf, emissions, _, mask = make_case(num_tags, lengths, seed, device=device)
    best = crf.decode(emissions, mask)
    assert best.shape == mask.shape and best.dtype == torch.long
    assert (best[~mask] == 0).all(), "padded positions must hold 0"
    best = best.cpu()
    for b, length in enumerate(lengths):
        path, top = max(all_paths(crf, emissions[b], length), key=lambda ps: ps[1])
        assert tuple(best[b, :length].tolist()) == path
        assert path_score(crf, emissions[b], best[b, :length].tolist()) == pytest.approx(top, rel=1e-12)


@pytest.mark.parametrize("num_tags, lengths, seed", CASES)
def test_score_matches_hand_written_loop(num_tags, lengths, seed):
    crf, emissions, tags, mask = make_case(num_tags, lengths, seed)
    scores = crf.score(emissions, tags, mask)
    for b, length in enumerate(lengths):
        expected = path_score(crf, emissions[b], tags[b, :length].tolist())
        assert scores[b].item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("num_tags, lengths, seed", CASES)
def test_nll_is_log_partition_minus_score(num_tags, lengths, seed):
    crf, emissions, tags, mask = make_case(num_tags, lengths, seed)
    nll = crf(emissions, tags, mask)
    assert (nll >= 0).all()
    expected = crf.log_partition(emissions, mask) - crf.score(emissions, tags, mask)
    torch.testing.assert_close(nll, expected, rtol=0, atol=0)


@pytest.mark.parametrize("num_tags, lengths, seed", CASES)
def test_probabilities_of_all_paths_sum_to_one(num_tags, lengths, seed):
    crf, emissions, _, mask = make_case(num_tags, lengths, seed)
    for b, length in enumerate(lengths):
        paths = torch.tensor(list(itertools.product(range(num_tags), repeat=length)))  # (N, L)
        N, T = paths.size(0), mask.size(1)
        tags = torch.zeros(N, T, dtype=torch.long)
        tags[:, :length] = paths
        nll = crf(emissions[b].expand(N, -1, -1), tags, mask[b].expand(N, -1))  # (N,)
        assert torch.exp(-nll).sum().item() == pytest.approx(1.0, rel=1e-10)


def test_gradients_by_gradcheck():
    crf, emissions, tags, mask = make_case(3, [4, 2, 1], seed=11)
    emissions = torch.where(mask.unsqueeze(2), emissions, 0.0)  # keep finite differences sane
    params = {name: p.detach().clone().requires_grad_() for name, p in crf.named_parameters()}
    names = list(params)

    def nll(emissions, *values):
        return functional_call(crf, dict(zip(names, values)), (emissions, tags, mask))

    inputs = (emissions.detach().requires_grad_(), *params.values())
    assert torch.autograd.gradcheck(nll, inputs)


def test_learns_to_decode_a_fixed_sequence():
    torch.manual_seed(0)
    target = torch.tensor([[1, 2, 3, 0, 1, 2], [1, 2, 3, 0, 0, 0]])  # second row: length 4, then padding
    mask = torch.tensor([[True] * 6, [True] * 4 + [False] * 2])
    emissions = torch.randn(2, 6, 4)  # fixed: only the CRF learns
    crf = CRF(4)
    assert not torch.equal(crf.decode(emissions, mask), target)
    optimiser = torch.optim.Adam(crf.parameters(), lr=0.1)
    for _ in range(150):
        optimiser.zero_grad()
        loss = crf(emissions, target, mask).mean()
        loss.backward()
        optimiser.step()
    assert loss.item() < 0.1
    assert torch.equal(crf.decode(emissions, mask), target)


def test_dtype_follows_emissions():
    crf, emissions, tags, mask = make_case(3, [3, 2], seed=12, dtype=torch.float32)
    nll = crf(emissions.double(), tags, mask)
    assert nll.dtype == torch.float64
    nll.sum().backward()
    assert crf.transitions.grad is not None and crf.transitions.grad.dtype == torch.float32


def test_padded_values_do_not_matter():
    crf, emissions, tags, mask = make_case(4, [5, 2, 3], seed=13)
    clean_e = torch.where(mask.unsqueeze(2), emissions, 0.0)
    clean_t = torch.where(mask, tags, 0)
    torch.testing.assert_close(crf(emissions, tags, mask), crf(clean_e, clean_t, mask), rtol=0, atol=0)
    assert torch.equal(crf.decode(emissions, mask), crf.decode(clean_e, mask))


BAD_INPUTS = {  # name: (change to the good inputs, part of the message)
    "emissions 2-d": (lambda e, t, m: (e[0], t, m), r"shape \(B, T, K\)"),
    "wrong K": (lambda e, t, m: (e[..., :2], t, m), "K=2 .* num_tags=3"),
    "no time steps": (lambda e, t, m: (e[:, :0], t[:, :0], m[:, :0]), "at least one time step"),
    "integer emissions": (lambda e, t, m: (e.long(), t, m), "floating-point"),
    "mask shape": (lambda e, t, m: (e, t, m[:, :-1]), r"mask must have shape .* got \(2, 3\)"),
    "mask dtype": (lambda e, t, m: (e, t, m.int()), r"bool .*mask\.bool\(\)"),
    "tags shape": (lambda e, t, m: (e, t[:1], m), r"tags must have shape .* got \(1, 4\)"),
    "tags dtype": (lambda e, t, m: (e, t.int(), m), r"long .*tags\.long\(\)"),
    "empty sentence": (lambda e, t, m: (e, t, torch.tensor([[True] * 4, [False] * 4])), r"bad rows \[1\]"),
    "gap in mask": (lambda e, t, m: (e, t, torch.tensor([[True, False, True, True], [True] * 4])), r"bad rows \[0\]"),
}


@pytest.mark.parametrize("name", BAD_INPUTS)
def test_bad_inputs_raise_value_error(name):
    change, message = BAD_INPUTS[name]
    crf, emissions, tags, mask = make_case(3, [4, 2], seed=14)
    emissions, tags, mask = change(emissions, tags, mask)
    with pytest.raises(ValueError, match=message):
        crf(emissions, tags, mask)
    if not name.startswith("tags"):  # decode takes no tags
        with pytest.raises(ValueError, match=message):
            crf.decode(emissions, mask)


@CUDA
def test_no_host_device_sync_on_cuda():
    crf, emissions, tags, mask = make_case(5, [6, 3, 1], seed=15, dtype=torch.float32, device="cuda")
    emissions.requires_grad_()
    torch.cuda.set_sync_debug_mode("error")
    try:
        crf(emissions, tags, mask).sum().backward()
        crf.decode(emissions, mask)
    finally:
        torch.cuda.set_sync_debug_mode("default")


@pytest.mark.parametrize("num_tags, lengths, seed", CASES)
def test_segment_log_prob_matches_brute_force(num_tags, lengths, seed):
    """P(tags of a segment, and not a given tag right after it) = the probability mass of the paths that do so."""
    crf, emissions, tags, mask = make_case(num_tags, lengths, seed)
    gen = torch.Generator().manual_seed(seed + 100)
    rows, starts, ends, after = [], [], [], []
    for b, length in enumerate(lengths):  # every segment of every sentence, a random tag banned after it or none
        for s in range(length):
            for e in range(s + 1, length + 1):
                rows.append(b), starts.append(s), ends.append(e)
                after.append(int(torch.randint(-1, num_tags, (1,), generator=gen)))
    as_long = lambda xs: torch.tensor(xs, dtype=torch.long)  # noqa: E731
    got = crf.segment_log_prob(emissions, mask, tags, as_long(rows), as_long(starts), as_long(ends), as_long(after))
    assert got.shape == (len(rows),)
    for i, (b, s, e, a) in enumerate(zip(rows, starts, ends, after)):
        paths = all_paths(crf, emissions[b], lengths[b])
        log_z = torch.logsumexp(torch.tensor([sc for _, sc in paths], dtype=torch.float64), 0)
        want = tuple(tags[b, s:e].tolist())
        kept = [sc for p, sc in paths if p[s:e] == want and not (e < lengths[b] and p[e] == a)]
        expected = torch.logsumexp(torch.tensor(kept, dtype=torch.float64), 0) - log_z
        assert got[i].item() == pytest.approx(expected.item(), rel=1e-9, abs=1e-9)
