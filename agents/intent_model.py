"""Intent classifier for the support agent.

Pure module (no Django): the caller passes `embed`, its shared all-MiniLM-L6-v2
encoder (L2-normalised float32, shape (n, 384)), so this model never loads an
encoder of its own and stays a few MB.

Design (chosen by measurement on Banking77, see bench/intent_experiments.py):
  logits = MLP(frozen MiniLM embedding) + Linear(TF-IDF word 1-2 grams + char 2-5 grams)
trained jointly with label-smoothed cross-entropy. The sentence embedding
carries paraphrase meaning, the sparse branch carries the exact product words
("top up", "PIN", "disposable card") that a frozen general-purpose encoder blurs.
Its softmax is mixed with a soft 1-nearest-labelled-example vote per intent,
which is what carries the few-shot case (one example can already be matched),
and each intent's name is added as one more example for the same reason.
A temperature fitted on a held-out slice calibrates the final probabilities.
The model abstains (intent=None) when a score falls below `abstain_threshold`;
the score blends the top probability with the cosine to the nearest labelled
example, because out-of-scope messages are far from every example even when the
softmax is confidently wrong.
"""
from __future__ import annotations

import functools
import io
import pickle
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.special import erf

Embed = Callable[[list[str]], np.ndarray]

#: Chosen on the 67/10 Banking77 out-of-scope split (bench/intents_oos.py).
#: The agent's operating point. 0.72 is where the 67/10 out-of-scope split costs 2 points of
#: in-scope accuracy (oos_recall 0.58); 0.65 keeps in-scope abstention near 1 % (full-data accuracy
#: with abstentions counted wrong ≈ 0.94) and still sends ~0.3 of unseen intents to a human. A
#: hand-off costs less than a wrong answer, but every needless hand-off is a customer kept waiting;
#: the retrieval fallback in agents.pipeline still answers close matches when the model abstains.
DEFAULT_ABSTAIN_THRESHOLD = 0.65
#: Most in-scope messages a model may abstain on (measured on its own calibration slice): the same
#: 2-point in-scope budget the out-of-scope operating point is chosen under. Matters with few
#: examples per intent, where in-scope scores sit lower; 0.05 -> 0.02 measured 10-shot accuracy
#: (abstentions counted wrong) 0.8549 -> 0.8615, in-scope abstain rate 3.7 % -> 2.2 %.
IN_SCOPE_ABSTAIN_TARGET = 0.02


@dataclass
class IntentPrediction:
    intent: str | None  # None = abstain (out of scope)
    confidence: float  # calibrated probability of the top intent, 0..1
    top: list[tuple[str, float]] = field(default_factory=list)  # top-5 (intent, prob)
    score: float = 0.0  # the quantity compared with abstain_threshold


@dataclass
class Config:
    """Hyper-parameters; defaults are the measured best on Banking77."""

    hidden: int = 1024
    dropout: float = 0.2
    few_shot_dropout: float = 0.5  # more regularisation measured +0.4pt at 10-shot, -0.2pt at full data
    few_shot_per_class: int = 30  # below this mean examples/intent, use few_shot_dropout
    lr: float = 2e-3
    weight_decay: float = 1e-4
    label_smoothing: float = 0.1
    batch_size: int = 128
    epochs: int = 20
    min_steps: int = 300  # small data sets still get enough updates
    # Large data sets need fewer passes than 20 epochs. On clean Banking77 800 steps were enough (10,003
    # examples: 0.9390 vs 0.9396 for 20 epochs, in 55 % of the time), but the labels the product learns
    # from are noisy, and there 1,200 learn more: +0.2 / +0.5 pt on held-out train rows (fit seeds 0 / 1,
    # bench/label_noise_validation.py); the 10,000-conversation simulation's end test accuracy
    # 0.9221 -> 0.9260. Only fits above ~7,700 examples are longer. ≤ 3,000 unchanged.
    max_steps: int = 1200
    use_tfidf: bool = True
    use_mlp: bool = True
    calibrate: bool = True
    calib_fraction: float = 0.1
    knn_weight: float = 0.75  # weight of nearest-example cosine in the abstain score (bench/intents_oos.py)
    knn_prob_mix: float = 0.4  # weight of kNN class probabilities mixed into the prediction
    knn_temperature: float = 0.1
    knn_mode: str = "max"  # per-class similarity: "max" (1-NN), "centroid", "top3" (mean of 3 best)
    augment: int = 0  # word-dropout copies per example, only while n <= augment_max_n
    augment_max_n: int = 3000
    augment_drop: float = 0.2
    label_names: bool = True  # add "card_arrival" -> "card arrival" as an example
    fused_adamw: bool = True  # one-pass CPU optimizer kernel: same updates, ~2x faster fits (bench/intent_experiments.py fit_speed)
    torch_threads: int = 1  # 2 threads spin-wait against the encoder on a 2-core box: 6x slower under load
    n_models: int = 1  # seed ensemble size, used only while n <= ensemble_max_n
    byte_dropout: bool = True  # numpy byte masks, not torch.nn.Dropout (bench/intent_experiments.py fit_speed dropout)
    ensemble_max_n: int = 3000


