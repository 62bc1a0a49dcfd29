"""Answer verification: the yes/no question, reading its answer, and the policy refusing an answer the model does not confirm."""

from __future__ import annotations

import json
import math
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from conftest import ScriptedGenerator
from qa import ask
from qa.answer.generate import OpenAIChatGenerator, _two_way
from qa.answer.verify import verification_messages, yes_probability
from qa.settings import GenerationSettings, Settings

Q = "柯城“零废生活”应用场景推广以来累计回收了多少吨生活垃圾？"
REPLY = "柯城累计回收生活垃圾19268.15吨。"


class Judging:
    """A scripted generator that answers with a fixed reply and judges verification questions with a fixed chance."""

    def __init__(self, reply: str, p_yes: float | None) -> None:
        self.reply, self.p_yes, self.name = reply, p_yes, "judging"
        self.asked: list[list[dict]] = []

    def stream(self, messages, *, max_tokens=160, temperature=0.0):
        yield self.reply

    def yes_probability(self, messages):
        self.asked.append(list(messages))
        return self.p_yes


def _ask(small_index, hashing_embedder, gen, verify="sentence", below=0.5):
    gs = GenerationSettings(verify=verify, verify_below=below)
    return ask(Q, index=small_index, embedder=hashing_embedder, generator=gen, answerer="generative",
               settings=Settings(generation=gs))


def test_sentence_question_names_the_question_the_answer_and_the_quotes():
    m = verification_messages("甲是谁？", "乙", ["丙说乙是甲。"])
    assert m[0]["role"] == "system" and "是" in m[0]["content"] and "否" in m[0]["content"]
    user = m[-1]["content"]
    assert "甲是谁？" in user and "“乙”" in user and "丙说乙是甲。" in user


def test_follow_up_question_continues_the_conversation():
    conv = [{"role": "system", "content": "S"}, {"role": "user", "content": "资料…问题：甲是谁？"}]
    m = verification_messages("甲是谁？", "乙", ["x"], style="follow-up", conversation=conv)
    assert m[:2] == conv and m[2] == {"role": "assistant", "content": "乙"}
    assert m[3]["role"] == "user" and "甲是谁？" in m[3]["content"]


def test_unknown_style_is_refused_with_the_value():
    with pytest.raises(ValueError, match="'maybe'"):
        verification_messages("q", "a", ["s"], style="maybe")


_Texts = ScriptedGenerator


@pytest.mark.parametrize("reply, expected", [("是。", 1.0), ("否", 0.0), ("Yes", 1.0), ("资料说", None)])
def test_generators_without_logits_are_read_from_their_text(reply, expected):
    assert yes_probability(_Texts(reply), [{"role": "user", "content": "?"}]) == expected


def test_two_way_chance_is_a_softmax_over_the_pair():
    assert _two_way(2.0, 2.0) == pytest.approx(0.5)
    assert _two_way(3.0, 1.0) == pytest.approx(1 / (1 + math.exp(-2.0)))
    assert _two_way(0.0, 1000.0) < 1e-20 and _two_way(1000.0, 0.0) == 1.0


def test_confirmed_answer_stands_and_records_the_chance(small_index, hashing_embedder):
    gen = Judging(REPLY, 0.93)
    a = _ask(small_index, hashing_embedder, gen)
    assert not a.refused and a.answerer == "generative" and "19268.15" in a.text
    assert a.signals["p_supported"] == pytest.approx(0.93)
    assert "verify" in a.timings
    # the question asked carries the answer and the cited sentence
    user = gen.asked[0][-1]["content"]
    assert "19268.15" in user and a.citations[0].quote in user


def test_unconfirmed_answer_is_refused(small_index, hashing_embedder):
    a = _ask(small_index, hashing_embedder, Judging(REPLY, 0.2))
    assert a.refused and a.text == "资料中没有相关信息。" and not a.citations
    assert a.signals["p_supported"] == pytest.approx(0.2)
    assert a.to_dict()["refused"] is True


def test_no_verdict_keeps_the_answer(small_index, hashing_embedder):
    a = _ask(small_index, hashing_embedder, Judging(REPLY, None))
    assert not a.refused and a.signals["p_supported"] == -1.0


def test_verification_off_asks_nothing(small_index, hashing_embedder):
    gen = Judging(REPLY, 0.0)
    a = _ask(small_index, hashing_embedder, gen, verify="off")
    assert not a.refused and gen.asked == [] and "p_supported" not in a.signals


def test_environment_chooses_the_style():
    assert Settings.from_env({"NEWSQA_VERIFY": "off"}).generation.verify == "off"
    assert Settings.from_env({"NEWSQA_VERIFY": "bogus"}).generation.verify == GenerationSettings().verify


class _Server(BaseHTTPRequestHandler):
    bodies: list[dict] = []
    reject_logprobs = False

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).bodies.append(body)
        if body.get("logprobs") and self.reject_logprobs:
            self.send_response(500)
            self.end_headers()
            return
        choice = {"message": {"role": "assistant", "content": "否"}}
        if body.get("logprobs"):
            choice["logprobs"] = {"content": [{"token": "是", "logprob": -0.1,
                                               "top_logprobs": [{"token": "是", "logprob": -0.1}, {"token": "否", "logprob": -2.4}]}]}
        out = json.dumps({"choices": [choice]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *a):
        pass


@pytest.mark.parametrize("reject, expected", [(False, _two_way(-0.1, -2.4)), (True, 0.0)])
def test_openai_server_logprobs_or_text(reject, expected):
    handler = type("H", (_Server,), {"bodies": [], "reject_logprobs": reject})
    srv = HTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    try:
        gen = OpenAIChatGenerator(f"http://127.0.0.1:{srv.server_port}/v1", "m", timeout=10)
        assert gen.yes_probability([{"role": "user", "content": "?"}]) == pytest.approx(expected)
        assert handler.bodies[0]["max_tokens"] == 1 and handler.bodies[0]["logprobs"] is True
        assert len(handler.bodies) == (2 if reject else 1)
    finally:
        srv.shutdown()
        srv.server_close()
