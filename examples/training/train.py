#!/usr/bin/env python3
"""Train a softmax-regression classifier on the UCI handwritten digits.

This is runctl's example job. It needs nothing but a Python 3.8+ standard
library, so it runs unchanged on a fresh EC2 instance and on a laptop, and it
behaves like a real training job: one flushed line per epoch, a checkpoint and
metrics.json written atomically after every epoch, resume from the checkpoint,
and a clean checkpoint-and-exit on SIGTERM (what a spot interruption notice
turns into on the instance).

    python3 train.py --epochs 3
    python3 train.py --epochs 5 --sleep-per-epoch 30   # a long job to interrupt
    python3 train.py --epochs 3 --fail-at-epoch 2      # a job that fails

--epochs is the total to reach, not a count to add: after a run of
--epochs 1, a run of --epochs 3 resumes from epoch 1 and trains epochs 2 and 3.

Exit status: 0 done, 2 bad arguments or data, 3 failed on purpose
(--fail-at-epoch), 143 stopped by SIGTERM, 130 stopped by SIGINT.
"""

import argparse
import csv
import gzip
import json
import math
import os
import random
import signal
import sys
import tempfile
import time
from operator import mul

NUM_FEATURES = 64
NUM_CLASSES = 10
PIXEL_MAX = 16.0
TEST_FRACTION = 0.2
CHECKPOINT_NAME = "checkpoint.json"
METRICS_NAME = "metrics.json"
CHECKPOINT_FORMAT = "runctl-digits-softmax/1"

EXIT_USAGE = 2
EXIT_FAILED_ON_PURPOSE = 3


class UsageError(Exception):
    """A problem with the arguments or the data that the caller can fix."""


def main(argv=None):
    args = parse_args(argv)
    stop = StopFlag()
    stop.install()
    try:
        return run(args, stop)
    except UsageError as err:
        print("train.py: error: %s" % err, file=sys.stderr, flush=True)
        return EXIT_USAGE


