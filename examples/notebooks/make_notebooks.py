"""Write the example notebooks (``examples/notebooks/*.ipynb``) from the cells below.

The notebooks are stored without outputs; this script is their source, so edit the cells here
and run ``python examples/notebooks/make_notebooks.py`` (``--check`` only compares, for the
tests). Each notebook reads one parameter, ``BARENET_NOTEBOOK_SMOKE=1`` in the environment
(or ``SMOKE = True`` in its first cell, papermill-style: the cell is tagged ``parameters``),
which shrinks its data and epochs so that the test suite runs it in seconds.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

from barenet.files.atomic import write_text

HERE = Path(__file__).resolve().parent

PARAMETERS = '''\
import os

# The test suite sets BARENET_NOTEBOOK_SMOKE=1: tiny subsets and 1-2 epochs, to check that every
# cell runs. Leave it unset (or set SMOKE = False here) for the exercise's real numbers.
SMOKE = os.environ.get("BARENET_NOTEBOOK_SMOKE") == "1"'''

#: The setup cell's imports: each name is imported only by the notebooks that use it.
IMPORTS = [("numpy", ["np"]), ("IPython.display", ["Markdown"]), ("", []),
           ("barenet", ["bn"]), ("barenet.data", ["load_dataset"]),
           ("barenet.data.preprocess", ["Normalizer", "first_per_class", "flatten", "select_digits",
                                        "stratified_split"]),
           ("barenet.inspect", ["plots"]), ("barenet.train.progress", ["ProgressBar"])]

SETUP = '''\
%matplotlib inline
{imports}

results = []  # one row per recipe, for the table at the end


def record(recipe, reported, model, loss, normalizer, train, test, validation=None, epochs=None):
    """Accuracy of ``model`` on each (x, y) split given, as one row of the results table."""
    def accuracy(split):
        return None if split is None else bn.evaluate(model, *split, loss, normalizer)[1]
    results.append((recipe, reported, accuracy(train), accuracy(validation), accuracy(test), epochs))


def results_table():
    pct = lambda v: "" if v is None else f"{100 * v:.2f} %"  # noqa: E731
    lines = ["| recipe | exercise reported / aim | train | validation | test | epochs |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r} | {rep} | {pct(tr)} | {pct(va)} | {pct(te)} | {ep} |"
              for r, rep, tr, va, te, ep in results]
    if SMOKE:
        lines.append("\\n*Smoke run (BARENET_NOTEBOOK_SMOKE=1): tiny data, 1-2 epochs; "
                     "these numbers mean nothing.*")
    return Markdown("\\n".join(lines))'''

TABLE = "results_table()"


def md(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_markdown_cell(text.strip("\n"))


def code(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_code_cell(text.strip("\n"))


def whole_dataset(name: str, epochs: str, full: str, smoke_train: int, smoke_test: int,
                  normalizer: str) -> str:
    """A data cell: a data set's training and test splits, flattened, the first rows only when
    SMOKE (with 1 epoch for every run), and the normalizer fitted on the training split."""
    ones = ", ".join("1" for _ in epochs.split(","))
    return f'''
{epochs} = {full}
ds = load_dataset("{name}")
x_train, y_train = flatten(ds.x_train), ds.y_train
x_test, y_test = flatten(ds.x_test), ds.y_test
if SMOKE:
    x_train, y_train = x_train[:{smoke_train}], y_train[:{smoke_train}]
    x_test, y_test = x_test[:{smoke_test}], y_test[:{smoke_test}]
    {epochs} = {ones}
norm = {normalizer}.fit(x_train)
print(x_train.shape, x_test.shape)'''


def notebook(title: str, intro: str, *cells: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    parameters = code(PARAMETERS)
    parameters.metadata["tags"] = ["parameters"]
    used = "\n".join(cell.source for cell in cells) + SETUP
    lines = []
    for module, names in IMPORTS:
        names = [n for n in names if re.search(rf"\b{n}\b", used)]
        if not module:
            lines.append("")  # third-party imports, then barenet's
        elif names and module in ("numpy", "barenet"):
            lines.append(f"import {module} as {names[0]}")
        elif names:
            lines.append(f"from {module} import {', '.join(names)}")
    setup = code(SETUP.replace("{imports}", "\n".join(lines)))
    nb.cells = [md(f"# {title}\n\n{intro.strip()}"), parameters, setup, *cells,
                md("## Results"), code(TABLE)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for i, cell in enumerate(nb.cells):  # stable ids: the files do not change between runs
        cell["id"] = f"cell-{i}"
    return nb


# ----------------------------------------------------------------------------- your first network
FIRST = notebook(
    "Your first network",
    """
