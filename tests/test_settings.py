"""One settings path (settings.py): flags built from the dataclasses, settings built back by name.

The oracle is the dataclass: any value a setting can take, given as its flag, parses back into the
same RunOptions; config.json's "options", --resume and `munch reproduce`'s trials name the settings
the same way.
"""

import subprocess
import sys
from dataclasses import MISSING, asdict
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from munchables import settings as S
from munchables.cli import build_parser
from munchables.experiments.engines import trial_options
from munchables.experiments.protocol import Trial
from munchables.resume import given_options
from munchables.settings import RunOptions

# config.json's "options" as munch train writes them (and has since resume was added, `fetch`
# aside): a run written with these names must resume, so a renamed setting fails here first.
SAVED_OPTION_NAMES = {
    "target", "method", "aux", "aux_order", "iter_switch", "data_dir", "train_limit", "aux_whole", "cache_dir",
    "trust", "train_on_dev", "keep", "lr", "batch_size", "max_epochs", "clip", "patience", "min_lr", "seed",
    "loss_reduction", "word_dim", "char_dim", "char_hidden", "hidden", "dropout", "word_vectors", "charlm_forward",
    "charlm_backward", "charlm_projection", "transformer", "transformer_layers", "fine_tune_transformer", "lstm",
    "types", "split", "split_seed",  # corpora given as documents (data/annotated.py)
}


def _parser(command: str):
    return build_parser().subcommands[command]


def _flagged():
    """(name, field) of every setting munch train sets by a flag."""
    return [(name, f) for name, f, _ in S.leaves(RunOptions) if S._meta(f)["cli"]]


word = st.from_regex(r"[a-z][a-z0-9_.-]{0,7}", fullmatch=True)


def _strategy(name, f):
    m = S._meta(f)
    default = None if f.default is MISSING else f.default
    if m["choices"]:
        return st.sampled_from(m["choices"])
    if isinstance(default, bool):
        return st.booleans()
    if name == "aux":
        return st.none() | st.lists(word, min_size=1, max_size=3)
    if name == "out":
        return word.map(Path)
    if name == "target":
        return word
    base = {int: st.integers(0, 10_000), float: st.floats(1e-4, 10.0)}.get(m["type"] or type(default), word)
    return st.none() | base if default is None else base


@st.composite
def run_options(draw):
    return {name: draw(_strategy(name, f)) for name, f in _flagged()}


def _argv(values: dict) -> list[str]:
    """The flags that set `values`, written from nothing but each setting's flag."""
    argv = []
    for name, value in values.items():
        flag = S.flag(name)
        if isinstance(value, bool):
            if value != S.negated(name):  # a store_true flag sets True, a --no-... flag False
                argv.append(flag)
        elif value is not None:
            argv += [flag, ",".join(value) if isinstance(value, list) else str(value)]
    return argv


@hsettings(max_examples=60, deadline=None)
@given(run_options())
def test_any_settings_given_as_flags_parse_back_into_the_same_run_options(values):
    args = _parser("train").parse_args(_argv(values))
    assert S.from_args(RunOptions, args) == S.build(RunOptions, values)


def test_every_setting_with_a_flag_is_on_munch_train_and_schedule_shares_what_is_trained():
    train = {a.dest for a in _parser("train")._actions}
    schedule = {a.dest for a in _parser("schedule")._actions}
    flagged = {name for name, _ in _flagged()}
    assert flagged <= train
    assert flagged - schedule == {"out", "device", "resume", "overwrite", "keep", "keep_checkpoint", "trace"}


def test_defaults_on_the_command_line_are_the_dataclass_defaults():
    from munchables.cli.train import _run_options

    args = _parser("schedule").parse_args(["--target", "x"])
    # the one default the command line sets apart: munch train fetches unless --no-fetch, the library never asks
    assert _run_options(args) == RunOptions(target="x", fetch=True)
    # and --method: without it, --aux trains iter (the evidence's method for a small target), else single-task
    with_aux = _run_options(_parser("schedule").parse_args(["--target", "x", "--aux", "a,train=t,dev=d,test=e"]))
    assert with_aux == RunOptions(target="x", fetch=True, method="iter", aux=["a", "train=t,dev=d,test=e"])


def test_config_json_options_keep_their_names():
    assert set(given_options(RunOptions(target="x"))) == SAVED_OPTION_NAMES
    assert SAVED_OPTION_NAMES | {"fetch"} <= S.names(RunOptions)  # older config.json files saved fetch


