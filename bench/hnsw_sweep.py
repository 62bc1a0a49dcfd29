"""HNSW build and efSearch sweep at 1M synthetic vectors (a benchmark, not a test): python bench/hnsw_sweep.py EFC[,EFC…]."""
import sys, time, os
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__))); sys.path.insert(0, ROOT); sys.path.insert(0, os.path.join(ROOT, "bench"))
import numpy as np, faiss
from scale import synthetic, recall, K
from eval.metrics import percentile as pct
n, nq = 1_000_000, 500
x, q = synthetic(n, nq)
faiss.omp_set_num_threads(2)
flat = faiss.IndexFlatIP(384); flat.add(x)
_, truth = flat.search(q, K); del flat
for efc in [int(a) for a in sys.argv[1].split(",")]:
    faiss.omp_set_num_threads(2)
    inner = faiss.IndexHNSWFlat(384, 32, faiss.METRIC_INNER_PRODUCT); inner.hnsw.efConstruction = efc
    idx = faiss.IndexIDMap2(inner)
    t0 = time.perf_counter(); idx.add_with_ids(x, np.arange(n, dtype=np.int64)); b = time.perf_counter() - t0
    print(f"efConstruction {efc}: build {b:.0f} s", flush=True)
    faiss.omp_set_num_threads(1)
    for ef in (96, 128, 160, 192, 256, 320):
        inner.hnsw.efSearch = ef
        lat, found = [], np.empty_like(truth)
        for i in range(nq):
            t0 = time.perf_counter(); _, found[i:i+1] = idx.search(q[i:i+1], K); lat.append(time.perf_counter() - t0)
        print(f"  efC {efc} efSearch {ef}: p50 {pct(lat,50)*1000:.2f} ms p95 {pct(lat,95)*1000:.2f} ms recall@10 {recall(found, truth):.3f}", flush=True)
    del idx, inner