The steps of [docs/tutorial.md](../../docs/tutorial.md) in a notebook: the data, the model, the
forward pass, the loss, the backward pass (checked numerically), training with live curves,
evaluation, inspection, and a run directory. Everything runs in about a minute on a laptop.
""",
    md("## 1. Data\n\nThe first 200 training images of each digit, pixels scaled to [0, 1]."),
    code('''
PER_CLASS, EPOCHS = (20, 1) if SMOKE else (200, 5)
ds = load_dataset("mnist")
x_raw, y_train = first_per_class(ds.x_train, ds.y_train, PER_CLASS)   # uint8 (N, 28, 28)
x_train = flatten(x_raw)                                               # (N, 784)
x_test, y_test = flatten(ds.x_test[:1000]), ds.y_test[:1000]
norm = Normalizer("255").fit(x_train)
xs = norm.transform(x_train)
print(xs.shape, xs.dtype, xs.min(), xs.max(), np.bincount(y_train))
plots.plot_samples(x_train, y_train, n=16)
'''),
    md("## 2. Model\n\nA bare model shows its layers, shapes and parameter counts."),
    code('''
model = bn.MLP([784, 64, 10], hidden="relu", output="softmax", seed=0)
model
'''),
    md("## 3. Forward pass by hand\n\n`z1 = x W1 + b1`, `h = relu(z1)`, `z2 = h W2 + b2`, "
       "`p = softmax(z2)`, and it agrees with `model.forward`."),
    code('''
(W1, b1), (W2, b2) = [(d.W, d.b) for d in model.dense_layers]
xb, yb = xs[:32], y_train[:32]
z1 = xb @ W1 + b1
h = np.maximum(z1, 0)
z2 = h @ W2 + b2
e = np.exp(z2 - z2.max(axis=1, keepdims=True))
p_by_hand = e / e.sum(axis=1, keepdims=True)
print("largest difference:", np.abs(model.forward(xb) - p_by_hand).max())
'''),
    md("## 4. Loss and backward pass\n\nCross-entropy averaged over the batch; `gradcheck` "
       "compares backprop's gradients with finite differences (relative errors near 1e-8 mean "
       "the gradients are right)."),
    code('''
loss = bn.Loss("cross_entropy", "mean")
print("loss before training:", loss.value(model.forward(xb), yb), "(about -log(0.1) = 2.30)")
small = bn.MLP([784, 8, 10], hidden="sigmoid", seed=1)
print(bn.gradcheck(small, loss, xs[:5], y_train[:5], max_entries=20).errors)
'''),
    md("## 5. Training\n\n`bn.fit` runs the loop: shuffle, minibatches, forward, loss, backward, "
       "step. `LivePlot` redraws the curves after every epoch, with the diagnosis' warnings above "
       "them; the progress bar rewrites one line instead of printing thousands. The validation "
       "images (10 % of each digit) are where choices are made, never the test set."),
    code('''
x_fit, y_fit, x_val, y_val = stratified_split(x_train, y_train, 0.1, seed=0)
model = bn.MLP([784, 64, 10], hidden="relu", output="softmax", seed=0)
history = bn.fit(model, x_fit, y_fit, loss=loss, optimizer=bn.SGD(lr=0.1), batch_size=32,
                 epochs=EPOCHS, seed=0, normalizer=norm, validation=(x_val, y_val),
                 callbacks=[bn.LivePlot(), ProgressBar()])
'''),
    md("A `History` shows its curves; its records are plain dicts."),
    code('''
print(history.last)
history
'''),
    md("## 6. Evaluate and inspect"),
    code('''
from barenet.inspect.metrics import confusion_matrix

test_loss, test_accuracy = bn.evaluate(model, x_test, y_test, loss, norm)
print(f"test loss {test_loss:.4f}, accuracy {100 * test_accuracy:.1f} %")
plots.plot_confusion(confusion_matrix(y_test, model.predict(norm.transform(x_test)), 10))
'''),
    code('''
proba = model.predict_proba(norm.transform(x_test))
plots.plot_worst(x_test, proba, y_test, k=8)
'''),
    md("## 7. A run directory\n\n`train_run` is what `barenet train` does: the same recipe from "
       "a config, written to a run directory. `bn.Run(path)` reads one back and shows the "
       "results, the diagnosis and the figures."),
    code('''
from barenet.run.config import make_config
from barenet.run.runner import train_run

config = make_config(per_class=PER_CLASS, layers=[64], optimizer="sgd", lr=0.1, batch_size=32,
                     epochs=EPOCHS, val_fraction=0.1)
train_run(config, out="runs/first-network")
run = bn.Run("runs/first-network")
run
'''),
    code('''
record("bn.fit, [784, 64, 10] ReLU, SGD 0.1", "tutorial: > 80 % test", model, loss, norm,
       (x_fit, y_fit), (x_test, y_test), (x_val, y_val), EPOCHS)
results.append(("train_run (the same recipe, the CLI's path)", "", run.metrics["train"]["accuracy"],
                run.metrics["validation"]["accuracy"], run.metrics["test"]["accuracy"], EPOCHS))
'''),
)

# ----------------------------------------------------------------------------- E1
E1 = notebook(
    "E1: a binary digit-pair MLP with squared loss and summed minibatch updates",
    """
