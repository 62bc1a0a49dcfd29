"""Benchmark (not a test): vector index build time, memory, query latency and recall against exact search, by size; writes bench/results/scale.md.

Synthetic vectors stand in for embeddings at 10k-1M (a Gaussian mixture of 2,000
clusters on the unit sphere, dim 384, queries near data points, so neighbours have
structure as real embeddings do; uniform random vectors would be a harsher, unrealistic
case). Real embeddings: CMRC 2018 and DRCD paragraphs embedded with the default
runtime, searched with their own questions.

Usage: python bench/scale.py [--sizes 10000,100000,1000000] [--real N] [--write]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from eval.metrics import percentile as pct  # noqa: E402

DIM = 384
K = 10


def synthetic(n: int, nq: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((2000, DIM)).astype(np.float32)
    x = np.empty((n, DIM), dtype=np.float32)
    step = 100_000
    for i in range(0, n, step):
        m = min(step, n - i)
        x[i : i + m] = centers[rng.integers(0, len(centers), m)] + 0.9 * rng.standard_normal((m, DIM)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    q = x[rng.integers(0, n, nq)] + 0.3 * rng.standard_normal((nq, DIM)).astype(np.float32) / np.sqrt(DIM) * 4
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return x, q.astype(np.float32)


def measure(x: np.ndarray, q: np.ndarray, kind: str) -> dict:
    import faiss

    from qa.index.ann import make_vector_index

    faiss.omp_set_num_threads(os.cpu_count() or 1)  # build on every core
    t0 = time.perf_counter()
    index, desc = make_vector_index(x.shape[1], len(x), kind)
    index.add_with_ids(x, np.arange(len(x), dtype=np.int64))
    build = time.perf_counter() - t0
    size = len(faiss.serialize_index(index)) / 2**20
    faiss.omp_set_num_threads(1)  # one query at a time on one thread, as ask() does
    lat = []
    ids = np.empty((len(q), K), dtype=np.int64)
    for i in range(len(q)):
        t0 = time.perf_counter()
        _s, ids[i : i + 1] = index.search(q[i : i + 1], K)
        lat.append(time.perf_counter() - t0)
    out = {"kind": desc["kind"], "build_s": build, "file_mib": size, "p50_ms": pct(lat, 50) * 1000,
           "p95_ms": pct(lat, 95) * 1000, "ids": ids, "sweep": []}
    if desc["kind"] == "hnsw":  # the same graph searched wider: recall against latency
        inner = faiss.downcast_index(index.index)
        for ef in (256, 512):
            inner.hnsw.efSearch = ef
            lat, found = [], np.empty_like(ids)
            for i in range(len(q)):
                t0 = time.perf_counter()
                _s, found[i : i + 1] = index.search(q[i : i + 1], K)
                lat.append(time.perf_counter() - t0)
            out["sweep"].append((ef, pct(lat, 50) * 1000, pct(lat, 95) * 1000, found))
    return out


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth)]))


def real_vectors(limit: int) -> tuple[np.ndarray, np.ndarray, str]:
    """Paragraphs and questions of the shared CMRC 2018 / DRCD files, embedded with the default runtime."""
    from eval.squad import load_squad
    from qa.api import load_embedder

    shared = ROOT.parent / "shared" / "external"
    files = [shared / "cmrc2018" / "cmrc2018_dev_squad.json", shared / "drcd" / "DRCD_dev.json", shared / "cmrc2018" / "cmrc2018_trial_squad.json"]
    arts, qs = [], []
    for f in files:
        if f.is_file():
            a, qq = load_squad(f)
            arts += a
            qs += [x["question"] for x in qq if not x["empty"]]
    if not arts:
        raise SystemExit(f"no SQuAD files under {shared}")
    rng = np.random.default_rng(0)
    arts = [arts[i] for i in sorted(rng.choice(len(arts), min(limit, len(arts)), replace=False))]
    qs = [qs[i] for i in rng.choice(len(qs), 300, replace=False)]
    emb = load_embedder(None)
    t0 = time.perf_counter()
    x = emb.embed_passages([f"{a.headline}\n{a.body}" for a in arts])
    dt = time.perf_counter() - t0
    q = emb.embed_queries(qs)
    note = f"{len(arts)} CMRC 2018/DRCD paragraphs embedded with {emb.identity.get('runtime', 'torch-fp32')} in {dt:.0f} s ({len(arts) / dt:.1f} passages/s), {len(qs)} of their questions"
    return x, q, note


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--real", type=int, default=0, help="also measure recall on N real paragraphs (embeds them)")
    ap.add_argument("--write", action="store_true", help="write bench/results/scale.md")
    args = ap.parse_args()
    rows = ["| vectors (dim 384) | index | build s | index size MiB (its memory) | query p50 ms | query p95 ms | recall@10 vs exact |", "|---|---|---|---|---|---|---|"]
    print(rows[0], flush=True)
    for n in [int(s) for s in args.sizes.split(",") if s]:
        x, q = synthetic(n, args.queries)
        exact = measure(x, q, "flat")
        hnsw = measure(x, q, "hnsw")
        for r in (exact, hnsw):
            rec = recall(r["ids"], exact["ids"])
            row = f"| {n:,} synthetic | {r['kind']} | {r['build_s']:.1f} | {r['file_mib']:.0f} | {r['p50_ms']:.2f} | {r['p95_ms']:.2f} | {rec:.3f} |"
            rows.append(row)
            print(row, flush=True)
        for ef, p50, p95, found in hnsw["sweep"]:
            row = f"| {n:,} synthetic | hnsw, efSearch {ef} | – | – | {p50:.2f} | {p95:.2f} | {recall(found, exact['ids']):.3f} |"
            rows.append(row)
            print(row, flush=True)
        del x
    real_note = ""
    if args.real:
        x, q, real_note = real_vectors(args.real)
        exact = measure(x, q, "flat")
        hnsw = measure(x, q, "hnsw")
        for r in (exact, hnsw):
            row = f"| {len(x):,} real | {r['kind']} | {r['build_s']:.2f} | {r['file_mib']:.1f} | {r['p50_ms']:.2f} | {r['p95_ms']:.2f} | {recall(r['ids'], exact['ids']):.3f} |"
            rows.append(row)
            print(row, flush=True)
        print(real_note)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:.0f} MiB")
    if args.write:
        from qa.index.ann import DEFAULT_FLAT_MAX, HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH, HNSW_M

        md = ["## Vector index by size", "",
              f"`python bench/scale.py --sizes {args.sizes} --real {args.real} --write`. newsqa builds exact flat search up to "
              f"{DEFAULT_FLAT_MAX:,} chunks (`NEWSQA_FLAT_MAX`), HNSW{HNSW_M} (efConstruction {HNSW_EF_CONSTRUCTION}, efSearch "
              f"{HNSW_EF_SEARCH}, vectors stored uncompressed, so no refine step is needed) above. Builds use both cores; "
              f"queries one thread, one at a time. An index's memory is about its file size (it is loaded whole).", ""]
        md += rows
        if real_note:
            md += ["", f"Real rows: {real_note}."]
        out = ROOT / "bench" / "results" / "scale.md"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("\n".join(md) + "\n", encoding="utf-8")
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
