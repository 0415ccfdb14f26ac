"""The results store: an embedded SQLite database (stdlib sqlite3, WAL mode), one row per trial.

`trials` holds one row per finished trial: what it was (target, method, auxiliary corpora in
order, hyper-parameters, seed, phase, preset), how it went (epochs, wall time, device, the dev F1
curve) and the git commit. `scores` holds its per-corpus, per-split counts (tp, fp, fn) and the
rates derived from them; multi-task trials have a score row for every corpus. `sentence_scores`
holds the same counts per sentence (for the report's paired bootstrap). The view `results` joins
trials and scores.

A trial and its scores are written in one transaction by the driver only, after the trial's
metrics.json exists, so a run killed at any moment leaves either the whole trial or nothing.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from ..errors import UserError
from ..util.files import ensure_dir

SCHEMA = """
CREATE TABLE IF NOT EXISTS trials (
    key TEXT PRIMARY KEY,         -- hash of everything that defines the trial (protocol.Trial.key)
    target TEXT NOT NULL,         -- the target corpus (multi-task: the corpus whose dev F1 it watched)
    method TEXT NOT NULL,         -- single-task ... stack, iter-sort, stack-sort
    aux TEXT NOT NULL,            -- JSON list of auxiliary corpora, in training order
    lr REAL NOT NULL,
    batch_size INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    phase TEXT NOT NULL,          -- dev (selection: trained on train) | final (trained on train + dev)
    preset TEXT NOT NULL,         -- quick | paper | custom
    config TEXT NOT NULL,         -- JSON: the whole trial (epoch cap, train limit, model sizes)
    epochs INTEGER NOT NULL,      -- epochs over all stages
    seconds REAL NOT NULL,        -- wall time of the training and evaluation (resumed: every process's)
    device TEXT NOT NULL,
    git_commit TEXT NOT NULL,
    curve TEXT NOT NULL,          -- JSON list of {stage, epoch, loss, dev_f1} per epoch
    finished_at TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE TABLE IF NOT EXISTS scores (
    key TEXT NOT NULL REFERENCES trials(key),
    corpus TEXT NOT NULL,
    split TEXT NOT NULL,          -- dev | test
    tp INTEGER NOT NULL, fp INTEGER NOT NULL, fn INTEGER NOT NULL,
    precision REAL NOT NULL, recall REAL NOT NULL, f1 REAL NOT NULL,
    PRIMARY KEY (key, corpus, split)
);
CREATE TABLE IF NOT EXISTS sentence_scores (
    key TEXT NOT NULL REFERENCES trials(key),
    corpus TEXT NOT NULL,
    split TEXT NOT NULL,
    counts TEXT NOT NULL,         -- JSON [[tp, fp, fn], ...], one per sentence of the split, in order
    PRIMARY KEY (key, corpus, split)
);
CREATE VIEW IF NOT EXISTS results AS
    SELECT t.key, t.target, t.method, t.aux, t.lr, t.batch_size, t.seed, t.phase, t.preset,
           s.corpus, s.split, s.tp, s.fp, s.fn, s.precision, s.recall, s.f1,
           t.epochs, t.seconds, t.device, t.git_commit
    FROM trials t JOIN scores s ON s.key = t.key;
"""

TRIAL_FIELDS = ("key", "target", "method", "aux", "lr", "batch_size", "seed", "phase", "preset", "config",
                "epochs", "seconds", "device", "git_commit", "curve")
SCORE_FIELDS = ("key", "corpus", "split", "tp", "fp", "fn", "precision", "recall", "f1")


class Store:
    """The SQLite results store at `path` (created with its parents when missing).

    `readonly` opens an existing store for reading only (`munch report`): SQLite's URI mode=ro,
    so nothing is created, no table added and the journal mode left as it is. A reader of a WAL
    database still makes the -wal and -shm files beside it and, being read-only, cannot remove
    them; so when no -wal file is there (no writer is at work: a writer in WAL mode always has
    one) the store is opened `immutable=1` as well, which reads the file alone and leaves nothing
    behind. With a -wal file (a `munch reproduce` writing now) it is read as usual, seeing the
    writer's committed trials; those files are the writer's.
    """

    def __init__(self, path: str | Path, readonly: bool = False):
        self.path = Path(path)
        if self.path.is_dir():
            raise UserError(f"--store {self.path}: is a directory; expected a results store file (SQLite)")
        if readonly:
            if not self.path.is_file():
                raise UserError(f"--store {self.path}: no results store; run `munch reproduce --store {self.path}` first")
            quiet = not Path(f"{self.path}-wal").exists()
            self.db = self._connect(f"{self.path.absolute().as_uri()}?mode=ro" + ("&immutable=1" if quiet else ""), uri=True)
            self._check_tables()
            return
        if self.path.exists() and not self._is_store(self.path):
            raise UserError(f"--store {self.path}: not a munchables results store; give a new file or a store "
                            "`munch reproduce` wrote")
        ensure_dir(self.path.parent, "--store", create=True)
        self.db = self._connect(self.path, timeout=60)
        try:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")  # a committed trial survives a power cut too
            self.db.executescript(SCHEMA)
        except sqlite3.DatabaseError as e:
            self.db.close()
            raise UserError(f"--store {self.path}: cannot write the results store ({e}); give a writable SQLite file") from None

    def _connect(self, target, **kwargs) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(target, **kwargs)
        except sqlite3.Error as e:
            raise UserError(f"--store {self.path}: cannot open the results store ({e})") from None
        db.row_factory = sqlite3.Row
        return db

    @staticmethod
    def _is_store(path: Path) -> bool:
        """Whether an existing file is a results store (or an empty file, which SQLite makes one)."""
        if path.stat().st_size == 0:
            return True
        try:
            db = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
            try:
                names = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
            finally:
                db.close()
        except sqlite3.Error:
            return False
        return not names or {"trials", "scores"} <= names

    def _check_tables(self) -> None:
        try:
            names = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master")}
        except sqlite3.DatabaseError as e:
            self.db.close()
            raise UserError(f"--store {self.path}: not a results store ({e}); give the file `munch reproduce --store` wrote") from None
        if not {"trials", "scores"} <= names:
            self.db.close()
            raise UserError(f"--store {self.path}: an SQLite file but not a munchables results store (no trials "
                            "and scores tables); give the file `munch reproduce --store` wrote")

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def done_keys(self) -> set[str]:
        return {row[0] for row in self.db.execute("SELECT key FROM trials")}

    def record(self, trial: dict, scores: list[dict]) -> bool:
        """Write one trial and its scores in one transaction; False when it was already there."""
        fields = TRIAL_FIELDS + (("finished_at",) if trial.get("finished_at") else ())  # kept when merged
        row = {k: trial[k] for k in fields}
        for k in ("aux", "config", "curve"):
            if not isinstance(row[k], str):
                row[k] = json.dumps(row[k])
        with self.db:  # BEGIN ... COMMIT, or ROLLBACK on any error
            cur = self.db.execute(
                f"INSERT OR IGNORE INTO trials ({', '.join(fields)}) VALUES ({', '.join('?' * len(fields))})",
                [row[k] for k in fields],
            )
            if cur.rowcount == 0:
                return False
            self.db.executemany(
                f"INSERT INTO scores ({', '.join(SCORE_FIELDS)}) VALUES ({', '.join('?' * len(SCORE_FIELDS))})",
                [[trial["key"] if k == "key" else s[k] for k in SCORE_FIELDS] for s in scores],
            )
            self.db.executemany(
                "INSERT INTO sentence_scores (key, corpus, split, counts) VALUES (?, ?, ?, ?)",
                [[trial["key"], s["corpus"], s["split"], json.dumps(s["sentences"], separators=(",", ":"))] for s in scores if "sentences" in s],
            )
        return True

    def copy_trial(self, source: str, key: str, phase: str, config: dict) -> bool:
        """Record trial `key` (its phase and config) with the results of the finished trial `source`,
        which trained the very same model: scores, per-sentence counts, epochs, time, device, curve.
        False when `key` was already there."""
        with self.db:
            cur = self.db.execute(
                "INSERT OR IGNORE INTO trials (key, target, method, aux, lr, batch_size, seed, phase, preset, config, "
                "epochs, seconds, device, git_commit, curve) SELECT ?, target, method, aux, lr, batch_size, seed, ?, "
                "preset, ?, epochs, seconds, device, git_commit, curve FROM trials WHERE key = ?",
                (key, phase, json.dumps(config), source))
            if cur.rowcount == 0:
                return False
            self.db.execute("INSERT INTO scores SELECT ?, corpus, split, tp, fp, fn, precision, recall, f1 FROM scores "
                            "WHERE key = ?", (key, source))
            self.db.execute("INSERT INTO sentence_scores SELECT ?, corpus, split, counts FROM sentence_scores "
                            "WHERE key = ?", (key, source))
        return True

    def merge_from(self, other: str | Path) -> tuple[int, int]:
        """Copy in the trials of another store (a run on another machine) that this one lacks, each
        with its scores and per-sentence counts; returns (copied, already here). A trial's key says
        everything it depends on, so a key found in both is the same trial and is left as it is."""
        source = Store(other, readonly=True)
        try:
            have = self.done_keys()
            trials = source.trials()
            counts = source.sentence_counts()
            new = [t for t in trials if t["key"] not in have]
            for t in new:
                self.record(t, [dict(s) | ({"sentences": counts[(t["key"], corpus, split)]}
                                           if (t["key"], corpus, split) in counts else {})
                                for (corpus, split), s in t["scores"].items()])
        finally:
            source.close()
        return len(new), len(trials) - len(new)

    def sentence_counts(self) -> dict[tuple[str, str, str], list[list[int]]]:
        """{(key, corpus, split): [[tp, fp, fn], ...]} of every trial that has them."""
        tables = {row[0] for row in self.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "sentence_scores" not in tables:  # a store written before the table existed
            return {}
        return {(key, corpus, split): json.loads(counts)
                for key, corpus, split, counts in self.db.execute("SELECT key, corpus, split, counts FROM sentence_scores")}

    def trials(self) -> list[dict]:
        """Every trial with its scores: {..., "aux": [...], "scores": {(corpus, split): {...}}}."""
        out = {}
        for row in self.db.execute("SELECT * FROM trials ORDER BY finished_at, key"):
            t = dict(row)
            for k in ("aux", "config", "curve"):
                t[k] = json.loads(t[k])
            t["scores"] = {}
            out[t["key"]] = t
        for row in self.db.execute("SELECT * FROM scores"):
            s = dict(row)
            out[s["key"]]["scores"][(s["corpus"], s["split"])] = s
        return list(out.values())