MISSION.md's E1: two MNIST digits (1 vs 5 here; set `PAIR, BATCH = (7, 9), 1000` for the
exercise's second run), each image divided by its own largest pixel, ReLU hidden layers
[500, 250] and one sigmoid unit, weights and biases uniform in [-1, 1], C = 1/2 ||Y_L - Y||^2
summed over batches of 4000, plain SGD with eta 0.001, 30 epochs. The exercise reports 98.77 %
training accuracy (7 vs 9: 94.96 %). Then barenet's best recipe on the same images.
The same runs as configs: `examples/e1-1v5.toml`, `examples/e1-1v5-best.toml`.
""",
    md("## Data"),
    code('''
PAIR, BATCH = (1, 5), 4000
EPOCHS, EPOCHS_BEST = 30, 20
d1, d2 = PAIR
ds = load_dataset("mnist")
x_train, y_train = select_digits(ds.x_train, ds.y_train, d1, d2)   # d1 -> 0, d2 -> 1
x_test, y_test = select_digits(ds.x_test, ds.y_test, d1, d2)
x_train, x_test = flatten(x_train), flatten(x_test)
if SMOKE:
    x_train, y_train, x_test, y_test = x_train[:1200], y_train[:1200], x_test[:300], y_test[:300]
    BATCH, EPOCHS, EPOCHS_BEST = 300, 1, 1
print(x_train.shape, np.bincount(y_train), x_test.shape)
plots.plot_samples(x_train, y_train, [str(d1), str(d2)], n=16)
'''),
    md("## Faithful\n\nThe exercise's recipe. Seed 2: with these weights the outcome depends on "
       "the draw (see below), and seed 2 is the first that does not collapse, chosen on training "
       "behaviour only."),
    code('''
max_norm = Normalizer("max").fit(x_train)            # each image / its own largest pixel
squared = bn.Loss("squared_error", "sum")            # 1/2 ||Y_L - Y||^2, summed over the batch
faithful = bn.MLP([784, 500, 250, 1], hidden="relu", output="sigmoid", init="uniform(-1,1)",
                  bias_init="uniform(-1,1)", dtype="float64", seed=2)
faithful_history = bn.fit(faithful, x_train, y_train, loss=squared, optimizer=bn.SGD(lr=0.001),
                          batch_size=BATCH, drop_last=True, epochs=EPOCHS, normalizer=max_norm,
                          callbacks=[ProgressBar()])
faithful_history
'''),
    md("The exercise also plots how far each weight matrix moved per epoch:"),
    code("plots.plot_norms(faithful_history)"),
    md("Predicting raw images: preprocess, forward, threshold 0.5, map back to the digits."),
    code('''
def predict_digits(model, raw_images, normalizer):
    p = model.predict_proba(normalizer.transform(flatten(raw_images)))[:, 0]
    return np.where(p > 0.5, d2, d1)

raw = x_test[:12].reshape(-1, 28, 28)
print("predicted:", predict_digits(faithful, raw, max_norm))
print("true:     ", np.where(y_test[:12] == 1, d2, d1))
record(f"faithful {d1} vs {d2}", "98.77 % train" if PAIR == (1, 5) else "94.96 % train",
       faithful, squared, max_norm, (x_train, y_train), (x_test, y_test), epochs=EPOCHS)
'''),
    md("""
### Why the faithful recipe falls short

* Weights uniform in [-1, 1] over 784 inputs make the output's pre-activation hundreds of units
  wide: the sigmoid starts saturated at 0 or 1, where its slope is zero.
