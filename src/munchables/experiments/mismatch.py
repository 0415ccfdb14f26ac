"""Why the store's trials are not this run's: the store's trial of this preset nearest to each one
planned and not done, and what differs (vectors, flags, libraries).

A trial's key hashes everything that defines it (protocol.Trial.key), the vectors' sha256
included, so a run with other vectors (or a forgotten --aux) finds none of the store's trials
done and would train them all again. `--status` lists such differences and `munch reproduce`
refuses to start them without `--retrain` (docs: README, "Resuming the committed store").

Compared: every trial of the store that this run does not plan, of the same preset name (which carries its overrides, e.g.
`lowres-cpu+max_epochs=180`), target, method, phase and seed; a new preset is a new experiment,
never a mismatch. The libraries that trained a trial are not in its key: a done trial made with
other versions counts as done, and is only mentioned.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, fields

from ..util.progress import duration
from ..util.versions import library_versions
from .protocol import NEEDS_CANDIDATES, Protocol, Trial

FLAGS = {"aux": "--aux", "vectors_sha256": "--word-vectors", "lr": "--lr", "batch_size": "--batch-size",
         "max_epochs": "--max-epochs", "train_limit": "--train-limit", "hidden": "--hidden",
         "loss_reduction": "--loss-reduction"}  # the others come with --preset
COMPARED = tuple(f.name for f in fields(Trial) if f.metadata.get("key", True)
                 and f.name not in ("target", "method", "phase", "seed", "preset"))
TRIAL_LIBRARIES = ("python", "torch", "numpy", "gensim")


def _trials(n: int) -> str:
    return f"{n} trial{'s' if n != 1 else ''} of this run"


def _short(value) -> str:
    if value is None:
        return "none"
    if isinstance(value, str) and len(value) == 64:  # a sha256
        return value[:8] + "..."
    if isinstance(value, (list, tuple)):
        return ",".join(value) or "none"
    return str(value)


def recorded(row: dict, name: str):
    """A field of a store row's trial as the key saw it (fields added later: their default)."""
    default = next(f.default for f in fields(Trial) if f.name == name)
    value = row["config"].get(name, default) if isinstance(row.get("config"), dict) else default
    return list(value) if name == "aux" else value


@dataclass
class Group:
    """Planned trials whose nearest store trial differs in the same fields the same way."""

    differences: tuple  # ((field, store value, yours), ...)
    rows: list = field(default_factory=list)  # the store's nearest trials


@dataclass
class Mismatch:
    groups: list[Group]  # trials left that the store holds made otherwise
    other_libraries: Counter  # (library, store version, yours) -> done trials
    yours: dict  # this process's library versions
    vectors_source: dict | None  # the sidecar of this run's vectors, or None
    vectors: str | None  # this run's --word-vectors

    @property
    def count(self) -> int:
        return sum(len(g.rows) for g in self.groups)

    @property
    def seconds(self) -> float:
        return sum(r.get("seconds") or 0.0 for g in self.groups for r in g.rows)


def find(protocol: Protocol, planned: list[Trial], done: list[dict]) -> Mismatch:
    """The planned trials not done that the store holds, of this preset, made otherwise."""
    done_keys = {t["key"] for t in done}
    planned_keys = {t.key for t in planned}
    by_identity: dict[tuple, list[dict]] = {}
    for row in done:  # the store's trials of this preset that this run does not plan
        if row["preset"] == protocol.preset_name and row["key"] not in planned_keys:
            by_identity.setdefault((row["target"], row["method"], row["phase"], row["seed"]), []).append(row)
    groups: dict[tuple, Group] = {}
    for trial in planned:
        if trial.key in done_keys:
            continue
        candidates = by_identity.get((trial.target, trial.method, trial.phase, trial.seed))
        if not candidates:
            continue
        mine = {n: list(trial.aux) if n == "aux" else getattr(trial, n) for n in COMPARED}
        diffs = {id(r): tuple((n, recorded(r, n), mine[n]) for n in COMPARED if recorded(r, n) != mine[n])
                 for r in candidates}
        nearest = min(candidates, key=lambda r: len(diffs[id(r)]))
        # single-aux finals and the sorted methods choose their corpora from dev results: a plan
        # made before those are in guesses them, so their aux is no difference of inputs
        guessed = trial.method in NEEDS_CANDIDATES and (trial.method != "single-aux" or trial.phase == "final")
        key = tuple((n, _short(a), _short(b)) for n, a, b in diffs[id(nearest)] if n != "aux" or not guessed)
        group = groups.setdefault(key, Group(key))
        if all(r["key"] != nearest["key"] for r in group.rows):
            group.rows.append(nearest)
    yours = library_versions()
    other = Counter((lib, row[lib], yours[lib]) for row in done if row["key"] in planned_keys
                    for lib in TRIAL_LIBRARIES if row.get(lib) and row[lib] != yours[lib])
    return Mismatch([g for g in groups.values() if g.differences], other, yours, protocol.vectors_source,
                    protocol.word_vectors)