def name_as_example(intent: str) -> str:
    """An intent's name as the extra example `label_names` adds: "card_arrival" -> "card arrival"."""
    return intent.replace("_", " ")


@functools.cache
def _blas_controller():
    """Found once: scanning the loaded libraries costs ~6 ms, more than the prediction itself."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class _Sparse:
    """TF-IDF word + char features; None-safe for vocabularies that come out empty."""

    def __init__(self, vecs: list):
        self.vecs = vecs
        self.dim = sum(len(v.vocabulary_) for v in vecs)

    @classmethod
    def fit_transform(cls, texts: list[str]):
        """The fitted features and the training texts' rows, in one pass over the texts (fit, then
        transform, analysed every text twice: 0.85 s of a 15 s fit at 10,003 examples)."""
        from scipy.sparse import csr_matrix, hstack
        from sklearn.feature_extraction.text import TfidfVectorizer

        # min_df=2 on chars prunes typos on real data but would empty tiny data sets.
        char_min_df = 2 if len(texts) >= 200 else 1
        vecs, parts = [], []
        for vec in (
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, dtype=np.float32),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True,
                            min_df=char_min_df, dtype=np.float32),
        ):
            try:
                parts.append(vec.fit_transform(texts))
                vecs.append(vec)
            except ValueError:  # empty vocabulary (e.g. only stop-words / symbols)
                pass
        rows = (hstack(parts, format="csr", dtype=np.float32) if parts
                else csr_matrix((len(texts), 0), dtype=np.float32))
        return cls(vecs), rows

    def transform(self, texts: list[str]):
        from scipy.sparse import csr_matrix, hstack

        if not self.vecs:
            return csr_matrix((len(texts), 0), dtype=np.float32)
        return hstack([v.transform(texts) for v in self.vecs], format="csr", dtype=np.float32)


def _train_torch(X: np.ndarray, S, y: np.ndarray, k: int, cfg: Config, seed: int,
                 weight: np.ndarray | None = None) -> dict:
    """Fit the joint MLP + sparse-linear head; returns numpy weights (no torch in pickles).
    `weight`: how much each example counts in the loss (mean 1), for labels of unequal trust."""
    import torch

    torch.set_num_threads(cfg.torch_threads)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    n, d = X.shape
    drop = cfg.few_shot_dropout if n / k < cfg.few_shot_per_class else cfg.dropout
    v = S.shape[1] if S is not None else 0
    sparse_rows = _sparse_rows_function()

    class Dropout(torch.nn.Module):
        """Masks drawn as bytes by numpy's generator: torch's CPU Bernoulli sampler cost a tenth
        of every training step (bench/intent_experiments.py fit_speed)."""

        def __init__(self, p: float) -> None:
            super().__init__()
            self.cut = round(p * 256)  # a byte below this drops its unit: p to within 1/512

        def forward(self, x):
            if not self.training or not self.cut:
                return x
            keep = torch.from_numpy(rng.integers(0, 256, tuple(x.shape), dtype=np.uint8) >= self.cut)
            return x * keep * (256 / (256 - self.cut))

    def dropout(p: float) -> torch.nn.Module:
        return Dropout(p) if cfg.byte_dropout else torch.nn.Dropout(p)

    class Head(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            if cfg.use_mlp:
                self.mlp = torch.nn.Sequential(
                    dropout(drop), torch.nn.Linear(d, cfg.hidden), torch.nn.GELU(),
                    dropout(drop), torch.nn.Linear(cfg.hidden, k))
            else:
                self.mlp = torch.nn.Sequential(dropout(drop), torch.nn.Linear(d, k))
            # The TF-IDF branch: a V x k weight the batch's sparse rows multiply (see _sparse_rows_function).
            self.sp = torch.nn.Parameter(torch.zeros(max(v, 1), k)) if v else None

        def forward(self, x, rows=None):
            out = self.mlp(x)
            if self.sp is not None:
                out = out + sparse_rows.apply(self.sp, rows)
            return out

    model = Head()
    params = [{"params": model.mlp.parameters(), "weight_decay": cfg.weight_decay}]
    if model.sp is not None:
        params.append({"params": [model.sp], "weight_decay": 0.0})
    opt = None
    if cfg.fused_adamw:
        try:  # same update in one pass over the ~10^6-10^7 weights (the sparse branch dominates)
            opt = torch.optim.AdamW(params, lr=cfg.lr, fused=True)
        except (RuntimeError, TypeError):  # torch without a fused CPU AdamW
            opt = None
    if opt is None:
        opt = torch.optim.AdamW(params, lr=cfg.lr)
    bs = min(cfg.batch_size, n)
    per_epoch = (n + bs - 1) // bs
    epochs = max(min(cfg.epochs, -(-cfg.max_steps // per_epoch)), -(-cfg.min_steps // per_epoch))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=epochs * per_epoch)
    Xt, yt = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32)), torch.from_numpy(y.astype(np.int64))
    wt = None if weight is None else torch.from_numpy(np.asarray(weight, dtype=np.float32))
    model.train()
    for _ in range(epochs):
        perm = rng.permutation(n)
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            out = model(Xt[idx], S[idx] if v else None)
            if wt is None:
                loss = torch.nn.functional.cross_entropy(out, yt[idx], label_smoothing=cfg.label_smoothing)
            else:
                loss = (torch.nn.functional.cross_entropy(out, yt[idx], label_smoothing=cfg.label_smoothing,
                                                          reduction="none") * wt[idx]).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    model.eval()
    layers = [m for m in model.mlp if isinstance(m, torch.nn.Linear)]
    w = {"layers": [(m.weight.detach().numpy().T.copy(), m.bias.detach().numpy().copy()) for m in layers]}
    w["sparse"] = model.sp.detach().numpy().copy() if model.sp is not None else None
    return w


@functools.cache
def _sparse_rows_function():
    import torch

    class SparseRows(torch.autograd.Function):
        """rows @ weight for a scipy CSR batch, by scipy both ways: the same gradient as an
        EmbeddingBag's, at 1.7 ms a step instead of 4.2 on the full Banking77 vocabulary
        (the sparse branch's backward was a third of every step)."""

        @staticmethod
        def forward(ctx, weight, rows):
            ctx.rows = rows
            return torch.from_numpy(np.asarray(rows @ weight.detach().numpy(), dtype=np.float32))

        @staticmethod
        def backward(ctx, grad):
            return torch.from_numpy(np.asarray(ctx.rows.T @ grad.numpy(), dtype=np.float32)), None

    return SparseRows


def _train_parts(X: np.ndarray, texts: list[str], y: np.ndarray, k: int, cfg: Config, seed: int,
                 weight: np.ndarray | None = None) -> tuple[dict, _Sparse | None]:
    sp, S = _Sparse.fit_transform(texts) if cfg.use_tfidf else (None, None)
    n_models = cfg.n_models if len(texts) <= cfg.ensemble_max_n else 1
    if weight is not None:
        weight = weight / weight.mean()
    return {"members": [_train_torch(X, S, y, k, cfg, seed + 1000 * i, weight) for i in range(n_models)]}, sp


def _logits(w: dict, X: np.ndarray, S) -> np.ndarray:
    return np.mean([_member_logits(m, X, S) for m in w["members"]], axis=0)


def _member_logits(w: dict, X: np.ndarray, S) -> np.ndarray:
    layers = w["layers"]
    h = X
    for i, (W, b) in enumerate(layers):
        h = h @ W + b
        if i < len(layers) - 1:
            h = _gelu(h)
    if w["sparse"] is not None and S is not None and S.shape[1]:
        h = h + S @ w["sparse"]
    return np.asarray(h)


def _fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """Single temperature minimising held-out NLL (grid search in log space: robust, no deps)."""
    best_t, best_nll = 1.0, np.inf
    for t in np.exp(np.linspace(np.log(0.1), np.log(10.0), 121)):
        p = _softmax(logits / t)
        nll = -np.mean(np.log(p[np.arange(len(y)), y] + 1e-12))
        if nll < best_nll:
            best_t, best_nll = float(t), nll
    return best_t


class IntentModel:
    labels: list[str]
    n_examples: int
    abstain_threshold: float

    def __init__(self, labels: list[str], cfg: Config, weights: dict, sparse: _Sparse | None,
                 temperature: float, bank: np.ndarray, bank_y: np.ndarray,
                 abstain_threshold: float, n_examples: int, seed: int):
        self.labels = labels
        self.cfg = cfg
        self.weights = weights
        self.sparse = sparse
        self.temperature = temperature
        # Sorted by class for block-wise per-class maxima; rounded through float16 (as stored
        # by to_bytes) so a reloaded model predicts identically.
        order = np.argsort(bank_y, kind="stable")
        self.bank = np.asarray(bank, dtype=np.float16)[order].astype(np.float32)
        self.bank_y = np.asarray(bank_y)[order]
        self.abstain_threshold = abstain_threshold
        self.n_examples = n_examples
        self.seed = seed
        self._centroids: np.ndarray | None = None

    # ------------------------------------------------------------------ fit
    @classmethod
    def fit(cls, texts: list[str], labels: list[str], *, embed: Embed, seed: int = 0,
            abstain_threshold: float | None = None, config: Config | None = None,
            previous: IntentModel | None = None, weights: list[float] | None = None) -> IntentModel:
        """`previous`: the model this one replaces. Its calibration is kept while the intents are the
        same and the data have not doubled since it was fitted; calibrating takes a second fit on a
        split, which doubled the cost of every refresh. Temperature measured on Banking77 at
        600 → 9,600 examples: 0.43, 0.38, 0.45, 0.43, 0.45."""
        cfg = config or Config()
        if len(texts) != len(labels) or not texts:
            raise ValueError("texts and labels must be non-empty and of equal length")
        classes = sorted(set(labels))
        if len(classes) < 2:
            raise ValueError("need at least 2 intents")
        index = {c: i for i, c in enumerate(classes)}
        y = np.array([index[c] for c in labels], dtype=np.int64)
        texts = list(texts)
        if cfg.label_names:
            texts = texts + [name_as_example(c) for c in classes]
            y = np.concatenate([y, np.arange(len(classes))])
        weight = None
        if weights is not None:
            if len(weights) != len(labels):
                raise ValueError("one weight per example")
            weight = np.concatenate([np.asarray(weights, dtype=np.float64),
                                     np.ones(len(texts) - len(labels))])  # intents' names count fully
        n_real = len(texts)
        src = np.arange(n_real)  # which real example each row derives from
        if cfg.augment and n_real <= cfg.augment_max_n:
            aug_t, aug_y, aug_src = _augment(texts, y, cfg.augment, cfg.augment_drop, seed)
            texts, y, src = texts + aug_t, np.concatenate([y, aug_y]), np.concatenate([src, aug_src])
        X = np.asarray(embed(texts), dtype=np.float32)
        k = len(classes)

        temperature = 1.0
        cal_threshold = DEFAULT_ABSTAIN_THRESHOLD
        calibrated_n = len(labels)
        kept_n = getattr(previous, "calibrated_n", previous.n_examples) if previous is not None else 0
        cal = _calibration_split(y[:n_real], cfg.calib_fraction, seed) if cfg.calibrate else None
        if cal is not None and previous is not None and previous.labels == classes and len(labels) < 2 * kept_n:
            temperature, cal_threshold, calibrated_n = previous.temperature, previous.abstain_threshold, kept_n
        elif cal is not None:
            # Fit on the rest (augmented copies of held-out rows excluded), calibrate on held-out.
            fit_real, cal_idx = cal
            fit_idx = np.flatnonzero(np.isin(src, fit_real))
            part = _train_parts(X[fit_idx], [texts[i] for i in fit_idx], y[fit_idx], k, cfg, seed,
                                None if weight is None else weight[src[fit_idx]])
            bank_mask = fit_idx < n_real
            probe = cls(classes, cfg, part[0], part[1], 1.0, X[fit_idx][bank_mask],
                        y[fit_idx][bank_mask].astype(np.int32), 0.0, len(fit_real), seed)
            cal_words = probe._words([texts[i] for i in cal_idx])
            p, _ = probe._scores(X[cal_idx], cal_words)
            temperature = _fit_temperature(np.log(p + 1e-12), y[cal_idx])
            # The OOS-tuned threshold assumes plenty of examples per intent; with few, in-scope
            # messages sit farther from their nearest example. Never abstain on more than ~5 %
            # of held-out in-scope messages: lower the threshold to that quantile when needed.
            probe.temperature = temperature
            _, cal_scores = probe._scores(X[cal_idx], cal_words)
            cal_threshold = min(DEFAULT_ABSTAIN_THRESHOLD, float(np.quantile(cal_scores, IN_SCOPE_ABSTAIN_TARGET)))

        w, sp = _train_parts(X, texts, y, k, cfg, seed, None if weight is None else weight[src])
        thr = cal_threshold if abstain_threshold is None else float(abstain_threshold)
        model = cls(classes, cfg, w, sp, temperature, X[:n_real], y[:n_real].astype(np.int32),
                    thr, len(labels), seed)
        model.calibrated_n = calibrated_n
        return model

    # -------------------------------------------------------------- predict
    def _words(self, texts: list[str]):
        return self.sparse.transform(texts) if self.sparse is not None else None

    def _scores(self, X: np.ndarray, S) -> tuple[np.ndarray, np.ndarray]:
        lg = _logits(self.weights, X, S)
        sims = X @ self.bank.T  # cosine: both sides are L2-normalised
        if self.cfg.knn_prob_mix > 0:
            p = _softmax(lg)
            best = self._class_sims(X, sims)
            mix = self.cfg.knn_prob_mix
            p = (1 - mix) * p + mix * _softmax(best / self.cfg.knn_temperature)
            lg = np.log(p + 1e-12)
        p = _softmax(lg / self.temperature)
        a = self.cfg.knn_weight
        score = (1 - a) * p.max(axis=1) + a * sims.max(axis=1)
        return p, score

    def centroids(self) -> np.ndarray:
        """One unit vector per intent (row order = self.labels): what its customers typically ask."""
        if getattr(self, "_centroids", None) is None:
            cen = np.zeros((len(self.labels), self.bank.shape[1]), dtype=np.float32)
            np.add.at(cen, self.bank_y, self.bank)
            self._centroids = cen / np.maximum(np.linalg.norm(cen, axis=1, keepdims=True), 1e-9)
        return self._centroids

    def _class_sims(self, X: np.ndarray, sims: np.ndarray) -> np.ndarray:
        mode = self.cfg.knn_mode
        if mode == "centroid":
            return X @ self.centroids().T
        # bank is sorted by class, so each class is one contiguous column block
        starts = np.searchsorted(self.bank_y, np.arange(len(self.labels)))
        if mode == "top3":
            best = np.full((len(X), len(self.labels)), -1.0, dtype=np.float32)
            ends = np.append(starts[1:], len(self.bank_y))
            for c, (a, b) in enumerate(zip(starts, ends, strict=True)):
                if b > a:
                    best[:, c] = np.sort(sims[:, a:b], axis=1)[:, -min(3, b - a):].mean(axis=1)
            return best
        return np.maximum.reduceat(sims, starts, axis=1)

    def predict_proba(self, texts: list[str], *, embed: Embed) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated class probabilities and the abstain score, for benchmarks and predict()."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, len(self.labels))), np.zeros(0)
        # The words first: an encoder started early (embed_soon) finishes meanwhile.
        S = self._words(texts)
        X = np.asarray(embed(texts), dtype=np.float32)
        # Multi-threaded BLAS spin-waits after each call and starves the caller's torch encoder
        # on a 2-core box (measured: encoder p95 7 ms -> 115 ms); one thread is plenty here.
        with _blas_controller().limit(limits=1, user_api="blas"):
            return self._scores(X, S)

    def predict(self, texts: list[str], *, embed: Embed) -> list[IntentPrediction]:
        p, score = self.predict_proba(texts, embed=embed)
        out = []
        for row, s in zip(p, score, strict=True):
            order = np.argsort(-row)[:5]
            top = [(self.labels[i], float(row[i])) for i in order]
            intent = top[0][0] if s >= self.abstain_threshold else None
            out.append(IntentPrediction(intent=intent, confidence=top[0][1], top=top, score=float(s)))
        return out

    # -------------------------------------------------------- serialisation
    def to_bytes(self) -> bytes:
        # float16 halves the stored example bank; cosine ranks are unaffected at this precision.
        state = dict(self.__dict__, bank=self.bank.astype(np.float16))
        buf = io.BytesIO()
        pickle.dump({"version": 1, "state": state}, buf, protocol=pickle.HIGHEST_PROTOCOL)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> IntentModel:
        obj = pickle.loads(data)
        if obj.get("version") != 1:
            raise ValueError(f"unsupported IntentModel version {obj.get('version')}")
        model = cls.__new__(cls)
        model.__dict__.update(obj["state"])
        model.bank = np.asarray(model.bank, dtype=np.float32)
        return model


def fit_with_vectors(texts: list[str], labels: list[str], vectors: dict[str, np.ndarray], *, seed: int,
                     previous: bytes | None) -> tuple[bytes, float]:
    """IntentModel.fit in a process of its own, on vectors the caller already encoded (its encoder and
    their memo stay in the caller). Returns the model's bytes and the fit's own seconds."""
    import time

    from threadpoolctl import threadpool_limits

    started = time.perf_counter()
    with threadpool_limits(limits=1):  # one core is this process's share; the caller has the other
        model = IntentModel.fit(texts, labels, embed=lambda batch: np.stack([vectors[t] for t in batch]), seed=seed,
                                previous=IntentModel.from_bytes(previous) if previous else None)
    return model.to_bytes(), time.perf_counter() - started


def _augment(texts: list[str], y: np.ndarray, copies: int, drop: float, seed: int
             ) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Word-dropout paraphrases: cheap extra points in embedding space for few-shot intents."""
    rng = np.random.default_rng(seed + 104729)
    out_t: list[str] = []
    out_y: list[int] = []
    out_src: list[int] = []
    for i, (t, c) in enumerate(zip(texts, y, strict=True)):
        words = t.split()
        if len(words) < 3:
            continue
        seen = {t}
        for _ in range(copies):
            keep = rng.random(len(words)) >= drop
            if keep.sum() < 2:
                continue
            v = " ".join(w for w, k in zip(words, keep, strict=True) if k)
            if v not in seen:
                seen.add(v)
                out_t.append(v)
                out_y.append(int(c))
                out_src.append(i)
    return out_t, np.array(out_y, dtype=np.int64), np.array(out_src, dtype=np.int64)


def _calibration_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Stratified hold-out that keeps >=1 example of every class for fitting.

    Returns None when the data are too small to spare a calibration slice
    (e.g. one example per class): then the temperature stays 1.
    """
    rng = np.random.default_rng(seed + 7919)
    fit_idx, cal_idx = [], []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        n_cal = int(round(len(idx) * fraction)) if len(idx) >= 4 else 0
        if len(idx) >= 4:
            n_cal = max(1, n_cal)
        cal_idx.extend(idx[:n_cal])
        fit_idx.extend(idx[n_cal:])
    if len(cal_idx) < 2 * len(np.unique(y)) and len(cal_idx) < 30:
        return None
    return np.sort(np.array(fit_idx)), np.sort(np.array(cal_idx))