* The squared loss on a sigmoid multiplies the error by that slope, so a confidently wrong
  output barely learns (cross-entropy's gradient `p - y` does not have this flaw).
* Summing over 4000 samples multiplies every step by 4000: one step can push the ReLUs below
  zero for every image, and a dead ReLU never recovers. Some seeds collapse to predicting
  one digit (seeds 0, 1 and 3 of 0-9 in a probe).
* No validation split, so nothing tells overfitting from progress.
"""),
    md("## Beaten\n\nPixels / 255, He initialization, dropout 0.3, one sigmoid unit with binary "
       "cross-entropy (mean), Adam with cosine decay, batches of 64; 10 % of each digit held out "
       "for validation, where the recipe was chosen."),
    code('''
x_fit, y_fit, x_val, y_val = stratified_split(x_train, y_train, 0.1, seed=0)
norm = Normalizer("255").fit(x_fit)
bce = bn.Loss("binary_cross_entropy", "mean")
best = bn.MLP([784, 1024, 512, 1], hidden="relu", output="sigmoid", dropout=0.3, seed=0)
best_history = bn.fit(best, x_fit, y_fit, loss=bce, optimizer=bn.Adam(lr=0.001), schedule="cosine",
                      batch_size=64, epochs=EPOCHS_BEST, normalizer=norm, validation=(x_val, y_val),
                      callbacks=[bn.LivePlot()])
'''),
    code('''
proba = best.predict_proba(norm.transform(x_test))
plots.plot_binary_outcomes(x_test, y_test, best.predict(norm.transform(x_test)), proba, PAIR)
'''),
    code('''
record(f"best {d1} vs {d2}", "aim >= 99.9 % test" if PAIR == (1, 5) else "aim >= 99.4 % test",
       best, bce, norm, (x_fit, y_fit), (x_test, y_test), (x_val, y_val), EPOCHS_BEST)
'''),
)

# ----------------------------------------------------------------------------- E2
E2 = notebook(
    "E2: logistic regression and one hidden layer on 8 x 8 digits, one sample at a time",
    """
MISSION.md's E2 on the 8 x 8 digits (scikit-learn's 1797 images, barenet's fixed stratified
split): logistic regression with per-sample SGD (lr 0.01, one epoch, the average NLL of the last
100 samples every 100 steps), then 32 sigmoid units and a softmax output (lr 0.001, 15 epochs;
reported about 91.5 % test). The worst test predictions, a gradient check of the original's bug,
and a small search on a validation split. Configs: `examples/e2-*.toml`.
""",
    md("## Data"),
    code(whole_dataset("digits8", "EPOCHS_HIDDEN, EPOCHS_BEST", "15, 100", 200, 100,
                       'Normalizer("standardize", pixel_max=ds.pixel_max)')
         + "\nplots.plot_samples(x_train, y_train, n=16, input_shape=(8, 8))"),
    md("## Faithful: logistic regression\n\n`MLP([64, 10])` has no hidden layer: it is "
       "logistic regression. A callback prints the running NLL as the exercise does."),
    code('''
class RunningNLL:
    """Every ``every`` steps: the average loss of the last ``every`` samples (batch size 1)."""

    def __init__(self, every=100):
        self.every, self.window, self.averages = every, [], []

    def on_batch_end(self, trainer, batch, n_batches, loss):
        self.window.append(loss)
        if len(self.window) == self.every:
            step, value = len(trainer.history.batch_loss), float(np.mean(self.window))
            self.averages.append((step, value))
            print(f"step {step:>5}: average NLL of the last {self.every} samples {value:.3f}")
            self.window.clear()

ce = bn.Loss("cross_entropy", "mean")
logreg = bn.MLP([64, 10], output="softmax", init="uniform(-0.1,0.1)", bias_init="uniform(-0.1,0.1)",
                dtype="float64", seed=0)
bn.fit(logreg, x_train, y_train, loss=ce, optimizer=bn.SGD(lr=0.01), batch_size=1, epochs=1,
       shuffle=False, normalizer=norm, callbacks=[RunningNLL(100)])
record("faithful logistic regression", "NLL printed, no accuracy", logreg, ce, norm,
       (x_train, y_train), (x_test, y_test), epochs=1)
'''),
    md("## Faithful: 32 sigmoid units\n\nMISSION.md gives no initialization for this net: "
       "Xavier, the usual choice for sigmoid layers."),
    code('''
hidden32 = bn.MLP([64, 32, 10], hidden="sigmoid", output="softmax", init="xavier_uniform",
                  dtype="float64", seed=0)
hidden32_history = bn.fit(hidden32, x_train, y_train, loss=ce, optimizer=bn.SGD(lr=0.001),
                          batch_size=1, epochs=EPOCHS_HIDDEN, shuffle=False, normalizer=norm,
                          callbacks=[ProgressBar()])
record("faithful [64, 32, 10] sigmoid", "91.5 % test (94.6 % train)", hidden32, ce, norm,
       (x_train, y_train), (x_test, y_test), epochs=EPOCHS_HIDDEN)
hidden32_history
'''),
    md("The test images with the highest loss, with the probabilities the network gave:"),
    code('''
from barenet.inspect.metrics import worst_predictions

proba = hidden32.predict_proba(norm.transform(x_test))
for row in worst_predictions(proba, y_test, k=4):
    print(f"image {row['index']}: true {row['true']}, predicted {row['predicted']}, "
          f"p(true) {row['true_proba']:.3f}, loss {row['loss']:.2f}")
plots.plot_worst(x_test, proba, y_test, k=8, input_shape=(8, 8))
'''),
    md("""
### The original's gradient bug, caught