def _vectors_line(group: Group, m: Mismatch) -> str:
    """Same text? Same libraries? What the store and the sidecar of this run's vectors say."""
    texts = Counter(r.get("text_sha256") for r in group.rows)
    theirs_text = texts.most_common(1)[0][0]
    mine = m.vectors_source or {}
    mine_text = mine.get("text_sha256")
    if theirs_text and mine_text:
        same = "yes" if theirs_text == mine_text else f"no ({theirs_text[:8]}... there, {mine_text[:8]}... here)"
    else:
        why = [w for w, known in (("the store's trials record no text hash", theirs_text),
                                  (f"{m.vectors} has no sidecar from `munch vectors`", mine_text)) if not known]
        same = f"unknown ({'; '.join(why)})"
    made = next((r["vectors_made_with"] for r in group.rows if isinstance(r.get("vectors_made_with"), dict)), {})
    theirs_v, mine_v = made.get("versions") or {}, mine.get("versions") or {}
    if theirs_v and mine_v:
        libraries = [f"{lib} {theirs_v.get(lib) or 'unknown'} there, {mine_v.get(lib) or 'unknown'} here"
                     for lib in ("gensim", "numpy", "scipy", "blas", "python") if theirs_v.get(lib) != mine_v.get(lib)]
        libraries = libraries or ["made with the same gensim, numpy, scipy, BLAS kernel and Python"]
    else:
        side = {(False, False): "unknown on both sides", (False, True): "unknown there",
                (True, False): "unknown here"}[(bool(theirs_v), bool(mine_v))]
        known = theirs_v or mine_v
        libraries = [f"the libraries that made them: {side}"
                     + (f" ({', '.join(f'{k} {v}' for k, v in sorted(known.items()) if v)} "
                        f"{'there' if theirs_v else 'here'})" if known else "")]
    settings = [f"{k} {made['settings'].get(k)} there, {mine['settings'].get(k)} here"
                for k in sorted(made.get("settings") or {}) if mine.get("settings")
                and made["settings"].get(k) != mine["settings"].get(k)]
    return "same text? " + same + "".join(f"; {x}" for x in libraries + settings)


def describe(m: Mismatch, preset: str, store: str) -> list[str]:
    """Lines for `--status` (empty when nothing differs)."""
    lines = []
    if m.groups:
        lines.append(f"{store} holds {_trials(m.count)} of {preset} made otherwise; they count as not done:")
        for g in m.groups:
            parts = []
            for name, theirs, mine in g.differences:
                flag = FLAGS.get(name, "--preset")
                if name == "vectors_sha256":
                    parts.append(f"made with vectors {theirs}, yours are {mine} ({flag}): {_vectors_line(g, m)}")
                else:
                    parts.append(f"{name} {theirs} there, yours {mine} ({flag})")
            trained = Counter(tuple(r.get(lib) for lib in TRIAL_LIBRARIES) for r in g.rows).most_common(1)[0][0]
            if any(trained):
                parts.append("trained with " + ", ".join(f"{lib} {v or 'unknown'}" for lib, v in zip(TRIAL_LIBRARIES, trained)))
            else:
                parts.append("the store does not record the libraries that trained them")
            lines.append(f"  {len(g.rows)}: " + "; ".join(parts))
        lines.append(f"  `munch reproduce` would train them again (about {duration(m.seconds)} of trial time as "
                     "recorded) and refuses to without --retrain; to resume them instead, run with the inputs they "
                     "were made with")
    if m.other_libraries:
        lines.append("done trials trained with other library versions (they count as done; a trial trained here "
                     "may differ in the last digits): " + "; ".join(
                         f"{n} with {lib} {a} (here {b})" for (lib, a, b), n in sorted(m.other_libraries.items())))
    return lines


def refusal(m: Mismatch, preset: str, store: str) -> str:
    """The one-line error of `munch reproduce` that would train the mismatched trials again."""
    g = max(m.groups, key=lambda g: len(g.rows))
    what = []
    for name, theirs, mine in g.differences:
        if name == "vectors_sha256":
            what.append(f"vectors {theirs} there, yours {mine}: {_vectors_line(g, m)}")
        else:
            what.append(f"{name} {theirs} there, yours {mine} ({FLAGS.get(name, '--preset')})")
    more = f" (and {m.count - len(g.rows)} more made otherwise still)" if m.count > len(g.rows) else ""
    return (f"--store {store} holds {_trials(len(g.rows))} of {preset} made otherwise ({'; '.join(what)}){more}; "
            f"they count as not done and would be trained again (about {duration(m.seconds)} of trial time as "
            "recorded). Run with the inputs they were made with to resume them (`munch reproduce --status` with "
            "the same flags says more), give another --store to start afresh with yours, or add --retrain to train "
            "them with yours in this store (a report then needs the two sets in separate stores)")
