"""Rebuild bench/RESULTS.md from its side-by-side section (written by compare.py --write) and the current bench/results/*.md."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent
MARK = "## Embedding runtime"


def main() -> int:
    text = (ROOT / "RESULTS.md").read_text(encoding="utf-8")
    head = text.split(MARK)[0].rstrip() + "\n"
    parts = [head] + [(ROOT / "results" / f).read_text(encoding="utf-8") for f in ("runtime.md", "scale.md", "meta.md", "projection.md")
                      if (ROOT / "results" / f).is_file()]
    (ROOT / "RESULTS.md").write_text("\n".join(parts), encoding="utf-8")
    print("wrote bench/RESULTS.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