The exercise's code computes the output-weight gradient from the hidden *pre-activations*
`z_h` instead of the activations `h`. barenet's gradients pass a numerical check; the
original's formula is far from the true gradient:
"""),
    code('''
xb, yb = norm.transform(x_train[:20]), y_train[:20]
print("gradcheck (relative errors):", bn.gradcheck(hidden32, ce, xb, yb, max_entries=10).errors)
W1, b1 = hidden32.dense_layers[0].W, hidden32.dense_layers[0].b
z_h = xb @ W1 + b1
h = 1 / (1 + np.exp(-z_h))
delta = (hidden32.forward(xb) - np.eye(10)[yb]) / len(yb)      # dL/dz at the output (mean)
hidden32.backward(hidden32.forward(xb, training=True), yb, ce)  # barenet's dW, checked above
true_dW = hidden32.dense_layers[1].dW
for name, dW in (("h^T delta (right)", h.T @ delta), ("z_h^T delta (the bug)", z_h.T @ delta)):
    print(f"{name:>22}: relative error {np.linalg.norm(dW - true_dW) / np.linalg.norm(true_dW):.2e}")
'''),
    md("""
### Why the faithful recipe falls short

Per-sample SGD with lr 0.001 takes 15 epochs of tiny, noisy steps, visiting the samples in the
same order every epoch; there is no validation split to choose anything on, and a sigmoid layer
of 32 units is small. The exercise asks to try learning rates, hidden sizes and a second layer:
below, on a validation split carved from the training images (never the test set).
"""),
    md("## Beaten: a small search on a validation split"),
    code('''
x_fit, y_fit, x_val, y_val = stratified_split(x_train, y_train, 0.15, seed=0)
norm_fit = Normalizer("standardize", pixel_max=ds.pixel_max).fit(x_fit)
candidates = [([32], 0.001), ([128], 0.001), ([128], 0.003), ([128, 64], 0.001)]
scores = {}
for layers, lr in candidates:
    model = bn.MLP([64, *layers, 10], hidden="relu", dropout=0.2, seed=0)
    history = bn.fit(model, x_fit, y_fit, loss=ce, optimizer=bn.Adam(lr=lr), schedule="cosine",
                     batch_size=32, epochs=EPOCHS_BEST, normalizer=norm_fit, validation=(x_val, y_val))
    scores[(tuple(layers), lr)] = (history.last["val_accuracy"], -history.last["val_loss"], model)
    print(f"{layers} lr {lr}: validation accuracy {100 * history.last['val_accuracy']:.2f} %")
(layers, lr), (_, _, best) = max(scores.items(), key=lambda item: item[1][:2])
print("chosen on validation:", list(layers), "lr", lr)
record(f"best: {list(layers)} ReLU, Adam {lr}", "best effort", best, ce, norm_fit,
       (x_fit, y_fit), (x_test, y_test), (x_val, y_val), EPOCHS_BEST)
best
'''),
)

# ----------------------------------------------------------------------------- E3
E3 = notebook(
    "E3: [784, 100, 100, 10] on full MNIST, minibatches of 100, learning-rate sweeps",
    """
MISSION.md's E3: full MNIST / 255, batches of 100 cut once (the same order every epoch),
sigmoid hidden layers and a softmax output, weights N(0, 1e-4) with the bias drawn like them,
cross-entropy summed over the batch, plain SGD for 70 epochs. eta 0.05 reaches about 97.4 %
test, 0.005 learns slowly, 0.5 does not learn; with ReLU and the same tiny initialization eta
0.05 never learns and 0.005 starts after about 12 epochs. The test loss and accuracy are
recorded after every epoch, as the exercise prints them (reported only, never used to choose).
A full run takes about 10 minutes for the five faithful runs and 8 for the best recipe.
Configs: `examples/e3-*.toml`.
""",
    md("## Data"),
    code('''
EPOCHS, EPOCHS_BEST = 70, 100
ds = load_dataset("mnist")
x_train, y_train = flatten(ds.x_train), ds.y_train
x_test, y_test = flatten(ds.x_test), ds.y_test
if SMOKE:
    x_train, y_train = first_per_class(x_train, y_train, 30)
    x_test, y_test = x_test[:300], y_test[:300]
    EPOCHS, EPOCHS_BEST = 2, 1
norm = Normalizer("255").fit(x_train)
print(x_train.shape, x_test.shape)
'''),
    md("## Faithful: five runs"),
    code('''
from barenet.inspect.diagnose import diagnose


class TestEachEpoch:
    """Add the test loss and accuracy to each epoch's record (reported, never used to choose)."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def on_epoch_end(self, trainer, record):
        record["test_loss"], record["test_accuracy"] = bn.evaluate(
            trainer.model, self.x, self.y, trainer.loss, trainer.normalizer)


summed = bn.Loss("cross_entropy", "sum")
runs = {}


