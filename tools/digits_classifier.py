#!/usr/bin/env python3
"""Train the digits judge: multinomial logistic regression (scikit-learn, seeded) on sklearn's
digits at the bundled model's resolution and pixel scale (8x8, pixel/16 in [0, 1]), and write
its weights as a fixture a C test can use to classify lathe's generated digits without Python:

    /tmp/venv/bin/python tools/digits_classifier.py --out tests/fixtures/digits/logreg.json

Preprocessing (stored in the JSON too): a generated image x in model space [-1, 1] becomes
p = clamp(x/2 + 0.5, 0, 1) (diffusers' image output); features = the 64 pixels p in row-major
order (row 0 first); logits = coef @ features + intercept; class = argmax. The model is fitted on
a stratified 80% split (seed 0) and its accuracy on the other 20% is reported and stored.
"""
import argparse
import json
import os

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

SEED = 0


def fit():
    d = load_digits()
    x = d.images.reshape(len(d.images), -1).astype(np.float64) / 16.0
    y = d.target
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.2, random_state=SEED, stratify=y)
    clf = LogisticRegression(C=1.0, max_iter=5000, random_state=SEED)
    clf.fit(xtr, ytr)
    return clf, float(clf.score(xte, yte)), len(ytr), len(yte)


def predict(coef, intercept, p):
    """p: [N, 64] pixels in [0, 1] -> class per image (the same arithmetic a C test does)."""
    return np.argmax(p @ np.asarray(coef).T + np.asarray(intercept), axis=1)


def load_fixture(path):
    with open(path) as f:
        j = json.load(f)
    return np.asarray(j["coef"], dtype=np.float64), np.asarray(j["intercept"], dtype=np.float64), j


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="tests/fixtures/digits/logreg.json")
    args = ap.parse_args()
    clf, acc, ntr, nte = fit()
    print(f"logistic regression on 8x8 digits: held-out accuracy {acc:.4f} ({nte} images, trained on {ntr})")
    j = {
        "what": "multinomial logistic regression judging 8x8 digits (tools/digits_classifier.py)",
        "data": "sklearn.datasets.load_digits, stratified 80/20 split, random_state 0",
        "preprocess": "p = clamp(x/2 + 0.5, 0, 1) for a model-space image x in [-1, 1]; "
                      "features = the 8x8 pixels p row-major (index = row*8 + col); "
                      "logits = coef[c] . features + intercept[c]; class = argmax",
        "height": 8,
        "width": 8,
        "classes": 10,
        "heldout_accuracy": round(acc, 4),
        "heldout_n": nte,
        # 6 significant digits keep the fixture small; argmax on the real digits is unchanged
        "coef": [[float(f"{v:.6g}") for v in row] for row in clf.coef_],
        "intercept": [float(f"{v:.6g}") for v in clf.intercept_],
    }
    # the rounded weights must classify the held-out split exactly as the fitted model does
    d = load_digits()
    x = d.images.reshape(len(d.images), -1) / 16.0
    same = np.mean(predict(j["coef"], j["intercept"], x) == clf.predict(x))
    if same != 1.0:
        raise SystemExit(f"rounded weights disagree with the model on {1 - same:.4%} of the digits")
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(j, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes)")


if __name__ == "__main__":
    main()
