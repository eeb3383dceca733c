"""The demo chain through the MLflow-model adapter, and /healthz (a script printing a table).

    .venv/bin/python benchmarks/demo_chain.py [--calls 50]

In a scratch VAR_DIR (a temporary folder: its own SQLite MLflow store), registers the demo chain,
then measures: registration (log + register), the first call (model load), warm calls through
`mlflow_model.invoke` (chain + synchronous trace export + trace read-back), the chain's own
latency as the adapter reports it, the trace size, and the /healthz checks.
"""

import argparse
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

QUESTIONS = [
    "How do I resolve a sync conflict?",
    "Which permission level do I need to export an evaluation set?",
    "How long are file versions kept on the Business plan?",
    "How do I create an API token?",
    "What does /healthz report?",
]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=50)
    args = parser.parse_args()

    var = tempfile.mkdtemp(prefix="reviewapp-bench-demo-")
    os.environ.update(VAR_DIR=var, DJANGO_SETTINGS_MODULE="reviewapp.settings")
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))  # settings never write one
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_ARTIFACT_ROOT", "DATABASE_URL"):
        os.environ.pop(name, None)
    import django

    django.setup()
    from reviewapp.chains import mlflow_model
    from reviewapp.chains.demo import ensure_registered
    from reviewapp.front import health

    rows = []
    started = time.monotonic()
    uri = ensure_registered()
    rows.append(("register the demo chain (log + register)", f"{time.monotonic() - started:.2f} s"))
    started = time.monotonic()
    ensure_registered()
    rows.append(("ensure_registered() when registered", f"{(time.monotonic() - started) * 1000:.0f} ms"))

    started = time.monotonic()
    mlflow_model.invoke(model_uri=uri, messages=[{"role": "user", "content": QUESTIONS[0]}])
    rows.append(("first call (loads the model)", f"{(time.monotonic() - started) * 1000:.0f} ms"))

    total, chain, sizes = [], [], []
    for n in range(args.calls):
        messages = [{"role": "user", "content": QUESTIONS[n % len(QUESTIONS)]}]
        started = time.monotonic()
        result = mlflow_model.invoke(model_uri=uri, messages=messages)
        total.append((time.monotonic() - started) * 1000)
        chain.append(result.latency_ms)
        sizes.append(len(json.dumps(result.trace)))
    rows.append(
        (
            f"warm call, end to end ({args.calls} calls)",
            f"p50 {statistics.median(total):.0f} ms, p95 {percentile(total, 95):.0f} ms",
        )
    )
    rows.append(
        (
            "  of which the chain (latency_ms)",
            f"p50 {statistics.median(chain):.0f} ms, p95 {percentile(chain, 95):.0f} ms",
        )
    )
    rows.append(("trace size (JSON)", f"{statistics.median(sizes) / 1024:.1f} KiB"))

    timings = []
    for _ in range(20):
        started = time.monotonic()
        health.report()
        timings.append((time.monotonic() - started) * 1000)
    rows.append(("/healthz checks (embedded default)", f"p50 {statistics.median(timings):.1f} ms"))

    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  result")
    print(f"{'-' * width}  ------")
    for label, value in rows:
        print(f"{label:<{width}}  {value}")


if __name__ == "__main__":
    main()