def faithful_run(hidden, eta, callback):
    model = bn.MLP([784, 100, 100, 10], hidden=hidden, output="softmax", init="normal(0.0001)",
                   bias_init="normal(0.0001)", seed=0)
    history = bn.fit(model, x_train, y_train, loss=summed, optimizer=bn.SGD(lr=eta), batch_size=100,
                     epochs=EPOCHS, shuffle=False, normalizer=norm,
                     callbacks=[TestEachEpoch(x_test, y_test), callback])
    runs[f"{hidden}, eta {eta}"] = (model, history)
    findings = diagnose(history, model, x_train[:1000], normalizer=norm, reduction="sum",
                        n_train=len(x_train))
    print(f"{hidden}, eta {eta}: test accuracy {100 * history.last['test_accuracy']:.2f} %;",
          "diagnosis:", "; ".join(f.title for f in findings) or "healthy")
'''),
    code('''
for hidden, eta in (("sigmoid", 0.05), ("sigmoid", 0.005), ("sigmoid", 0.5), ("relu", 0.005)):
    faithful_run(hidden, eta, ProgressBar())
'''),
    md("ReLU with the tiny initialization and eta 0.05, with the live plot: the diagnosis "
       "explains what it sees while the network trains."),
    code('faithful_run("relu", 0.05, bn.LivePlot())'),
    md("Test accuracy after each epoch, all five runs:"),
    code('''
from matplotlib.figure import Figure

fig = Figure(figsize=(8, 4))
ax = fig.subplots()
for name, (_model, history) in runs.items():
    ax.plot(history["epoch"], [100 * a for a in history["test_accuracy"]], "-o", ms=2, label=name)
ax.set(xlabel="epoch", ylabel="test accuracy (%)", title="E3: test accuracy per epoch")
ax.grid(alpha=0.3)
ax.legend()
fig
'''),
    code('''
reported = {"sigmoid, eta 0.05": "about 97.4 % test", "sigmoid, eta 0.005": "learns slowly",
            "sigmoid, eta 0.5": "does not learn (about 10 %)", "relu, eta 0.005": "starts after ~12 epochs",
            "relu, eta 0.05": "never learns"}
for name, (model, _history) in runs.items():
    record(f"faithful {name}", reported[name], model, summed, norm, (x_train, y_train),
           (x_test, y_test), epochs=EPOCHS)
'''),
    md("""
### Why the faithful recipe falls short

* N(0, 1e-4) weights make every layer shrink the signal 10,000-fold: the sigmoids all sit at
  0.5 and the ReLUs at 0, and the gradients flowing back are near zero. The ReLU nets only learn
  if an update happens to wake them up (eta 0.005), or never (eta 0.05, where the first big
  summed step kills every unit).
* Summing the loss over the batch multiplies each step by 100: eta 0.5 becomes a step of 50,
  which throws the sigmoids into saturation where their slope is zero.
* No validation split, no learning-rate decay, no regularization: 70 epochs overfit
  (100 % train, 97 % test).
"""),
    md("## Beaten\n\n[784, 1024, 10] ReLU with He initialization and dropout 0.3, Adam with cosine "
       "decay, batches of 128, each training image moved by up to 1 pixel every epoch; 10 % of "
       "each digit held out for validation, where the recipe was chosen."),
    code('''
x_fit, y_fit, x_val, y_val = stratified_split(x_train, y_train, 0.1, seed=0)
ce = bn.Loss("cross_entropy", "mean")
best = bn.MLP([784, 1024, 10], hidden="relu", dropout=0.3, seed=0)
best_history = bn.fit(best, x_fit, y_fit, loss=ce, optimizer=bn.Adam(lr=0.001), schedule="cosine",
                      batch_size=128, epochs=EPOCHS_BEST, normalizer=norm, validation=(x_val, y_val),
                      augment=bn.RandomShift(1, (28, 28)), callbacks=[bn.LivePlot(every=5)])
record("best [1024] ReLU, shift 1", "aim >= 98.5 % test", best, ce, norm, (x_fit, y_fit),
       (x_test, y_test), (x_val, y_val), EPOCHS_BEST)
'''),
)

# ----------------------------------------------------------------------------- E4
E4 = notebook(
    "E4: two hidden layers of 32 sigmoid units, one sample at a time",
    """
MISSION.md's E4: [784, 32, 32, 10] with sigmoid hidden layers, weights N(0, 1 / max(n_in, n_out)),
biases 0, softmax and cross-entropy, per-sample SGD with lr 0.003 for 3 epochs, no shuffling.
The untrained network scores about 10 %; the exercise expects about 70 % or more after
training (the original got 56.6 % and an infinite average loss from log(0)).
Configs: `examples/e4-sigmoid32x2.toml`, `examples/e4-best.toml`.
""",
    md("## Data"),
    code(whole_dataset("mnist", "EPOCHS, EPOCHS_BEST", "3, 20", 300, 300, 'Normalizer("255")')),
    md("## Faithful"),
    code('''
ce = bn.Loss("cross_entropy", "mean")
faithful = bn.MLP([784, 32, 32, 10], hidden="sigmoid", output="softmax", init="max_fan_normal",
                  dtype="float64", seed=0)
