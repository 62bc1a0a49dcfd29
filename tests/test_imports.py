"""Lazy imports: `import qa` pulls in no model or UI library, and an onnx-int8 index answers without torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

HEAVY = ("sentence_transformers", "gradio", "torch", "transformers", "ray", "onnxruntime")


def _modules_after(code: str, env: dict[str, str] | None = None) -> list[str]:
    probe = code + f"\nimport sys, json; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_import_qa_pulls_in_no_heavy_library():
    assert _modules_after("import qa, newsqa.cli, qa.index.update, qa.index.ann, qa.index.ray_engine, embeddings.runtimes") == []


@pytest.mark.slow
def test_an_onnx_index_answers_without_importing_torch(real_index):
    from qa.api import index_runtime

    if index_runtime(real_index) != "onnx-int8":
        pytest.skip("the default runtime here is torch-fp32 (onnxruntime not installed)")
    code = (f"import qa\na = qa.ask('衢江区共享法庭覆盖了多少个行政村？', index={str(real_index)!r}, answerer='extractive')\n"
            "assert a.citations, a")
    loaded = _modules_after(code, {"NEWSQA_GENERATOR": "none"})
    assert "torch" not in loaded and "sentence_transformers" not in loaded and "onnxruntime" in loaded
