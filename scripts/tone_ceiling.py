#!/usr/bin/env python3
"""How far a stronger linear learner gets on the tone data: the ceiling check for issue 16.

Trains scikit-learn's logistic regression (L-BFGS to convergence, balanced class weights)
on the same training data as `crisiswatch tone-train` (the public train split, the default
extra sets at their weights, the in-domain set at weight 3; Persian: the in-domain set
only) over one of several feature sets, and prints, per configuration:

- dev: negative F1 on every seventh training text (the threshold is chosen here);
- cv: 5-fold cross-validation on the in-domain set (public data + four fifths → the fifth),
  at the dev threshold, and at p >= 0.5 as the windows count;
- test / idtest: the public test split and the in-domain test split (read only to report).

Choices are to be made on dev and cv only. Needs `pip install scikit-learn`.

    python3 scripts/tone_ceiling.py LANG CONFIGS C [DATA]
    python3 scripts/tone_ceiling.py he ours,c25_idf 2 ../shared/data/sentiment

Configurations: `ours` (binary word 1-2-grams + character 4-grams within words, L2
normalised: close to the built-in model's features), `ours_idf` (the same with idf),
`c25_idf` (sublinear tf-idf word 1-2-grams + character 2-5-grams within words).
"""
import os
import sys

try:
    import numpy as np
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
except ImportError as e:
    sys.exit(f"scripts/tone_ceiling.py: {e}; install it with: python3 -m pip install scikit-learn")

HERE = os.path.dirname(os.path.abspath(__file__))
DOMAIN = os.path.join(HERE, "..", "src", "tone", "weights", "domain")
# the sets and weights of DEFAULT_EXTRAS in src/tone/train.rs
EXTRAS = {
    "en": [("extra/en/xed.tsv", 0.3)],
    "he": [("extra/he/hebert.tsv", 1.0), ("extra/he/xed.tsv", 0.3)],
    "ar": [("ar/extra/semeval2017_xlmt/train.tsv", 1.0)],
    "ru": [("extra/ru/xed.tsv", 0.3)],
    "fa": [],
}
CONFIGS = {
    "ours": [
        dict(ngram_range=(1, 2), binary=True, use_idf=False),
        dict(analyzer="char_wb", ngram_range=(4, 4), binary=True, use_idf=False),
    ],
    "ours_idf": [
        dict(ngram_range=(1, 2), binary=True),
        dict(analyzer="char_wb", ngram_range=(4, 4), binary=True),
    ],
    "c25_idf": [
        dict(ngram_range=(1, 2), sublinear_tf=True),
        dict(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True),
    ],
}


def read(path, weight=1.0):
    rows = []
    with open(path, encoding="utf-8") as f:
        next(f)
        for line in f:
            label, _, text = line.rstrip("\n").partition("\t")
            if label in ("negative", "neutral", "positive") and text:
                rows.append((label, text.replace("{b}", "Acme"), weight))
    return rows


def fit_predict(config, fit, outs, c):
    vecs = [TfidfVectorizer(**k) for k in CONFIGS[config]]
    texts = lambda rows: [t for _, t, _ in rows]  # noqa: E731
    x = hstack([v.fit_transform(texts(fit)) for v in vecs]).tocsr()
    m = LogisticRegression(C=c, max_iter=3000, class_weight="balanced")
    m.fit(x, [l for l, _, _ in fit], sample_weight=[w for _, _, w in fit])
    neg = list(m.classes_).index("negative")
    return [m.predict_proba(hstack([v.transform(texts(r)) for v in vecs]).tocsr())[:, neg] for r in outs]


def is_neg(rows):
    return np.array([l == "negative" for l, _, _ in rows])


def main():
    if len(sys.argv) < 4 or sys.argv[1] not in EXTRAS or any(c not in CONFIGS for c in sys.argv[2].split(",")):
        sys.exit(f"usage: {sys.argv[0]} LANG CONFIGS C [DATA]  (LANG one of {', '.join(EXTRAS)}; "
                 f"CONFIGS from {', '.join(CONFIGS)}, comma-separated; C e.g. 1,2)")
    lang, configs, cs = sys.argv[1], sys.argv[2].split(","), [float(c) for c in sys.argv[3].split(",")]
    data = sys.argv[4] if len(sys.argv) > 4 else os.path.join(HERE, "..", "..", "shared", "data", "sentiment")
    train = [] if lang == "fa" else read(os.path.join(data, lang, "train.tsv"))
    for path, weight in EXTRAS[lang]:
        train += read(os.path.join(data, path), weight)
    domain = read(os.path.join(DOMAIN, f"{lang}.tsv"), 3.0)
    test = read(os.path.join(data, lang, "test.tsv"))
    in_domain_test = read(os.path.join(DOMAIN, "test", f"{lang}.tsv"))
    for config in configs:
        for c in cs:
            rows = train + domain
            fit = [r for i, r in enumerate(rows) if i % 7 != 3]
            dev = [r for i, r in enumerate(rows) if i % 7 == 3]
            p_dev, p_test, p_idt = fit_predict(config, fit, [dev, test, in_domain_test], c)
            w_dev = [w for _, _, w in dev]
            f_dev, thr = max((f1_score(is_neg(dev), p_dev >= t, sample_weight=w_dev), t) for t in np.arange(0.05, 0.95, 0.01))
            cv = np.zeros(len(domain))
            for k in range(5):
                held = [r for i, r in enumerate(domain) if i % 5 == k]
                rest = [r for i, r in enumerate(domain) if i % 5 != k]
                cv[[i for i in range(len(domain)) if i % 5 == k]] = fit_predict(config, train + rest, [held], c)[0]
            print(
                f"{lang} {config} C={c} threshold={thr:.2f} dev={f_dev:.3f} "
                f"cv={f1_score(is_neg(domain), cv >= thr):.3f} cv@0.5={f1_score(is_neg(domain), cv >= 0.5):.3f} | "
                f"test={f1_score(is_neg(test), p_test >= thr):.3f} idtest={f1_score(is_neg(in_domain_test), p_idt >= thr):.3f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