loss0, accuracy0 = bn.evaluate(faithful, x_train, y_train, ce, norm)
print(f"before training: loss {loss0:.4f}, accuracy {100 * accuracy0:.2f} %")
faithful_history = bn.fit(faithful, x_train, y_train, loss=ce, optimizer=bn.SGD(lr=0.003),
                          batch_size=1, epochs=EPOCHS, shuffle=False, normalizer=norm,
                          callbacks=[ProgressBar()])
faithful_history
'''),
    code('''
record("faithful [32, 32] sigmoid, per-sample SGD", "56.6 % (about 70 % expected)", faithful, ce, norm,
       (x_train, y_train), (x_test, y_test), epochs=EPOCHS)
'''),
    md("The original's infinite loss: a probability of exactly 0 for the true class makes "
       "`-log(p)` infinite. barenet clips the probability inside the log:"),
    code('''
p = np.zeros((1, 10))
p[0, 3] = 1.0                               # certain of class 3, the truth is class 7
with np.errstate(divide="ignore"):
    print("-log(p) by hand:", -np.log(p[0, 7]))
print("barenet:", ce.value(p, np.array([7])))
'''),
    md("""
### Why the faithful recipe falls short

One sample per step at lr 0.003 is slow and noisy, the samples come in the same order every
epoch, and 3 epochs are few. Sigmoid hidden units pass at most a quarter of the gradient back
through each layer. barenet reaches more than the exercise expects with the same recipe
(its gradients are right), and far more with a modern one at the same size:
"""),
    md("## Beaten, at the same size\n\nReLU with He initialization, Adam with cosine decay, "
       "batches of 64, 20 epochs; 10 % of each digit held out for validation."),
    code('''
x_fit, y_fit, x_val, y_val = stratified_split(x_train, y_train, 0.1, seed=0)
best = bn.MLP([784, 32, 32, 10], hidden="relu", seed=0)
best_history = bn.fit(best, x_fit, y_fit, loss=ce, optimizer=bn.Adam(lr=0.002), schedule="cosine",
                      batch_size=64, epochs=EPOCHS_BEST, normalizer=norm, validation=(x_val, y_val),
                      callbacks=[bn.LivePlot()])
record("best [32, 32] ReLU, Adam", "best effort", best, ce, norm, (x_fit, y_fit), (x_test, y_test),
       (x_val, y_val), EPOCHS_BEST)
'''),
)

# ----------------------------------------------------------------------------- E5
E5 = notebook(
    "E5: a two-layer network with full-batch gradient descent",
    """
MISSION.md's E5. Binary: the first 1000 training 5s and 8s, tested on every test 5 and 8,
784-256-1 with sigmoids everywhere, weights N(0, 0.01), binary cross-entropy averaged over N,
full-batch gradient descent with lr 0.01 for 100 epochs (reported 97.2 % train, 94.69 % test).
Multiclass: 1000 images per digit, 784-256-10 with a softmax output, lr 0.1, 150 epochs
(reported 96.08 % train, 92.45 % test). Raw pixels 0..255: MISSION.md names no scaling, and
raw pixels reproduce the reported numbers. Configs: `examples/e5-*.toml`.
""",
    md("## Data"),
    code('''
PER_CLASS, EPOCHS_BINARY, EPOCHS_MULTI, EPOCHS_BEST_BINARY, EPOCHS_BEST_MULTI = 1000, 100, 150, 100, 60
if SMOKE:
    PER_CLASS, EPOCHS_BINARY, EPOCHS_MULTI, EPOCHS_BEST_BINARY, EPOCHS_BEST_MULTI = 50, 2, 2, 1, 1
ds = load_dataset("mnist")
x58, y58 = select_digits(ds.x_train, ds.y_train, 5, 8)             # 5 -> 0, 8 -> 1
x58, y58 = first_per_class(x58, y58, PER_CLASS)
xt58, yt58 = select_digits(ds.x_test, ds.y_test, 5, 8)
x58, xt58 = flatten(x58), flatten(xt58)
x10, y10 = first_per_class(ds.x_train, ds.y_train, PER_CLASS)
x10, xt10, yt10 = flatten(x10), flatten(ds.x_test), ds.y_test
if SMOKE:
    xt58, yt58, xt10, yt10 = xt58[:300], yt58[:300], xt10[:300], yt10[:300]
raw = Normalizer("none").fit(x58)                                  # raw pixels 0..255
print(x58.shape, xt58.shape, x10.shape, xt10.shape)
'''),
    md("## Faithful: 5 vs 8, binary cross-entropy"),
    code('''
class PrintLoss:
    def __init__(self, every):
        self.every = every

    def on_epoch_end(self, trainer, record):
        if record["epoch"] % self.every == 0 or record["epoch"] == 1:
            print(f"epoch {record['epoch']:>3}: loss {record['train_loss']:.4f}")

