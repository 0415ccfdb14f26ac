"""The results store: an embedded SQLite database (stdlib sqlite3, WAL mode), one row per trial.

`trials` holds one row per finished trial: what it was (target, method, auxiliary corpora in
order, hyper-parameters, seed, phase, preset), how it went (epochs, wall time, device, the dev F1
curve), the git commit, and what it was made from beyond its key (schema 2): the library versions
of the process that trained it and where its word vectors came from (the text's sha256 and the
libraries that trained them, from `munch vectors`' sidecar). `scores` holds its per-corpus,
per-split counts (tp, fp, fn) and the rates derived from them; multi-task trials have a score row
for every corpus. `sentence_scores` holds the same counts per sentence (for the report's paired
bootstrap). The view `results` joins trials and scores.

A trial and its scores are written in one transaction by the driver only, after the trial's
metrics.json exists, so a run killed at any moment leaves either the whole trial or nothing; a
write that does not land raises (never INSERT OR IGNORE, which also swallows NOT NULL failures).

The schema's version is SQLite's `PRAGMA user_version` (0 in stores written before it was set,
which are schema 1). A store of schema 1 is brought to this version in place when it is opened
for writing (columns added, unknown values NULL); a store of a newer version, or one whose tables
hold columns this version does not know, is refused before anything is read or written.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from pathlib import Path

from ..errors import UserError
from ..util import locks
from ..util.files import ensure_dir

SCHEMA_VERSION = 2  # 1: before the inputs columns (user_version 0); 2: + vectors_sha256 ... gensim

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
    finished_at TEXT NOT NULL DEFAULT (datetime('now')),
    vectors_sha256 TEXT,          -- the word vectors' sha256 (also in the key); NULL: no vectors
    text_sha256 TEXT,             -- sha256 of the text the vectors were trained from; NULL: unknown
    vectors_made_with TEXT,       -- JSON: libraries and settings that trained the vectors; NULL: unknown
    python TEXT,                  -- versions in the process that trained the trial; NULL: unknown
    torch TEXT,
    numpy TEXT,
    gensim TEXT
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
# Added in schema 2, NULL where unknown (trials recorded before, or merged from older stores).
INPUT_FIELDS = ("vectors_sha256", "text_sha256", "vectors_made_with", "python", "torch", "numpy", "gensim")
SCORE_FIELDS = ("key", "corpus", "split", "tp", "fp", "fn", "precision", "recall", "f1")
JSON_FIELDS = ("aux", "config", "curve", "vectors_made_with")
COLUMNS = {  # every column each table has in this version
    "trials": set(TRIAL_FIELDS) | {"finished_at"} | set(INPUT_FIELDS),
    "scores": set(SCORE_FIELDS),
    "sentence_scores": {"key", "corpus", "split", "counts"},
}


class Store:
    """The SQLite results store at `path` (created with its parents when missing).

    `readonly` opens an existing store for reading only (`munch report`, `--status`, a store
    merged from): SQLite's URI mode=ro, so nothing is created, no table added, no column migrated
    and the journal mode left as it is. A reader of a WAL database still makes the -wal and -shm
    files beside it and, being read-only, cannot remove them; so when no -wal file is there (no
    writer is at work) the store is opened `immutable=1` as well and leaves nothing behind.
    `name` is how messages name the store ("--store", or "" for a path given as an argument).
    """

    def __init__(self, path: str | Path, readonly: bool = False, name: str = "--store"):
        self.path = Path(path)
        self.label = f"{name} {self.path}" if name else str(self.path)
        self.readonly = readonly
        if self.path.is_dir():
            raise UserError(f"{self.label}: is a directory; expected a results store file (SQLite)")
        if readonly:
            if not self.path.is_file():
                raise UserError(f"{self.label}: no results store; run `munch reproduce --store {self.path}` first")
            self.db = self._open_readonly()
            self._check_schema()
            return
        self._check_writable()
        ensure_dir(self.path.parent, "--store", create=True)
        self.db = self._connect(self.path, timeout=60)
        self._check_schema()
        try:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")  # a committed trial survives a power cut too
            with self.db:
                self.db.executescript(SCHEMA)
                self._migrate()
        except sqlite3.DatabaseError as e:
            self.db.close()
            raise UserError(f"{self.label}: cannot write the results store ({e}); give a writable SQLite file") from None

    # --- opening ---------------------------------------------------------------------------

    def _connect(self, target, **kwargs) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(target, **kwargs)
        except sqlite3.Error as e:
            raise UserError(f"{self.label}: cannot open the results store ({e})") from None
        db.row_factory = sqlite3.Row
        return db

    def _open_readonly(self) -> sqlite3.Connection:
        """mode=ro; in a directory we cannot write, where SQLite cannot make the WAL index (-shm)
        a WAL store needs, `immutable=1` (nothing can change it from here either) unless its
        write-ahead log still holds trials not yet in the file."""
        uri = self.path.absolute().as_uri()
        if not self.path.with_name(self.path.name + "-wal").exists():  # no writer at work: the file alone, no -wal/-shm left
            return self._connect(f"{uri}?mode=ro&immutable=1", uri=True)
        db = self._connect(f"{uri}?mode=ro", uri=True)
        try:
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return db
        except sqlite3.OperationalError:
            if os.access(self.path.parent, os.W_OK):
                db.close()
                raise
        except sqlite3.DatabaseError:
            return db  # not a database: _check_schema says so in one line
        db.close()
        wal = self.path.with_name(self.path.name + "-wal")
        if wal.exists() and wal.stat().st_size:
            raise UserError(f"{self.label}: its directory {self.path.parent} is read-only and its write-ahead log "
                            f"({wal.name}) holds trials not yet in the file; copy the store with its -wal file to a "
                            "writable directory and read it there")
        return self._connect(f"{uri}?mode=ro&immutable=1", uri=True)

    def _check_writable(self) -> None:
        """A store we cannot write says so (SQLite's own words, "unable to open database file",
        or a failed probe, read like "not a results store")."""
        parent = next((p for p in [self.path.parent, *self.path.parent.parents] if p.exists()), None)
        if parent is not None and parent.is_dir() and not os.access(parent, os.W_OK):
            raise UserError(f"{self.label}: the directory {parent} is read-only, and SQLite writes its journal "
                            "beside the store; copy the store to a writable directory (`munch report` can read it "
                            "where it is)")
        if self.path.exists() and not os.access(self.path, os.W_OK):
            raise UserError(f"{self.label}: the file is read-only; make it writable (chmod u+w) or copy it, "
                            "for `munch reproduce` and `merge-stores` write to it (`munch report` only reads)")

    def _check_schema(self) -> None:
        """Refuse what is not a store of this version, in one line, before anything is read or written."""
        try:
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            tables = {r[0]: r[1] for r in self.db.execute("SELECT name, type FROM sqlite_master")}
            columns = {t: {r[1] for r in self.db.execute(f"PRAGMA table_info({t})")} for t in COLUMNS if t in tables}
        except sqlite3.DatabaseError as e:
            self.db.close()
            raise UserError(f"{self.label}: not a results store ({e}); give the file `munch reproduce --store` "
                            "wrote") from None
        if version > SCHEMA_VERSION:
            self.db.close()
            raise UserError(f"{self.label}: written by a newer munchables (store schema version {version}; this "
                            f"munchables reads versions 1 to {SCHEMA_VERSION}); upgrade munchables to read or add "
                            "to it")
        if not tables and not self.readonly:
            return  # a new (or empty) file: the schema is created
        if not {"trials", "scores"} <= set(tables):
            self.db.close()
            raise UserError(f"{self.label}: an SQLite file but not a munchables results store (no trials and scores "
                            "tables); give the file `munch reproduce --store` wrote")
        for table, have in columns.items():
            unknown = sorted(have - COLUMNS[table])
            missing = sorted((COLUMNS[table] - set(INPUT_FIELDS)) - have)
            if unknown or missing:
                self.db.close()
                what = (f"columns this version does not know ({', '.join(unknown)}): written by a newer munchables "
                        "or another program; upgrade munchables" if unknown else
                        f"no column {', '.join(missing)}: not a store munchables wrote")
                raise UserError(f"{self.label}: table {table} has {what} (store schema version {version or 1})")

    def _migrate(self) -> None:
        """Bring a schema-1 store to this version in place: the inputs columns added, NULL where
        unknown except the vectors' sha256, which every trial's config holds."""
        have = {r[1] for r in self.db.execute("PRAGMA table_info(trials)")}
        for column in INPUT_FIELDS:
            if column not in have:
                self.db.execute(f"ALTER TABLE trials ADD COLUMN {column} TEXT")
        if "vectors_sha256" not in have:
            self.db.execute("UPDATE trials SET vectors_sha256 = json_extract(config, '$.vectors_sha256') "
                            "WHERE json_valid(config)")
        self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextlib.contextmanager
    def _reading(self):
        """A damaged file (a torn page, a truncated copy) read as one line, not sqlite's traceback."""
        try:
            yield
        except sqlite3.DatabaseError as e:
            raise UserError(f"{self.label}: cannot read the results store ({e}); it is damaged: restore it from a "
                            "copy (the committed one: git checkout)") from None

    # --- writing ---------------------------------------------------------------------------

    def _write(self, key: str, write) -> bool:
        """Run `write(db)` in one transaction; a failure says which trial and leaves nothing of it."""
        try:
            with self.db:  # BEGIN ... COMMIT, or ROLLBACK on any error
                return write(self.db)
        except sqlite3.Error as e:
            raise UserError(f"{self.label}: could not record trial {key} ({e}); nothing of it was written (a "
                            "trial's results stay in its trial directory: the next run records them)") from None

    def _has(self, db, key: str) -> bool:
        return db.execute("SELECT 1 FROM trials WHERE key = ?", (key,)).fetchone() is not None

    @staticmethod
    def _landed(db, key: str, scores: int, sentences: int) -> None:
        """Every row of trial `key` is there (a trigger or a foreign schema could drop one silently)."""
        found = (db.execute("SELECT count(*) FROM trials WHERE key = ?", (key,)).fetchone()[0],
                 db.execute("SELECT count(*) FROM scores WHERE key = ?", (key,)).fetchone()[0],
                 db.execute("SELECT count(*) FROM sentence_scores WHERE key = ?", (key,)).fetchone()[0])
        if found != (1, scores, sentences):
            raise sqlite3.IntegrityError(f"wrote 1 trial, {scores} score and {sentences} sentence rows; found "
                                         f"{found[0]}, {found[1]} and {found[2]}")

    def done_keys(self) -> set[str]:
        with self._reading():
            return {row[0] for row in self.db.execute("SELECT key FROM trials")}

    def record(self, trial: dict, scores: list[dict]) -> bool:
        """Write one trial and its scores in one transaction; False when it was already there.

        Raises UserError when the write did not land whole (nothing of the trial is left then)."""
        fields = TRIAL_FIELDS + tuple(k for k in INPUT_FIELDS if trial.get(k) is not None) \
            + (("finished_at",) if trial.get("finished_at") else ())  # kept when merged
        row = {k: trial[k] for k in fields}
        for k in JSON_FIELDS:
            if k in row and not isinstance(row[k], str):
                row[k] = json.dumps(row[k])
        sentences = [[trial["key"], s["corpus"], s["split"], json.dumps(s["sentences"], separators=(",", ":"))]
                     for s in scores if "sentences" in s]

        def write(db) -> bool:
            if self._has(db, trial["key"]):
                return False
            db.execute(f"INSERT INTO trials ({', '.join(fields)}) VALUES ({', '.join('?' * len(fields))})",
                       [row[k] for k in fields])
            db.executemany(f"INSERT INTO scores ({', '.join(SCORE_FIELDS)}) VALUES ({', '.join('?' * len(SCORE_FIELDS))})",
                           [[trial["key"] if k == "key" else s[k] for k in SCORE_FIELDS] for s in scores])
            db.executemany("INSERT INTO sentence_scores (key, corpus, split, counts) VALUES (?, ?, ?, ?)", sentences)
            self._landed(db, trial["key"], len(scores), len(sentences))
            return True

        return self._write(trial["key"], write)

    def copy_trial(self, source: str, key: str, phase: str, config: dict) -> bool:
        """Record trial `key` (its phase and config) with the results of the finished trial `source`,
        which trained the very same model: scores, per-sentence counts, epochs, time, device, curve,
        inputs. False when `key` was already there."""
        copied = ", ".join(c for c in TRIAL_FIELDS + INPUT_FIELDS if c not in ("key", "phase", "config"))

        def write(db) -> bool:
            if self._has(db, key):
                return False
            db.execute(f"INSERT INTO trials (key, phase, config, {copied}) SELECT ?, ?, ?, {copied} FROM trials "
                       "WHERE key = ?", (key, phase, json.dumps(config), source))
            n = db.execute("INSERT INTO scores SELECT ?, corpus, split, tp, fp, fn, precision, recall, f1 FROM scores "
                           "WHERE key = ?", (key, source)).rowcount
            m = db.execute("INSERT INTO sentence_scores SELECT ?, corpus, split, counts FROM sentence_scores "
                           "WHERE key = ?", (key, source)).rowcount
            self._landed(db, key, max(n, 1), m)  # a trial without a score row would be no result at all
            return True

        return self._write(key, write)

    def fill_vectors_source(self, vectors_sha256: str, source: dict) -> int:
        """Give the trials made with vectors `vectors_sha256` that do not say where those came from
        the sidecar of these very bytes (embeddings.provenance); how many were filled."""
        made_with = json.dumps({k: source[k] for k in ("settings", "versions") if k in source})

        def write(db) -> int:
            return db.execute("UPDATE trials SET text_sha256 = ?, vectors_made_with = ? WHERE vectors_sha256 = ? "
                              "AND text_sha256 IS NULL AND vectors_made_with IS NULL",
                              (source.get("text_sha256"), made_with, vectors_sha256)).rowcount

        return self._write(f"made with vectors {vectors_sha256[:8]}", write)

    def merge_from(self, other: str | Path) -> tuple[int, int]:
        """Copy in the trials of another store (a run on another machine) that this one lacks, each
        with its scores and per-sentence counts; returns (copied, already here), counting only
        trials really written. A trial's key says everything it depends on, so a key found in
        both is the same trial and is left as it is."""
        with Store(other, readonly=True, name="") as source:
            trials = source.trials()
            counts = source.sentence_counts()
        copied = 0
        for t in trials:
            copied += self.record(t, [dict(s) | ({"sentences": counts[(t["key"], corpus, split)]}
                                                 if (t["key"], corpus, split) in counts else {})
                                      for (corpus, split), s in t["scores"].items()])
        return copied, len(trials) - copied

    # --- reading ---------------------------------------------------------------------------

    def sentence_counts(self) -> dict[tuple[str, str, str], list[list[int]]]:
        """{(key, corpus, split): [[tp, fp, fn], ...]} of every trial that has them."""
        with self._reading():
            tables = {row[0] for row in self.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if "sentence_scores" not in tables:  # a store written before the table existed
                return {}
            rows = self.db.execute("SELECT key, corpus, split, counts FROM sentence_scores").fetchall()
        return {(key, corpus, split): self._json(counts, key, "sentence_scores.counts") for key, corpus, split, counts in rows}

    def trials(self) -> list[dict]:
        """Every trial with its scores: {..., "aux": [...], "scores": {(corpus, split): {...}}};
        the inputs columns None where unknown (also in a schema-1 store read as it is)."""
        out = {}
        with self._reading():
            trial_rows = self.db.execute("SELECT * FROM trials ORDER BY finished_at, key").fetchall()
            score_rows = self.db.execute("SELECT * FROM scores").fetchall()
        for row in trial_rows:
            t = dict.fromkeys(INPUT_FIELDS) | dict(row)
            for k in JSON_FIELDS:
                if t[k] is not None:
                    t[k] = self._json(t[k], t["key"], k)
            t["scores"] = {}
            out[t["key"]] = t
        for row in score_rows:
            s = dict(row)
            if s["key"] not in out:
                raise UserError(f"{self.label}: scores of trial {s['key']}, which the store does not hold; it is "
                                "damaged: restore it from a copy")
            out[s["key"]]["scores"][(s["corpus"], s["split"])] = s
        return list(out.values())

    def _json(self, text, key: str, field: str):
        try:
            return json.loads(text)
        except (TypeError, ValueError) as e:
            raise UserError(f"{self.label}: trial {key}: {field} is not JSON ({e}); the store is damaged: restore "
                            "it from a copy") from None


# --- one driver per store ------------------------------------------------------------------


def lock_path(store: str | Path) -> Path:
    store = Path(store)
    return store.with_name(store.name + ".lock")


def hold(store: str | Path, label: str = "--store"):
    """Hold `<store>.lock` (util/locks.py) for one `munch reproduce`: a second run on the same store
    would train the same trials twice."""
    return locks.refusing(lock_path(store), lambda pid: (
        f"{label} {store}: another `munch reproduce` (pid {pid}) is running on this store; wait for it to finish "
        f"(`munch reproduce --status` shows its progress) or stop it (kill {pid}), then run again"))


def holder(store: str | Path) -> str | None:
    """The pid of the `munch reproduce` holding the store now, or None."""
    return locks.holder(lock_path(store))
