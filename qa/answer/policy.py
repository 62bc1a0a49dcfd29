"""The answer policy: extract, pre-check, generate, ground, check the answer type, then answer, fall back or refuse."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator, Sequence

from qa.answer.extractive import REFUSAL_EN, REFUSAL_ZH, Extract, ExtractiveAnswerer, prechecks_out
from qa.answer.relation import relation_holds
from qa.answer.subject import leading_subject, names_subject
from qa.answer.verify import verification_messages, yes_probability
from qa.answer.ground import GroundedAnswer, build_messages, clean_generated, context_sentences, ground, is_refusal, off_subject
from qa.settings import GenerationSettings
from qa.text import is_mostly_latin
from qa.types import Answer, Citation, Hit

if TYPE_CHECKING:
    from embeddings.encoder import Embedder
    from qa.answer.generate import Generator
    from qa.answer.query import Query


@dataclass(frozen=True)
class Frame:
    """What every ``Answer`` of one request shares: the question, the hits, the index generation, the clock."""

    question: str
    hits: tuple[Hit, ...]
    rewritten_query: str | None
    index_generation: str
    t0: float
    timings: dict[str, float]

    def answer(self, **kw) -> Answer:
        return Answer(question=self.question, hits=self.hits, rewritten_query=self.rewritten_query,
                      index_generation=self.index_generation, timings=dict(self.timings), **kw)


@dataclass(frozen=True)
class GroundedAnswerPolicy:
    """Decides what to say for one question from its hits.

    Without a generator: the extractive quote, or a refusal when the measured pre-checks
    fail or the quote does not state the answer type asked for. With one: a looser
    pre-check, then the model's sentence, kept only where a retrieved sentence supports
    it (``qa.answer.ground``) and it states the type asked for; otherwise the model's
    refusal stands or the on-subject extractive quote is the answer.
    """

    extractive: ExtractiveAnswerer
    settings: GenerationSettings
    embedder: "Embedder | None" = None

    def run(self, query: "Query", frame: Frame, generator: "Generator | None") -> Iterator[str | Answer]:
        """Yield the answer's text as it is written, then exactly one ``Answer``."""
        hits = frame.hits
        gs = self.settings
        t2 = time.perf_counter()
        ex = self.extractive.answer(query.scoring_text, query.scoring_vec, hits, query.wanted, query.latin)
        refusal_text = refusal_for(query.asked)
        ex_typed = query.wanted is None or query.wanted.satisfied_by(ex.text)
        refused = ex.refused
        if generator is None and not refused and not ex_typed:
            ex = Extract(refusal_text, (), True, ex.signals)
            refused = True
        if generator is None and not refused and self._off_subject(query, frame, ex.citations, ex.signals):
            ex = Extract(refusal_text, (), True, {**ex.signals, "subject_missing": 1.0})
            refused = True
        if generator is not None and refused:
            # before generation refuse only when nothing relevant came back (looser bounds:
            # the model's refusal, grounding and answer types check again); nothing to quote then
            pre = dataclasses.replace(self.extractive.settings, min_lexical=gs.precheck_min_lexical,
                                      min_score_latin=gs.precheck_min_score_latin, refuse_at=gs.precheck_refuse_at)
            if not prechecks_out(ex.signals, query.latin, pre):
                refused, ex_typed = False, False
        if generator is None or refused:
            frame.timings.update(answer=time.perf_counter() - t2, total=time.perf_counter() - frame.t0)
            yield ex.text
            yield frame.answer(text=ex.text, refused=refused, citations=ex.citations, answerer="extractive", signals=ex.signals)
            return
        cands = list(ex.candidates)  # scored once, by the extractive answer above
        messages = build_messages(
            query.rewritten or query.asked,
            context_sentences(cands, gs.context_sentences, gs.context_chars, query.text, gs.min_subject, query.scoring_text),
            gs.title_chars, gs.prompt, gs.few_shot,
        )
        pieces: list[str] = []
        ttft = None
        for piece in generator.stream(messages, max_tokens=gs.max_tokens):
            if ttft is None:
                ttft = time.perf_counter() - frame.t0
            pieces.append(piece)
            yield piece
        raw = clean_generated("".join(pieces))
        frame.timings.update(ttft=ttft or 0.0, generate=time.perf_counter() - t2)
        ex = dataclasses.replace(ex, signals={**ex.signals, "model_refused": float(bool(raw) and is_refusal(raw))})
        g = ground(raw, hits, embedder=self.embedder, question=query.text) if raw and not is_refusal(raw) else None
        if g is not None and query.wanted is not None and not query.wanted.satisfied_by(g.plain):
            g = dataclasses.replace(g, text="", citations=(), supported=0)  # e.g. asked for an age, got no age
        if g is not None and gs.relation_check and len(g.citations) == 1 \
                and relation_holds(query.asked, g.plain, g.citations[0].quote) is False:
            g = dataclasses.replace(g, text="", citations=(), supported=0)  # the right sentence, the wrong name
        if g is not None and g.citations and self._off_subject(query, frame, g.citations, ex.signals):
            # every cited article is about something else (a namesake railway, another route)
            frame.timings["total"] = time.perf_counter() - frame.t0
            yield frame.answer(text=refusal_text, refused=True, answerer="generative", generator=generator.name,
                               signals={**ex.signals, "subject_missing": 1.0}, supported_sentences=0,
                               generated_sentences=g.total)
            return
        if g is not None and g.citations and gs.verify != "off":
            t3 = time.perf_counter()
            p_yes = yes_probability(generator, verification_messages(
                query.asked, g.plain, [c.quote for c in g.citations], style=gs.verify, conversation=messages))
            frame.timings["verify"] = time.perf_counter() - t3
            ex = dataclasses.replace(ex, signals={**ex.signals, "p_supported": -1.0 if p_yes is None else round(p_yes, 4)})
            if p_yes is not None and p_yes < gs.verify_below:
                # the cited sentences do not state this answer (another subject's fact, the wrong
                # name in the right sentence): refuse rather than fall back to quoting them
                frame.timings["total"] = time.perf_counter() - frame.t0
                yield frame.answer(text=refusal_text, refused=True, answerer="generative", generator=generator.name,
                                   signals=ex.signals, supported_sentences=0, generated_sentences=g.total)
                return
        frame.timings["total"] = time.perf_counter() - frame.t0
        if g is not None and g.citations:
            yield frame.answer(text=g.text, refused=False, citations=g.citations, answerer="generative", signals=ex.signals,
                               supported_sentences=g.supported, generated_sentences=g.total, generator=generator.name)
            return
        yield self._fallback(query, frame, ex, ex_typed, raw, g, generator.name, refusal_text)

    def _fallback(self, query: "Query", frame: Frame, ex: Extract, ex_typed: bool, raw: str, g: GroundedAnswer | None,
                  generator_name: str, refusal_text: str) -> Answer:
        """Nothing the model wrote is supported: the on-subject extractive quote, or a refusal."""
        # the quoted sentences must come from articles on the question's subject too: off-subject
        # ones are left out, and with none left it is a refusal
        off = off_subject(query.scoring_text, [h.article for h in frame.hits], self.settings.min_subject)
        on: list[Citation] = [c for c in ex.citations if c.article_id not in off]
        text, cites = ex.text, ex.citations
        if on and len(on) < len(cites):
            on = [dataclasses.replace(c, n=i) for i, c in enumerate(on, 1)]
            text, cites = "".join(f"{c.quote}[{c.n}]" for c in on), tuple(on)
        ex_off = bool(cites) and (not on or self._off_subject(query, frame, cites, ex.signals))
        # a model refusal stands unless the quoted sentence holds nearly all the question's words
        # (Chinese questions only: the bound was set on them, not on English questions' translated terms)
        model_refused = bool(raw and is_refusal(raw)) and not self._override(query, ex)
        if model_refused or not ex_typed or ex_off or (g is not None and g.mismatched):
            # the model found nothing (trust the refusal), or it pinned a fact on a subject the
            # cited article does not name (the asked-for fact is not there), or neither it nor
            # the quoted sentence states what was asked: refuse and list the closest articles
            return frame.answer(text=refusal_text, refused=True, answerer="generative", generator=generator_name,
                                signals=ex.signals,
                                supported_sentences=g.supported if g else None,
                                generated_sentences=g.total if g else None)
        return frame.answer(text=text, refused=False, citations=cites, answerer="extractive", generator=generator_name,
                            signals=ex.signals,
                            supported_sentences=0, generated_sentences=g.total if g else 0)


    def _off_subject(self, query: "Query", frame: Frame, citations: Sequence[Citation], signals: dict[str, float]) -> bool:
        """Whether no cited article names the subject the question names first (``qa.answer.subject``),
        when the retrieval signals leave some doubt (Chinese questions only)."""
        gs = self.settings
        if not gs.subject_check or query.latin or not citations:
            return False
        if signals.get("p_unanswerable", 1.0) < gs.subject_check_from:
            return False
        stats = self.extractive.stats
        subject = leading_subject(query.text, lambda word: stats.share(word[:2]) >= gs.subject_common_share)
        if subject is None:
            return False
        articles = {h.article.id: h.article for h in frame.hits}
        cited = {c.article_id for c in citations if c.article_id in articles}
        return bool(cited) and not any(
            names_subject(subject, articles[a].headline + "\n" + articles[a].body) for a in cited)

    def _override(self, query: "Query", ex: Extract) -> bool:
        """Whether the extractive answer stands in for the model's refusal: the signals say the
        archive holds the answer (Chinese questions only: English ones' words are not the passages')."""
        gs = self.settings
        if not gs.refusal_override or query.latin:
            return False
        if self.extractive.settings.refusal == "signals":
            return ex.signals.get("p_unanswerable", 1.0) <= gs.override_refusal_p
        return ex.signals.get("best_lexical", 0.0) >= gs.override_refusal_lexical


def refusal_for(question: str) -> str:
    """The refusal text in the question's language."""
    return REFUSAL_EN if is_mostly_latin(question) else REFUSAL_ZH


__all__: Sequence[str] = ("Frame", "GroundedAnswerPolicy", "refusal_for")