def test_from_flat_refuses_a_name_that_is_no_setting():
    with pytest.raises(KeyError, match="hiden"):
        S.from_flat(RunOptions(target="x"), {"hiden": 3})


def test_resume_takes_the_saved_settings_but_the_flags_given_again_and_the_free_ones():
    from munchables.cli.train import _with_saved

    saved = given_options(RunOptions(target="a", method="conc", aux=["b"], train=S.TrainConfig(lr=0.05),
                                     model=S.ModelConfig(hidden=8, lstm=False))) | {"fetch": True, "future": 1}
    args = _parser("train").parse_args(["--out", "o", "--resume", "--hidden", "16", "--no-fetch", "--device", "cpu"])
    options = _with_saved(S.from_args(RunOptions, args), saved, {"out", "resume", "hidden", "fetch", "device"})
    assert (options.target, options.method, options.aux, options.train.lr) == ("a", "conc", ["b"], 0.05)
    assert (options.model.hidden, options.model.lstm, options.fetch, options.device) == (16, False, False, "cpu")


def test_a_trial_is_trained_with_the_settings_it_names():
    trial = Trial("t", "iter-sort", ("a", "b"), 0.05, 16, 3, "final", "quick", 3, 500, 64, 50, "sum", True)
    payload = asdict(trial) | {"key": trial.key}
    options = trial_options(payload, Path("runs"), "data", "cpu")
    assert options.method == "iter" and options.aux == ["a", "b"] and options.out == Path("runs") / trial.key
    assert (options.train.lr, options.train.batch_size, options.train.seed, options.train.max_epochs,
            options.train.loss_reduction) == (0.05, 16, 3, 3, "sum")
    assert (options.train_limit, options.aux_whole, options.model.hidden, options.model.word_dim) == (500, True, 64, 50)
    assert options.train_on_dev and options.aux_order == "given"
    # a store row written before loss_reduction and aux_whole existed: the settings' defaults
    old = {k: v for k, v in payload.items() if k not in ("loss_reduction", "aux_whole")}
    options = trial_options(old, Path("runs"), "data", "cpu")
    assert (options.train.loss_reduction, options.aux_whole) == ("mean", False)


def test_the_command_line_loads_without_torch():
    # `munch --help` and a mistyped flag answer at once: nothing heavy at import time
    code = ("import sys, munchables.cli as c; c.build_parser().subcommands['train'].format_help(); "
            "heavy = [m for m in ('torch', 'numpy', 'tqdm', 'gensim', 'matplotlib') if m in sys.modules]; "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("argv, message", [
    (["--batch-size", "0"], "--batch-size must be at least 1; got 0"),
    (["--max-epochs", "0"], "--max-epochs must be at least 1; got 0"),
    (["--lr", "0"], "--lr must be positive; got 0.0"),
    (["--lr", "nan"], "--lr must be a finite number; got nan"),
    (["--dropout", "1"], "--dropout must be at least 0 and below 1; got 1.0"),
    (["--dropout", "inf"], "--dropout must be a finite number; got inf"),
    (["--hidden", "0"], "--hidden must be at least 1; got 0"),
    (["--word-dim", "-3"], "--word-dim must be at least 1; got -3"),
    (["--train-limit", "0"], "--train-limit must be at least 1; got 0"),
    (["--method", "nope"], "unknown --method 'nope'; choose one of single-task"),
    (["--embedding-cache", "gpu"], "unknown --embedding-cache 'gpu'"),
])
def test_a_bad_setting_is_refused_naming_its_flag(argv, message):
    from munchables.cli.train import _run_options
    from munchables.errors import UserError

    options = _run_options(_parser("schedule").parse_args(["--target", "x", *argv]))
    with pytest.raises(UserError) as e:
        S.check_settings(options)
    assert str(e.value).startswith(message)


def test_the_defaults_pass_their_own_checks():
    S.check_settings(RunOptions(target="x"))


def test_every_setting_has_its_own_name_across_the_nested_configs():
    # flags, config.json and the trials name the settings flat (lr, not train.lr): a name twice would be ambiguous
    all_names = [name for name, _, _ in S.leaves(RunOptions)]
    assert len(all_names) == len(set(all_names))


def test_a_setting_added_later_is_at_its_default_in_an_older_config_json():
    """Resuming a run saved before --split-seed existed: the missing name is its default, not a change."""
    from munchables.resume import differences

    now = given_options(RunOptions(target="x"))
    older = {k: v for k, v in now.items() if k not in ("types", "split", "split_seed")}
    assert differences(older, now) == []
    assert differences(older, now | {"split_seed": 2}) == ["--split-seed 2 was 1"]
