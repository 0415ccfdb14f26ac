"""Which of a model's heads are fit to tag with, and the words that say so.

A model trained with auxiliary corpora has a CRF head per corpus, but with every method except
multi-task the auxiliary heads are trained only as helpers: their updates serve the shared layers,
and training stops when the *target's* loss stops improving (the paper's rule), however little the
helpers have learnt. After the README's iter example (chemicals as an auxiliary corpus) the
chemical head scored dev F1 0.09 and found no chemical in real abstracts. So `munch train` scores
every head on its own corpus's dev set at the end (`heads` in metrics.json and model.pt), and
`munch predict` warns when it is asked to tag with a head below FIT_F1. To tag several
types well: train with `--method multi-task` (every head is a target), or train one model per type.
"""

from __future__ import annotations

FIT_F1 = 0.5  # dev F1 below this: a head not fit to tag with (a rule of thumb: half its entities wrong or missed)

ROLES = {
    "target": "the target",
    "multi-task": "trained as a task of its own (multi-task)",
    "auxiliary": "an auxiliary head, trained only as a helper",
}


def describe(heads: dict[str, dict]) -> str:
    """One line per head: `ncbi-disease  dev F1 0.5687  the target  fit to tag with`."""
    width = max(map(len, heads), default=0)
    lines = []
    for name, h in heads.items():
        verdict = "fit to tag with" if h["dev_f1"] >= FIT_F1 else f"NOT fit to tag with (dev F1 below {FIT_F1:.2f})"
        lines.append(f"  {name:<{width}}  dev F1 {h['dev_f1']:.4f}  {ROLES.get(h['role'], h['role'])}; {verdict}")
    return "\n".join(lines)


def unfit(heads: dict[str, dict], chosen: list[str], target: str) -> str | None:
    """The warning for tagging with `chosen` heads of which some, besides the target, scored below FIT_F1;
    None if none did. (The target's own F1 is the run's result, printed at its end.)"""
    low = [h for h in chosen if h != target and h in heads and heads[h]["dev_f1"] < FIT_F1]
    if not low:
        return None
    named = ", ".join(f"{h} (dev F1 {heads[h]['dev_f1']:.2f}{', a helper' if heads[h]['role'] == 'auxiliary' else ''})"
                      for h in low)
    if any(heads[h]["role"] == "auxiliary" for h in low):
        advice = (f"auxiliary heads were trained only as helpers for {target}, until {target} stopped improving. "
                  "To tag these types, train with --method multi-task (every corpus a task of its own) or train a "
                  "model per type with it as --target (README, 'A tagger for several entity types')")
    else:
        advice = "they were trained as tasks of their own but have not learnt enough: train longer (--max-epochs) or on more sentences"
    return f"heads not fit to tag with: {named}; their entities will be mostly wrong or missing; {advice}"
