"""Classic baselines that need no GPU, trained with scikit-learn beside the nets: logistic
(or ridge) regression on flattened or pooled features (TF-IDF weighted for text), 1-nearest
neighbour for series, and for tabular data HistGradientBoosting, where trees often beat nets
(Grinsztajn et al., "Why do tree-based models still outperform deep learning on tabular
data?", NeurIPS 2022).

Features: the model inputs the data layer made (normalised with training statistics); images
average-pooled to at most 4,096 values, sequences summarised by their mean and standard
deviation over time (plus the flattened series when that is small), token ids as a bag of
words. At most MAX_ROWS training rows are used (a baseline is a yardstick, not a contender
that may eat the budget).
"""

from __future__ import annotations

import time

import numpy as np

MAX_ROWS = 20_000
MAX_FEATURES = 4096


def _all(split, limit: int | None = None):
    n = len(split) if limit is None else min(len(split), limit)
    return split.batch(np.arange(n))


def features(x: np.ndarray, layout: str, vocab_size: int = 0):
    n = len(x)
    if layout == "tokens":
        from scipy.sparse import csr_matrix

        ids = x.astype(np.int64)
        rows = np.repeat(np.arange(n), ids.shape[1])
        data = (ids.reshape(-1) > 0).astype(np.float32)  # padding (0) does not count
        m = csr_matrix((data, (rows, ids.reshape(-1))), shape=(n, max(vocab_size, ids.max() + 1)))
        m.sum_duplicates()
        m.eliminate_zeros()  # the padding's explicit zeros: log(0) under sublinear TF-IDF
        return m
    if layout in ("image", "waveform") and x.ndim >= 3:
        while np.prod(x.shape[1:]) > MAX_FEATURES and x.shape[-1] >= 2:
            h = x.shape[-1] // 2 * 2
            x = x[..., :h].reshape(*x.shape[:-1], h // 2, 2).mean(axis=-1)
            if x.ndim == 4 and x.shape[-2] >= 2:
                v = x.shape[-2] // 2 * 2
                x = x[:, :, :v, :].reshape(n, x.shape[1], v // 2, 2, x.shape[-1]).mean(axis=3)
        return x.reshape(n, -1)
    if layout == "sequence":
        pooled = np.concatenate([x.mean(axis=1), x.std(axis=1)], axis=1)
        if np.prod(x.shape[1:]) <= MAX_FEATURES:
            pooled = np.concatenate([pooled, x.reshape(n, -1)], axis=1)
        return pooled
    return x.reshape(n, -1)


def _models(task: str, layout: str):
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.feature_extraction.text import TfidfTransformer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline

    if task == "regression":
        yield "ridge", "linear", lambda: Ridge(alpha=1.0)
        if layout == "vector":
            yield (
                "hist-gradient-boosting",
                "trees",
                lambda: HistGradientBoostingRegressor(random_state=0),
            )
        return
    if layout == "tokens":
        # TF-IDF weighting with sublinear term frequency, then logistic regression: the
        # standard strong baseline for short-text classification (Wang & Manning 2012).
        yield (
            "tfidf-logistic-regression",
            "linear",
            lambda: make_pipeline(
                TfidfTransformer(sublinear_tf=True), LogisticRegression(max_iter=500, C=10.0)
            ),
        )
    else:
        yield "logistic-regression", "linear", lambda: LogisticRegression(max_iter=300, C=1.0)
    if layout == "sequence":
        # 1-nearest-neighbour on the whole series: the classic time-series yardstick
        # (Bagnall et al. 2017, "The great time series classification bake off").
        yield "1-nearest-neighbour", "neighbours", lambda: KNeighborsClassifier(n_neighbors=1)
    if layout == "vector":
        yield (
            "hist-gradient-boosting",
            "trees",
            lambda: HistGradientBoostingClassifier(random_state=0),
        )


def run_baselines(data, graph, task: str, deadline: float, clock=time.monotonic) -> list[dict]:
    """Fit each baseline that applies; returns one record per baseline (metric on the
    validation split, seconds). Baselines that would start after `deadline` are skipped."""
    import warnings

    from ..train import metrics

    x, y = _all(data.train, MAX_ROWS)
    xv, yv = _all(data.val)
    layout, vocab = graph.layout, graph.vocab_size
    f, fv = features(x, layout, vocab), features(xv, layout, vocab)
    out = []
    for i, (name, family, make) in enumerate(_models(task, layout)):
        if i and clock() >= deadline:  # the first (linear, cheap) always runs
            break
        t0 = clock()
        model = make()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # convergence warnings: the metric says enough
                if task == "regression":
                    yy = y.reshape(len(y), -1)
                    model.fit(f, yy if yy.shape[1] > 1 else yy[:, 0])
                    pred = np.asarray(model.predict(fv)).reshape(len(yv), -1)
                    m = metrics.regression(pred, yv)
                    value, metric_name = m["rmse"], "val_rmse"
                else:
                    a, av = f, fv
                    if family == "neighbours":  # distance on the whole series, nothing pooled
                        a, av = x.reshape(len(x), -1), xv.reshape(len(xv), -1)
                    elif family == "trees" and hasattr(f, "toarray"):
                        a, av = f.toarray(), fv.toarray()
                    model.fit(a, y)
                    proba = model.predict_proba(av)
                    full = np.zeros((len(yv), int(max(y.max(), yv.max())) + 1))
                    full[:, model.classes_.astype(int)] = proba
                    m = metrics.classification(np.log(np.clip(full, 1e-12, None)), yv, "identity")
                    value, metric_name = m["accuracy"], "val_accuracy"
        except (ValueError, MemoryError) as exc:
            out.append(
                {"name": name, "family": family, "status": "failed", "reason": str(exc)[:200]}
            )
            continue
        out.append(
            {
                "name": name,
                "family": family,
                "status": "ok",
                "metric": value,
                "metric_name": metric_name,
                "val_loss": m["loss"],
                "train_seconds": clock() - t0,
                "train_rows": len(x),
                "features": int(f.shape[1]),
            }
        )
    return out