def parse_args(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(
        description="Train a softmax classifier on the UCI digits data set.")
    p.add_argument("--data", default=os.path.join(here, "data", "digits.csv.gz"),
                   help="CSV (optionally gzip'd) of 64 pixels and a label per row "
                        "(default: data/digits.csv.gz beside this script)")
    p.add_argument("--epochs", type=positive_int, default=10,
                   help="total number of epochs to reach (default 10)")
    p.add_argument("--lr", type=positive_float, default=1.0,
                   help="learning rate (default 1.0)")
    p.add_argument("--batch-size", type=positive_int, default=16,
                   help="examples per gradient step (default 16)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed for the train/test split and shuffling (default 0)")
    p.add_argument("--output-dir",
                   default=os.environ.get("RUNCTL_OUTPUT_DIR") or "outputs",
                   help="where checkpoint.json and metrics.json go "
                        "(default $RUNCTL_OUTPUT_DIR, else ./outputs)")
    # BooleanOptionalAction would do this in one line, but it needs 3.9.
    p.add_argument("--resume", dest="resume", action="store_true",
                   help="resume from the checkpoint in --output-dir if any (default)")
    p.add_argument("--no-resume", dest="resume", action="store_false",
                   help="start from scratch, replacing any checkpoint")
    p.set_defaults(resume=True)
    p.add_argument("--fail-at-epoch", type=positive_int, default=None, metavar="N",
                   help="exit with status 3 after epoch N (to demonstrate failure)")
    p.add_argument("--sleep-per-epoch", type=non_negative_float, default=0.0,
                   metavar="SECONDS",
                   help="sleep this long inside each epoch (to demonstrate long jobs)")
    return p.parse_args(argv)


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1, got %s" % text)
    return value


def positive_float(text):
    value = float(text)
    if not value > 0 or math.isinf(value):
        raise argparse.ArgumentTypeError("must be a positive number, got %s" % text)
    return value


def non_negative_float(text):
    value = float(text)
    if not value >= 0 or math.isinf(value):
        raise argparse.ArgumentTypeError("must be zero or more, got %s" % text)
    return value


def run(args, stop):
    xs, ys = load_digits(args.data)
    train_idx, test_idx = split_indices(len(xs), args.seed)
    train = ([xs[i] for i in train_idx], [ys[i] for i in train_idx])
    test = ([xs[i] for i in test_idx], [ys[i] for i in test_idx])
    log("loaded %d rows from %s: %d train, %d test (seed %d)"
        % (len(xs), args.data, len(train_idx), len(test_idx), args.seed))

    os.makedirs(args.output_dir, exist_ok=True)
    state = start_state(args)

    for epoch in range(state.epoch + 1, args.epochs + 1):
        if not run_epoch(args, state, epoch, train, test, stop):
            return stop_on_signal(args, state, stop.signum)
        if args.fail_at_epoch == epoch:
            return fail_on_purpose(args, state)

    finish(args, state, test)
    return 0


class State:
    """The model and history as of the last completed epoch."""

    def __init__(self, model, epoch=0, history=None):
        self.model = model
        self.epoch = epoch
        self.history = history or []


def start_state(args):
    path = os.path.join(args.output_dir, CHECKPOINT_NAME)
    if not args.resume or not os.path.exists(path):
        return State(Model())
    state = load_checkpoint(path, args.seed)
    log("resumed from epoch %d" % state.epoch)
    if state.epoch >= args.epochs:
        log("nothing to train: the checkpoint is at epoch %d of %d"
            % (state.epoch, args.epochs))
    return state


def run_epoch(args, state, epoch, train, test, stop):
    """Train one epoch and record it; False if a signal stopped it first.

    The model is trained on a copy, so a stop in the middle of an epoch
    leaves state at the last completed epoch, which is what gets saved.
    """
    started = time.time()
    model = state.model.copy()
    order = list(range(len(train[0])))
    # Seeding by epoch makes a resumed run shuffle exactly as an unbroken one.
    random.Random("%d/%d" % (args.seed, epoch)).shuffle(order)
    if not train_epoch(model, train, order, args.lr, args.batch_size, stop):
        return False
    if not sleep_unless_stopped(args.sleep_per_epoch, stop):
        return False

    loss, train_acc = evaluate(model, train)
    _, test_acc = evaluate(model, test)
    elapsed = time.time() - started
    state.model, state.epoch = model, epoch
    state.history.append({"epoch": epoch, "loss": round(loss, 6),
                          "train_acc": round(train_acc, 6),
                          "test_acc": round(test_acc, 6), "time_s": round(elapsed, 3)})
    save(args, state, "running")
    log("epoch %d/%d loss=%.4f train_acc=%.3f test_acc=%.3f time=%.1fs"
        % (epoch, args.epochs, loss, train_acc, test_acc, elapsed))
    return True


def finish(args, state, test):
    _, test_acc = evaluate(state.model, test)
    save(args, state, "completed")
    log("final test_acc=%.3f" % test_acc)


def fail_on_purpose(args, state):
    save(args, state, "failed")
    print("train.py: failing on purpose after epoch %d (--fail-at-epoch)" % state.epoch,
          file=sys.stderr, flush=True)
    return EXIT_FAILED_ON_PURPOSE


def stop_on_signal(args, state, signum):
    save(args, state, "interrupted")
    name = signal.Signals(signum).name
    log("received %s: checkpoint saved at epoch %d" % (name, state.epoch))
    return 128 + signum


def log(line):
    # Flushed at once: runctl reads the log by offset while the job runs.
    print(line, flush=True)


# --- data -----------------------------------------------------------------


def load_digits(path):
    """Read rows of 64 pixels (0-16) and a label (0-9), pixels scaled to 0-1."""
    if not os.path.isfile(path):
        raise UsageError("data file %s not found (pass --data PATH)" % path)
    opener = gzip.open if path.endswith(".gz") else open
    xs, ys = [], []
    try:
        with opener(path, "rt", newline="") as f:
            for lineno, row in enumerate(csv.reader(f), 1):
                if row:
                    x, y = parse_row(row, path, lineno)
                    xs.append(x)
                    ys.append(y)
    except (OSError, EOFError) as err:
        raise UsageError("reading %s: %s" % (path, err))
    if len(xs) < 10:
        raise UsageError("%s has %d rows; too few to split" % (path, len(xs)))
    return xs, ys


def parse_row(row, path, lineno):
    if len(row) != NUM_FEATURES + 1:
        raise UsageError("%s line %d: want %d columns, got %d"
                         % (path, lineno, NUM_FEATURES + 1, len(row)))
    try:
        x = [float(v) / PIXEL_MAX for v in row[:NUM_FEATURES]]
        y = int(row[NUM_FEATURES])
    except ValueError as err:
        raise UsageError("%s line %d: %s" % (path, lineno, err))
    if not 0 <= y < NUM_CLASSES:
        raise UsageError("%s line %d: label %d is not a digit" % (path, lineno, y))
    return x, y


def split_indices(n, seed):
    """Shuffle 0..n-1 with seed and cut off the last TEST_FRACTION as test."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    cut = n - int(round(n * TEST_FRACTION))
    return order[:cut], order[cut:]


# --- model ----------------------------------------------------------------


class Model:
    """Softmax regression: one weight row and one bias per class."""

    def __init__(self, weights=None, bias=None):
        # Zeros are a fine start: the loss is convex, so no symmetry to break.
        self.weights = weights or [[0.0] * NUM_FEATURES for _ in range(NUM_CLASSES)]
        self.bias = bias or [0.0] * NUM_CLASSES

    def copy(self):
        return Model([list(w) for w in self.weights], list(self.bias))

    def probs(self, x):
        z = [b + sum(map(mul, w, x)) for w, b in zip(self.weights, self.bias)]
        top = max(z)
        e = [math.exp(v - top) for v in z]
        total = sum(e)
        return [v / total for v in e]


def train_epoch(model, data, order, lr, batch_size, stop):
    """Run minibatch SGD over data in order; False if stop was raised."""
    xs, ys = data
    for start in range(0, len(order), batch_size):
        if stop.signum is not None:
            return False
        batch = order[start:start + batch_size]
        step(model, [xs[i] for i in batch], [ys[i] for i in batch], lr)
    return True


def step(model, xs, ys, lr):
    """One gradient step on the mean cross-entropy of a batch."""
    grad_w = [[0.0] * NUM_FEATURES for _ in range(NUM_CLASSES)]
    grad_b = [0.0] * NUM_CLASSES
    for x, y in zip(xs, ys):
        p = model.probs(x)
        p[y] -= 1.0
        for k, g in enumerate(p):
            grad_b[k] += g
            gw = grad_w[k]
            for j, v in enumerate(x):
                if v:
                    gw[j] += g * v

    scale = lr / len(xs)
    for k in range(NUM_CLASSES):
        model.bias[k] -= scale * grad_b[k]
        model.weights[k] = [w - scale * g for w, g in zip(model.weights[k], grad_w[k])]


def evaluate(model, data):
    """Return the mean cross-entropy and the accuracy of model on data."""
    xs, ys = data
    loss, correct = 0.0, 0
    for x, y in zip(xs, ys):
        p = model.probs(x)
        loss -= math.log(max(p[y], 1e-12))
        if p.index(max(p)) == y:
            correct += 1
    return loss / len(xs), correct / len(xs)


# --- checkpoints and metrics ----------------------------------------------


def save(args, state, status):
    """Write the checkpoint, then metrics.json, each atomically."""
    write_json_atomic(os.path.join(args.output_dir, CHECKPOINT_NAME), {
        "format": CHECKPOINT_FORMAT,
        "epoch": state.epoch,
        "seed": args.seed,
        "weights": state.model.weights,
        "bias": state.model.bias,
        "history": state.history,
    })
    last = state.history[-1] if state.history else {}
    write_json_atomic(os.path.join(args.output_dir, METRICS_NAME), {
        "status": status,
        "model": "softmax-regression",
        "epochs_completed": state.epoch,
        "epochs_requested": args.epochs,
        "seed": args.seed,
        "lr": args.lr,
        "batch_size": args.batch_size,
        "final_test_acc": last.get("test_acc"),
        "history": state.history,
    })


def load_checkpoint(path, seed):
    try:
        with open(path) as f:
            ck = json.load(f)
    except (OSError, ValueError) as err:
        raise UsageError("reading checkpoint %s: %s (use --no-resume to start over)"
                         % (path, err))
    if not isinstance(ck, dict) or ck.get("format") != CHECKPOINT_FORMAT:
        raise UsageError("%s is not a %s checkpoint (use --no-resume to start over)"
                         % (path, CHECKPOINT_FORMAT))
    if ck.get("seed") != seed:
        # A different seed means a different split: test rows were trained on.
        print("train.py: warning: checkpoint was trained with --seed %s, not %d; "
              "test accuracy is not held out" % (ck.get("seed"), seed),
              file=sys.stderr, flush=True)
    weights, bias = ck.get("weights"), ck.get("bias")
    if (len(weights or []) != NUM_CLASSES or len(bias or []) != NUM_CLASSES
            or any(len(w) != NUM_FEATURES for w in weights)):
        raise UsageError("%s has weights of the wrong shape" % path)
    return State(Model(weights, bias), int(ck["epoch"]), ck.get("history"))


def write_json_atomic(path, obj):
    """Write obj to a temporary file beside path, then rename it over path.

    A reader (or a resumed run after a crash) sees the old file or the new
    one, never half of one.
    """
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path),
                               suffix=".tmp")
    try:
        # mkstemp makes the file private; outputs are meant to be shared.
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


class StopFlag:
    """Records SIGTERM or SIGINT so training stops at the next safe point.

    The handler only sets a flag: raising from it could interrupt a
    checkpoint half-way through being written.
    """

    def __init__(self):
        self.signum = None

    def install(self):
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum, frame):
        self.signum = signum


def sleep_unless_stopped(seconds, stop):
    """Sleep in short slices; False as soon as stop is raised."""
    deadline = time.monotonic() + seconds
    while stop.signum is None:
        left = deadline - time.monotonic()
        if left <= 0:
            return True
        time.sleep(min(left, 0.05))
    return False


if __name__ == "__main__":
    sys.exit(main())