bce = bn.Loss("binary_cross_entropy", "mean")
binary = bn.MLP([784, 256, 1], hidden="sigmoid", output="sigmoid", init="normal(0.01)",
                dtype="float64", seed=0)
bn.fit(binary, x58, y58, loss=bce, optimizer=bn.SGD(lr=0.01), batch_size="full",
       epochs=EPOCHS_BINARY, normalizer=raw, callbacks=[PrintLoss(10)])
record("faithful 5 vs 8, 784-256-1", "94.69 % test (97.2 % train)", binary, bce, raw, (x58, y58),
       (xt58, yt58), epochs=EPOCHS_BINARY)
proba = binary.predict_proba(raw.transform(xt58))
plots.plot_binary_outcomes(xt58, yt58, binary.predict(raw.transform(xt58)), proba, (5, 8))
'''),
    md("## Faithful: 10 classes, softmax"),
    code('''
ce = bn.Loss("cross_entropy", "mean")
multi = bn.MLP([784, 256, 10], hidden="sigmoid", output="softmax", init="normal(0.01)",
               dtype="float64", seed=0)
multi_history = bn.fit(multi, x10, y10, loss=ce, optimizer=bn.SGD(lr=0.1), batch_size="full",
                       epochs=EPOCHS_MULTI, normalizer=raw, callbacks=[PrintLoss(10)])
record("faithful 10 classes, 784-256-10", "92.45 % test (96.08 % train)", multi, ce, raw, (x10, y10),
       (xt10, yt10), epochs=EPOCHS_MULTI)
multi_history
'''),
    code('''
proba = multi.predict_proba(raw.transform(xt10))
predicted = proba.argmax(axis=1)
display(plots.plot_class_grid(xt10, yt10, predicted, proba, correct=True))
plots.plot_class_grid(xt10, yt10, predicted, proba, correct=False)
'''),
    md("""
### Why the faithful recipe falls short

Raw pixels up to 255 make the first layer's sums huge: with lr 0.1 the full-batch descent
oscillates (the training accuracy swings by several points from one epoch to the next), so the
result depends on where the last epoch lands. One step per epoch means only 100-150 updates in
all, with no validation split to stop or choose on. (The exercise is right that softmax
normalizes over the class axis and that the batch gradient is one matrix product averaged over N:
barenet does both.)
"""),
    md("## Beaten\n\nPixels / 255, ReLU with He initialization, dropout 0.5, Adam with cosine "
       "decay, minibatches; for 5 vs 8 each training image is also moved by up to 2 pixels every "
       "epoch. 15 % of each digit is held out for validation, where the recipes were chosen."),
    code('''
norm = Normalizer("255")
x_fit, y_fit, x_val, y_val = stratified_split(x58, y58, 0.15, seed=0)
best_binary = bn.MLP([784, 1024, 1], hidden="relu", output="sigmoid", dropout=0.5, seed=0)
bn.fit(best_binary, x_fit, y_fit, loss=bce, optimizer=bn.Adam(lr=0.001), schedule="cosine", batch_size=32,
       epochs=EPOCHS_BEST_BINARY, normalizer=norm, validation=(x_val, y_val),
       augment=bn.RandomShift(2, (28, 28)), callbacks=[bn.LivePlot(every=5)])
record("best 5 vs 8, [1024] ReLU, shift 2", "aim >= 98.5 % test", best_binary, bce, norm,
       (x_fit, y_fit), (xt58, yt58), (x_val, y_val), EPOCHS_BEST_BINARY)
'''),
    code('''
x_fit, y_fit, x_val, y_val = stratified_split(x10, y10, 0.15, seed=0)
best_multi = bn.MLP([784, 1024, 10], hidden="relu", dropout=0.5, seed=0)
bn.fit(best_multi, x_fit, y_fit, loss=ce, optimizer=bn.Adam(lr=0.001), schedule="cosine", batch_size=64,
       epochs=EPOCHS_BEST_MULTI, normalizer=norm, validation=(x_val, y_val),
       callbacks=[bn.LivePlot(every=5)])
record("best 10 classes, [1024] ReLU", "aim >= 96 % test", best_multi, ce, norm, (x_fit, y_fit),
       (xt10, yt10), (x_val, y_val), EPOCHS_BEST_MULTI)
'''),
)

NOTEBOOKS = {
    "00-first-network.ipynb": FIRST,
    "e1-digit-pairs.ipynb": E1,
    "e2-digits8.ipynb": E2,
    "e3-mnist-lr-sweep.ipynb": E3,
    "e4-one-sample-at-a-time.ipynb": E4,
    "e5-full-batch.ipynb": E5,
}


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for name, nb in NOTEBOOKS.items():
        text = nbformat.writes(nb) + "\n"
        path = HERE / name
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            write_text(path, text)
    if stale:
        print("out of date (run python examples/notebooks/make_notebooks.py):", ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
