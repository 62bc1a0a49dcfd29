"""Crash safety of index builds: SIGKILL at each step boundary and at random moments, damage, disk full, the lock.

Every build under test runs in a child process (``python -c``) that is killed with
SIGKILL or limited with RLIMIT_FSIZE; the parent then checks that the loader gets the
old or the new generation, never a torn one, and that the next build succeeds.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from embeddings.encoder import HashingEmbedder
from qa.ingest.chunking import ChunkParams
from qa.errors import IndexCorruptError, IndexMismatchError, IndexNotFoundError, IndexWriteError, NewsQAError
from qa.index.build import CRASH_POINTS, build_index, build_lock
from qa.index.store import FILES, current_generation, verify_index

ROOT = Path(__file__).resolve().parent.parent
PARAMS = ChunkParams(120, 20)
OLD_N, NEW_N = 3, 7  # articles in the "old" and the "new" generation: the loader tells them apart by count
RANDOM_KILLS = 30

CHILD = r"""
import os, sys, resource
from pathlib import Path
limit = int(os.environ.get("CHILD_FSIZE", "0"))
if limit:
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))  # Python ignores SIGXFSZ: writes fail with EFBIG
from embeddings.encoder import HashingEmbedder
from qa.ingest.chunking import ChunkParams
from qa.ingest.corpus import load_articles
from qa.errors import NewsQAError
from qa.index.build import build_index
import qa.index.build as qi
_orig = qi._crash_point
def _trace(step):
    print(step, flush=True)  # the parent times its kills from these lines
    _orig(step)
qi._crash_point = _trace
arts = load_articles([sys.argv[1]])[: int(sys.argv[3])]
emb = HashingEmbedder(dim=256)
print("ready", flush=True)
try:
    build_index(arts, emb, Path(sys.argv[2]), ChunkParams(120, 20))
except NewsQAError as e:
    print(f"newsqa: error: {e}", file=sys.stderr)
    sys.exit(2)
