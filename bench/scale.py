"""Benchmark (not a test): vector index build time, memory, query latency and recall against exact search, by size; writes bench/results/scale.md.

Synthetic vectors stand in for embeddings at 10k-1M (a Gaussian mixture of 2,000
clusters on the unit sphere, dim 384, queries near data points, so neighbours have
structure as real embeddings do; uniform random vectors would be a harsher, unrealistic
case). Real embeddings: CMRC 2018 and DRCD paragraphs embedded with the default
runtime, searched with their own questions.

Metadata (``--meta N``): N synthetic chunks (4 per article, 150 characters each) written
as today's articles.jsonl + chunks.jsonl and as one SQLite file (``qa.index.meta``); each
is then opened in a fresh process, measuring open time, RSS growth, the sha256 check the
loader makes, and per-query lookups of 10 hits; writes bench/results/meta.md.

Index (``--index N``): a complete format-3 index generation of N synthetic chunks (the
metadata above, flat vectors from the same mixture, and a BM25 matrix of synthetic tokens
with a Zipf-like document frequency, ``--vocab`` tokens and ``--nnz`` tokens per chunk) is
written once to ``--index-dir``, then opened in a fresh process through
``qa.index.store.verify_index`` as every loader does: open time, RSS growth beyond the
vectors, and p50 latency of ``Retriever.retrieve`` (hybrid, with and without a date filter;
question vectors are synthetic queries, question text a slice of a chunk). Writes
bench/results/index.md.

Usage: python bench/scale.py [--sizes 10000,100000,1000000] [--real N] [--write]
       python bench/scale.py --meta 1000000 [--write]
       python bench/scale.py --index 1000000 [--index-dir DIR] [--full-verify] [--write]
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


PAPERS = ("东城日报", "西城晚报", "南湖周刊", "北山时报", "江滨导报")
_HAN = np.array([chr(c) for c in range(0x4E00, 0x4E00 + 3000)])


def synthetic_meta(n_chunks: int, per_article: int = 4, chunk_chars: int = 150, seed: int = 0):
    """Synthetic articles and chunks, generated lazily (articles, then chunks) so the writer streams them."""
    from qa.types import Article, Chunk

    rng = np.random.default_rng(seed)
    n_art = (n_chunks + per_article - 1) // per_article
    day0 = np.datetime64("2021-01-01")

    pool = "".join(rng.choice(_HAN, 1 << 20))  # slices of one random text: fast, and every chunk differs

    def texts(i):
        k = min(per_article, n_chunks - i * per_article)
        return [pool[o : o + chunk_chars] + "。" for o in ((i * 7919 + j * 104729) % (len(pool) - chunk_chars) for j in range(k))]

    def articles():
        for i in range(n_art):
            body = "\n".join(texts(i))
            yield Article(id=f"{i // 8:06d}/{i % 8:02d}-01", headline=pool[i % 100_000 : i % 100_000 + 12], body=body,
                          source=f"{i // 8:06d}/{i % 8:02d}.txt", paper=PAPERS[i % len(PAPERS)],
                          date=str(day0 + int(i * 1095 // n_art)), raw_start=0, raw_end=len(body))

    def chunks():
        cid = 0
        for i in range(n_art):
            start = 0
            for t in texts(i):
                yield Chunk(cid, f"{i // 8:06d}/{i % 8:02d}-01", t, start, start + len(t))
                start += len(t) + 1
                cid += 1

    return articles, chunks


def _rss_mib() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def meta_open(kind: str, folder: Path) -> dict:
    """Child process: open the metadata the way a loader would, and time lookups of 10 hits per query."""
    import json as _json

    from embeddings.models import sha256_file
    from qa.index.meta import META_FILE, MetaStore
    from qa.types import Article, Chunk

    files = [folder / META_FILE] if kind == "sqlite" else [folder / "articles.jsonl", folder / "chunks.jsonl"]
    rss0 = _rss_mib()
    t0 = time.perf_counter()
    for f in files:
        sha256_file(f)
    t_sha = time.perf_counter() - t0
    t0 = time.perf_counter()
    if kind == "sqlite":
        store = MetaStore(folder / META_FILE)
        articles, chunks = store.articles, store.chunks
        n = len(chunks)
    else:
        chunks = tuple(Chunk(**_json.loads(l)) for l in (folder / "chunks.jsonl").read_text(encoding="utf-8").splitlines())
        articles = {a.id: a for a in (Article.from_dict(_json.loads(l)) for l in (folder / "articles.jsonl").read_text(encoding="utf-8").splitlines())}
        n = len(chunks)
    t_open = time.perf_counter() - t0
    rss_open = _rss_mib() - rss0
    rng = np.random.default_rng(1)
    lat = []
    for _ in range(300):
        t = time.perf_counter()
        for cid in rng.integers(0, n, 10):
            c = chunks[int(cid)]
            _ = articles[c.article_id].title
        lat.append((time.perf_counter() - t) * 1000)
    t0 = time.perf_counter()
    if kind == "sqlite":
        mask = store.chunk_mask(None, "2022-01-01", "2022-03-31")
    else:
        ok = {a.id for a in articles.values() if a.date and "2022-01-01" <= a.date <= "2022-03-31"}
        mask = np.array([c.article_id in ok for c in chunks], dtype=bool)
    t_filter = time.perf_counter() - t0
    return {"kind": kind, "sha_s": t_sha, "open_s": t_open, "rss_mib": rss_open, "p50_ms": pct(lat, 50), "p95_ms": pct(lat, 95),
            "filter_s": t_filter, "filtered": int(mask.sum()), "mib": sum(f.stat().st_size for f in files) / 2**20}


def meta_bench(n: int, write: bool) -> int:
    import json as _json
    import subprocess
    import tempfile

    from qa.index.meta import META_FILE, write_meta

    folder = Path(tempfile.mkdtemp(prefix="newsqa-meta-"))
    try:
        articles, chunks = synthetic_meta(n)
        t0 = time.perf_counter()
        for name, rows in (("articles.jsonl", articles()), ("chunks.jsonl", chunks())):
            with open(folder / name, "w", encoding="utf-8") as f:
                for r in rows:
                    f.write(_json.dumps(r.to_dict(), ensure_ascii=False) + "\n")
        t_jsonl = time.perf_counter() - t0
        articles, chunks = synthetic_meta(n)
        t0 = time.perf_counter()
        write_meta(folder / META_FILE, articles(), chunks())
        t_sqlite = time.perf_counter() - t0
        rows = [f"| metadata for {n:,} chunks | files MiB | write s | sha256 s | open s | RSS after open MiB | 10 hits p50 ms | 10 hits p95 ms | date filter s |",
                "|---|---|---|---|---|---|---|---|---|"]
        print(rows[0], flush=True)
        for kind, t_write in (("jsonl", t_jsonl), ("sqlite", t_sqlite)):
            out = subprocess.run([sys.executable, __file__, "--meta-open", kind, str(folder)], capture_output=True, text=True, check=True)
            r = _json.loads(out.stdout.strip().splitlines()[-1])
            label = "articles.jsonl + chunks.jsonl, loaded whole (today)" if kind == "jsonl" else "meta.sqlite, read on demand"
            row = (f"| {label} | {r['mib']:.0f} | {t_write:.1f} | {r['sha_s']:.2f} | {r['open_s']:.2f} | {r['rss_mib']:.0f} | "
                   f"{r['p50_ms']:.2f} | {r['p95_ms']:.2f} | {r['filter_s']:.2f} |")
            rows.append(row)
            print(row, flush=True)
    finally:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
    if write:
        md = ["## Article and chunk metadata at scale", "",
              f"`python bench/scale.py --meta {n} --write`: synthetic articles (4 chunks of 150 Chinese characters each, "
              "5 papers, dates over 3 years), written as the index stores them today and as one SQLite file "
              "(`qa.index.meta`); each opened in a fresh process. Open = parse/load (JSONL) or connect (SQLite); RSS is "
              "the process's growth over the open; a query looks up 10 random hits (chunk, then its article); the date "
              "filter builds the chunk mask for one quarter. sha256 is the checksum pass the loader makes over the file(s). "
              "The machine was shared with other jobs (load average above 2 on 2 cores): times are upper bounds.", ""]
        md += rows
        md += ["", "Status: `meta.sqlite` is written and read by `qa.index.meta` (its tests and this benchmark); an index generation still stores and loads `articles.jsonl` and `chunks.jsonl`. Switching the loader over also needs the BM25 index and the extractive answerer's corpus statistics, which are loaded whole today, to be read on demand, and the full-file sha256 pass on every open to be replaced (it alone costs seconds at 1M chunks with the vectors)."]
        out = ROOT / "bench" / "results" / "meta.md"
        out.write_text("\n".join(md) + "\n", encoding="utf-8")
        print(f"wrote {out}")
    return 0


def _synthetic_bm25(gen: Path, n: int, vocab: int, nnz_per_chunk: int, seed: int = 0) -> None:
    """BM25 files in bm25s's layout: V columns (tokens), document frequency falling off as 1/rank, random documents."""
    import json as _json

    from numpy.lib.format import open_memmap

    rng = np.random.default_rng(seed)
    pairs = rng.choice(len(_HAN) ** 2, vocab, replace=False)
    tokens = ["b:" + _HAN[p // len(_HAN)] + _HAN[p % len(_HAN)] for p in pairs]
    w = 1.0 / (np.arange(vocab) + 10.0)
    df = np.minimum(np.maximum((w / w.sum() * nnz_per_chunk * n).astype(np.int64), 1), n)
    indptr = np.zeros(vocab + 1, dtype=np.int64)
    np.cumsum(df, out=indptr[1:])
    nnz = int(indptr[-1])
    data = open_memmap(gen / "bm25.data.npy", mode="w+", dtype=np.float32, shape=(nnz,))
    indices = open_memmap(gen / "bm25.indices.npy", mode="w+", dtype=np.int32, shape=(nnz,))
    step = 20_000_000
    for i in range(0, nnz, step):
        m = min(step, nnz - i)
        indices[i : i + m] = rng.integers(0, n, m, dtype=np.int32)
        data[i : i + m] = rng.uniform(0.2, 3.0, m).astype(np.float32)
    data.flush()
    indices.flush()
    del data, indices
    np.save(gen / "bm25.indptr.npy", indptr)
    from qa.lexical.bm25 import VOCAB_FILE, write_vocab

    write_vocab(gen / VOCAB_FILE, {t: i for i, t in enumerate(tokens)})
    params = {"k1": 1.5, "b": 0.75, "delta": 0.5, "method": "lucene", "idf_method": "lucene", "dtype": "float32",
              "int_dtype": "int32", "num_docs": n, "version": "0.3.16", "backend": "numpy"}
    (gen / "bm25.params.json").write_text(_json.dumps(params, indent=4), encoding="utf-8")


def index_build(n: int, folder: Path, vocab: int, nnz: int) -> dict:
    """Write a format-3 generation of N synthetic chunks (once; a folder that has one is reused)."""
    import json as _json

    import faiss

    from qa.index.build import _versions
    from qa.index.meta import META_FILE, write_meta
    from qa.index.store import FILES, FORMAT_VERSION, manifest_digest, sampled_sha256
    from qa.lexical.bm25 import DEFAULT_TOKENIZER
    from qa.text import text_grams
    from qa.timeq import article_times
    from embeddings.models import sha256_file

    done = folder / "build.json"
    if (folder / "CURRENT").is_file() and all((folder / "gen-000001" / f).is_file() for f in FILES):
        return _json.loads(done.read_text())
    gen = folder / "gen-000001"
    gen.mkdir(parents=True, exist_ok=True)
    times = _json.loads(done.read_text()) if done.is_file() else {}
    articles, chunks = synthetic_meta(n)
    if "meta_s" not in times:  # the slow parts are kept from an earlier run of the same folder
        t0 = time.perf_counter()
        write_meta(gen / META_FILE, articles(), chunks(), grams=text_grams, times=article_times)
        times["meta_s"] = time.perf_counter() - t0
    if "vectors_s" not in times:
        t0 = time.perf_counter()
        x, q = synthetic(n, 200)
        index = faiss.IndexIDMap2(faiss.IndexFlatIP(DIM))
        index.add_with_ids(x, np.arange(n, dtype=np.int64))
        del x
        faiss.write_index(index, str(gen / "vectors.faiss"))
        del index
        np.save(folder / "queries.npy", q)
        times["vectors_s"] = time.perf_counter() - t0
    for p in gen.glob("bm25.*"):
        p.unlink()
    t0 = time.perf_counter()
    _synthetic_bm25(gen, n, vocab, nnz)
    times["bm25_s"] = time.perf_counter() - t0
    n_art = (n + 3) // 4
    manifest = {
        "format_version": FORMAT_VERSION, "model": {"name": "synthetic", "dim": DIM, "weights_sha256": "none"}, "dim": DIM,
        "metric": "inner_product_on_unit_vectors", "vector_index": {"kind": "flat"}, "chunking": {},
        "corpus": {"sha256": "synthetic", "sources": sorted({a.source for a in articles()}), "skipped": []},
        "lexical": {"tokenizer": DEFAULT_TOKENIZER, "k1": 1.5, "b": 0.75, "method": "lucene", "pinyin": True},
        "counts": {"articles": n_art, "chunks": n},
        "files": {name: sha256_file(gen / name) for name in FILES},
        "sizes": {name: (gen / name).stat().st_size for name in FILES},
        "sampled_sha256": {name: sampled_sha256(gen / name) for name in FILES},
        "versions": _versions(),
    }
    manifest["manifest_sha256"] = manifest_digest(manifest)
    (gen / "manifest.json").write_text(_json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    (folder / "CURRENT").write_text(gen.name + "\n", encoding="utf-8")
    times["files_mib"] = {name: (gen / name).stat().st_size / 2**20 for name in (*FILES, "manifest.json")}
    (folder / "build.json").write_text(_json.dumps(times))
    return times


class _QueryVectors:
    """Stands in for the embedder in the benchmark: synthetic query vectors, in turn."""

    dim = DIM
    identity = {"name": "synthetic", "dim": DIM, "weights_sha256": "none"}

    def __init__(self, q: np.ndarray) -> None:
        self.q, self.i = q, 0

    def embed_queries(self, texts):
        out = self.q[[(self.i + j) % len(self.q) for j in range(len(texts))]]
        self.i += len(texts)
        return out


def _resident_mib(path: Path) -> float:
    """How much of a file this process has mapped and resident (from /proc/self/smaps)."""
    total, inside = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        if line[:1] in "0123456789abcdef" and "-" in line.split()[0]:
            inside = line.rstrip().endswith(str(path))
        elif inside and line.startswith("Rss:"):
            total += int(line.split()[1])
    return total / 1024


def index_open(folder: Path, full: bool) -> dict:
    """Child process: open the index as a loader does, then time retrievals."""
    import faiss

    from qa.index.store import current_generation, verify_generation, verify_index
    from qa.retrieve.retriever import Retriever
    from qa.settings import RetrievalSettings

    faiss.omp_set_num_threads(1)
    gen = current_generation(folder)
    vec_mib = (gen / "vectors.faiss").stat().st_size / 2**20
    rss0 = _rss_mib()
    t0 = time.perf_counter()
    idx = verify_index(folder)
    t_open = time.perf_counter() - t0
    rss_open = _rss_mib() - rss0
    t0 = time.perf_counter()
    verify_generation(gen, full=False)
    t_check = time.perf_counter() - t0
    r = Retriever(idx, _QueryVectors(np.load(folder / "queries.npy")), RetrievalSettings())
    rng = np.random.default_rng(2)
    questions = [idx.chunks[int(i)].text[:16] + "？" for i in rng.integers(0, idx.size, 40)]
    r.retrieve(questions[0], k=5)  # first touch of the mapped files
    lat, lat_f = [], []
    for qu in questions[1:31]:
        t = time.perf_counter()
        r.retrieve(qu, k=5)
        lat.append((time.perf_counter() - t) * 1000)
    for qu in questions[31:]:
        t = time.perf_counter()
        r.retrieve(qu, k=5, date_from="2022-01-01", date_to="2022-03-31")
        lat_f.append((time.perf_counter() - t) * 1000)
    t0 = time.perf_counter()
    lex = [r.lexical(qu, 50) for qu in questions]
    t_lex = (time.perf_counter() - t0) * 1000 / len(questions)
    out = {"vec_resident_mib": _resident_mib(gen / "vectors.faiss"), "open_s": t_open, "check_s": t_check, "rss_open_mib": rss_open, "vec_mib": vec_mib, "p50_ms": pct(lat, 50),
           "p50_filtered_ms": pct(lat_f, 50), "lexical_ms": t_lex, "rss_after_mib": _rss_mib() - rss0, "lex_hits": sum(map(len, lex))}
    if full:
        t0 = time.perf_counter()
        verify_index(folder, full=True)
        out["full_verify_s"] = time.perf_counter() - t0
    return out


def index_bench(n: int, folder: Path, vocab: int, nnz: int, full: bool, write: bool) -> int:
    import json as _json
    import subprocess

    t0 = time.perf_counter()
    built = index_build(n, folder, vocab, nnz)
    print(f"index at {folder} ({time.perf_counter() - t0:.0f} s): {_json.dumps(built)}", flush=True)
    out = subprocess.run([sys.executable, __file__, "--index-open", str(folder), "1" if full else "0"],
                         capture_output=True, text=True)
    if out.returncode:
        print(out.stderr, file=sys.stderr)
        return out.returncode
    r = _json.loads(out.stdout.strip().splitlines()[-1])
    files = built["files_mib"]
    rows = ["| chunks | files MiB (vectors / meta.sqlite / BM25) | open s | of which file checks s | RSS growth after open MiB | retrieve p50 ms | with date filter p50 ms | BM25 alone ms | RSS growth after queries MiB | of which vector pages MiB | full verify s |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
            f"| {n:,} | {files['vectors.faiss']:.0f} / {files['meta.sqlite']:.0f} / "
            f"{sum(v for k, v in files.items() if k.startswith('bm25')):.0f} | {r['open_s']:.2f} | {r['check_s']:.2f} | "
            f"{r['rss_open_mib']:.0f} | {r['p50_ms']:.0f} | {r['p50_filtered_ms']:.0f} | {r['lexical_ms']:.0f} | "
            f"{r['rss_after_mib']:.0f} | {r['vec_resident_mib']:.0f} | {r.get('full_verify_s', float('nan')):.1f} |"]
    print("\n".join(rows))
    if write:
        md = ["## A whole index at scale (format 3)", "",
              f"`python bench/scale.py --index {n} --vocab {vocab} --nnz {nnz}{' --full-verify' if full else ''} --write`: "
              f"a format-3 generation of {n:,} synthetic chunks (metadata as in `--meta`, with the answerer's gram counts; flat "
              f"vectors, dim {DIM}; a BM25 matrix of {vocab:,} tokens, {nnz} per chunk), built in "
              f"{built['meta_s']:.0f} s (meta.sqlite) + {built['vectors_s']:.0f} s (vectors) + {built['bm25_s']:.0f} s (BM25), "
              "then opened in a fresh process with `verify_index` (what every loader calls). RSS is the process's growth "
              "over the open, then over the queries; the vectors are memory-mapped, so their pages count only once a "
              "search reads them (exact search reads them all; the last column is their resident part). Retrieval is `Retriever.retrieve(k=5)`, hybrid, "
              "one thread, exact flat search (the HNSW figures are in the vector table); the date filter keeps one quarter "
              "of three years. Full verify = `newsqa info --verify` (every byte hashed, every chunk row checked). "
              "The machine was shared with other jobs: times are upper bounds.", ""]
        md += rows
        path = ROOT / "bench" / "results" / "index.md"
        path.write_text("\n".join(md) + "\n", encoding="utf-8")
        print(f"wrote {path}")
    return 0


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--index-open":
        import json as _json

        print(_json.dumps(index_open(Path(sys.argv[2]), sys.argv[3] == "1")))
        return 0
    if len(sys.argv) == 4 and sys.argv[1] == "--meta-open":
        import json as _json

        print(_json.dumps(meta_open(sys.argv[2], Path(sys.argv[3]))))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--meta", type=int, default=0, help="benchmark article/chunk metadata storage at N chunks instead")
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--real", type=int, default=0, help="also measure recall on N real paragraphs (embeds them)")
    ap.add_argument("--write", action="store_true", help="write bench/results/scale.md")
    ap.add_argument("--index", type=int, default=0, help="benchmark opening and querying a whole N-chunk index instead")
    ap.add_argument("--index-dir", type=Path, default=None, help="where the synthetic index is written (kept and reused)")
    ap.add_argument("--vocab", type=int, default=2_000_000, help="BM25 vocabulary size of the synthetic index")
    ap.add_argument("--nnz", type=int, default=300, help="BM25 tokens per chunk of the synthetic index")
    ap.add_argument("--full-verify", action="store_true", help="also time the full check (newsqa info --verify)")
    args = ap.parse_args()
    if args.index:
        folder = args.index_dir or Path(f"/tmp/newsqa-scale-index-{args.index}")
        return index_bench(args.index, folder, args.vocab, args.nnz, args.full_verify, args.write)
    if args.meta:
        return meta_bench(args.meta, args.write)
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