print("done", flush=True)
"""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "NEWSQA_CRASH_AT"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["OMP_NUM_THREADS"] = "1"
    env.update(extra)
    return env


def _child(out: Path, seed_dir: Path, n: int, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(seed_dir), str(out), str(n)],
        env=_env(**env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _articles_loaded(out: Path) -> int:
    """What a fresh loader sees: the number of articles of the generation it gets (raises if torn)."""
    return len(verify_index(out, identity=HashingEmbedder(dim=256).identity).articles)


def _state(out: Path, n: int) -> str:
    """Where a killed build stopped, judged from what it left on disk and what the loader got."""
    if n == NEW_N:
        return "switched: new served"
    cur = current_generation(out).name
    gens = sorted(p.name for p in out.glob("gen-*"))
    if gens and gens[-1] != cur:
        return "renamed, not current: old served"
    if list(out.glob(".gen-*")):
        return "temp folder: old served"
    return "before writing: old served"


@pytest.fixture
def old_index(tmp_path, seed_articles) -> Path:
    out = tmp_path / "idx"
    build_index(seed_articles[:OLD_N], HashingEmbedder(dim=256), out, PARAMS)
    return out


# --------------------------------------------------------------------------- #
# SIGKILL at each step boundary

@pytest.mark.parametrize("step", CRASH_POINTS)
def test_kill_at_each_step_leaves_old_or_new_and_next_build_succeeds(old_index, seed_dir, seed_articles, step):
    before = current_generation(old_index).name
    p = _child(old_index, seed_dir, NEW_N, NEWSQA_CRASH_AT=step)
    out, err = p.communicate(timeout=120)
    assert p.returncode == -signal.SIGKILL, (step, p.returncode, err[-500:])
    assert "done" not in out
    switched = CRASH_POINTS.index(step) >= CRASH_POINTS.index("current-switched")
    assert _articles_loaded(old_index) == (NEW_N if switched else OLD_N)
    if not switched:
        assert current_generation(old_index).name == before
    # the next build succeeds, cleans what the killed one left, and keeps the last good generation
    last_good = current_generation(old_index).name
    gen = build_index(seed_articles[:5], HashingEmbedder(dim=256), old_index, PARAMS)
    assert current_generation(old_index) == gen and _articles_loaded(old_index) == 5
    assert not list(old_index.glob(".gen-*")) and not list(old_index.glob(".CURRENT.*"))
    assert sorted(p.name for p in old_index.glob("gen-*")) == sorted({last_good, gen.name})


def test_crash_points_cover_the_whole_write():
    # the hook names are the documented step boundaries, in build order, none missing from the code
    src = (ROOT / "qa" / "index" / "build.py").read_text(encoding="utf-8")
    positions = [src.index(f'_crash_point("{s}")') for s in CRASH_POINTS]
    assert len(set(CRASH_POINTS)) == len(CRASH_POINTS) >= 12
    assert positions[:-1] == sorted(positions[:-1])  # "pruned" lives in build_index, after the others


# --------------------------------------------------------------------------- #
# SIGKILL at random moments

def test_random_sigkills_never_tear_the_index(tmp_path, seed_dir, seed_articles):
    out = tmp_path / "idx"
    emb = HashingEmbedder(dim=256)
    build_index(seed_articles[:OLD_N], emb, out, PARAMS)
    # how long a whole build takes in the child, and its write phase (lock taken → pruned)
    p = _child(out, seed_dir, NEW_N)
    marks = {}
    for line in p.stdout:
        marks[line.strip()] = time.perf_counter()
    p.communicate(timeout=120)
    assert p.returncode == 0 and _articles_loaded(out) == NEW_N
    full, write = marks["done"] - marks["ready"], marks["pruned"] - marks["locked"]
    rng = random.Random(6)
    states: dict[str, int] = {}
    kills = 0
    for i in range(RANDOM_KILLS):
        build_index(seed_articles[:OLD_N], emb, out, PARAMS)  # the next build after a kill succeeds
        assert _articles_loaded(out) == OLD_N
        p = _child(out, seed_dir, NEW_N)
        # even kills: a random moment anywhere in the build; odd: a random moment in its write phase
        start = "ready" if i % 2 == 0 else "locked"
        for line in p.stdout:
            if line.strip() == start:
                break
        time.sleep(rng.uniform(0, full) if start == "ready" else rng.uniform(0, write * 1.1))
        p.send_signal(signal.SIGKILL)
        p.communicate(timeout=60)
        if p.returncode == -signal.SIGKILL:
            kills += 1
        n = _articles_loaded(out)  # never raises: old or new, never torn
        assert n in (OLD_N, NEW_N)
        state = _state(out, n)
        states[state] = states.get(state, 0) + 1
    build_index(seed_articles[:5], emb, out, PARAMS)
    assert _articles_loaded(out) == 5 and not list(out.glob(".gen-*"))
    print(f"\nrandom SIGKILLs: {kills} of {RANDOM_KILLS} killed the builder before it exited; "
          f"build {full * 1000:.0f} ms, write phase {write * 1000:.0f} ms; where they stopped: {json.dumps(states)}")
    assert kills >= 25


# --------------------------------------------------------------------------- #
# Lucene-style damage to each file: detected, never served

def _delete(p: Path) -> None:
    p.unlink()


def _zero(p: Path) -> None:
    p.write_bytes(b"\0" * p.stat().st_size)


def _truncate(p: Path) -> None:
    with open(p, "rb+") as f:
        f.truncate(p.stat().st_size // 2)


def _flip(p: Path, where: float = 0.7) -> None:
    data = bytearray(p.read_bytes())
    i = min(len(data) - 1, int(len(data) * where))
    data[i] ^= 0x01
    p.write_bytes(bytes(data))


DAMAGE = {"delete": _delete, "zero": _zero, "truncate": _truncate, "flip-bit": _flip}


@pytest.fixture(scope="module")
def pristine(tmp_path_factory, seed_articles) -> Path:
    out = tmp_path_factory.mktemp("pristine")
    build_index(seed_articles[:OLD_N], HashingEmbedder(dim=256), out, PARAMS)
    return out


@pytest.mark.parametrize("damage", sorted(DAMAGE))
@pytest.mark.parametrize("name", [*FILES, "manifest.json", "CURRENT"])
def test_damage_to_any_file_is_detected_never_served(pristine, tmp_path, name, damage):
    from qa import ask

    out = tmp_path / "idx"
    shutil.copytree(pristine, out)
    target = out / "CURRENT" if name == "CURRENT" else current_generation(out) / name
    DAMAGE[damage](target)
    emb = HashingEmbedder(dim=256)
    with pytest.raises((IndexCorruptError, IndexMismatchError, IndexNotFoundError)) as e:
        verify_index(out, identity=emb.identity)
    assert "Traceback" not in str(e.value)
    with pytest.raises(NewsQAError):  # ask() refuses too: no Answer from a damaged index
        ask("刘坂村共有村民多少户？", index=out, embedder=emb)


@pytest.mark.parametrize("where", [0.05, 0.5, 0.95])
def test_flipped_bit_in_vector_data_is_caught_though_faiss_would_load_it(pristine, tmp_path, where):
    import faiss

    out = tmp_path / "idx"
    shutil.copytree(pristine, out)
    vec = current_generation(out) / "vectors.faiss"
    _flip(vec, where)
    faiss.read_index(str(vec))  # FAISS itself does not notice (the measured fact)
    with pytest.raises(IndexCorruptError, match="vectors.faiss"):
        verify_index(out)


def test_running_server_never_swaps_to_a_damaged_generation(tmp_path, seed_articles):
    from qa import ask

    out = tmp_path / "idx"
    emb = HashingEmbedder(dim=256)
    build_index(seed_articles[:OLD_N], emb, out, PARAMS)
    first = ask("刘坂村共有村民多少户？", index=out, embedder=emb)
    new = build_index(seed_articles[:NEW_N], emb, out, PARAMS)
    _flip(new / "meta.sqlite")
    again = ask("刘坂村共有村民多少户？", index=out, embedder=emb)
    assert again.index_generation == first.index_generation != new.name  # old one kept in service


# --------------------------------------------------------------------------- #
# disk full (RLIMIT_FSIZE in a child process)

@pytest.mark.parametrize("limit", ["4096", "vectors", "largest"])
def test_disk_full_leaves_current_index_untouched_with_a_clear_error(old_index, seed_dir, seed_articles, limit):
    gen = current_generation(old_index)
    sizes = sorted((gen / n).stat().st_size for n in FILES)
    # new build has more articles, so its files are larger than these
    nbytes = {"4096": 4096, "vectors": (gen / "vectors.faiss").stat().st_size, "largest": sizes[-1]}[limit]
    snapshot = {p.name: p.read_bytes() for p in gen.iterdir()}
    p = _child(old_index, seed_dir, len(seed_articles), CHILD_FSIZE=str(nbytes))
    out, err = p.communicate(timeout=120)
    assert p.returncode == 2, (p.returncode, err[-800:])
    assert "Traceback" not in err
    assert "could not write a new index generation" in err and "is unchanged" in err and gen.name in err
    assert "File too large" in err or "write" in err.lower()
    assert current_generation(old_index) == gen
    assert {p.name: p.read_bytes() for p in gen.iterdir()} == snapshot
    assert _articles_loaded(old_index) == OLD_N
    assert not list(old_index.glob(".gen-*"))
    # with room again, the next build succeeds
    build_index(seed_articles, HashingEmbedder(dim=256), old_index, PARAMS)
    assert _articles_loaded(old_index) == len(seed_articles)


def test_write_error_is_typed_in_process(old_index, seed_articles, monkeypatch):
    import qa.index.build as index_mod

    def boom(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(index_mod, "write_meta", boom)
    before = current_generation(old_index)
    with pytest.raises(IndexWriteError, match="No space left on device"):
        build_index(seed_articles, HashingEmbedder(dim=256), old_index, PARAMS)
    assert current_generation(old_index) == before and not list(old_index.glob(".gen-*"))


# --------------------------------------------------------------------------- #
# the builder lock

def test_builders_are_serialized_by_the_lock(old_index, seed_articles):
    before = current_generation(old_index)
    done = threading.Event()
    result: list[Path] = []

    def other_builder():
        result.append(build_index(seed_articles[:NEW_N], HashingEmbedder(dim=256), old_index, PARAMS))
        done.set()

    with build_lock(old_index):
        t = threading.Thread(target=other_builder, daemon=True)
        t.start()
        assert not done.wait(3.0)  # it embedded, then waits for the lock
        assert current_generation(old_index) == before
    assert done.wait(60)
    t.join(10)
    assert current_generation(old_index) == result[0] and _articles_loaded(old_index) == NEW_N


def test_two_concurrent_builders_both_succeed(old_index, seed_dir):
    procs = [_child(old_index, seed_dir, n) for n in (4, 6)]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-500:]
    assert _articles_loaded(old_index) in (4, 6)
    assert not list(old_index.glob(".gen-*"))
    assert len(list(old_index.glob("gen-*"))) <= 2
