"""Defaults and environment overrides: where the corpus, index and models live, and tuned thresholds."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

MAX_QUESTION_CHARS = 500
RETRIEVERS = ("hybrid", "dense", "lexical")


def project_root() -> Path:
    """The checkout holding ``corpus/`` (for an editable install), else the working directory."""
    here = Path(__file__).resolve().parent.parent
    if (here / "pyproject.toml").is_file() and (here / "corpus").is_dir():
        return here
    return Path.cwd()


def default_corpus_dir() -> Path:
    """``$NEWSQA_CORPUS`` or ``<project>/corpus/raw``."""
    env = os.environ.get("NEWSQA_CORPUS")
    return Path(env).expanduser() if env else project_root() / "corpus" / "raw"


def default_index_dir() -> Path:
    """``$NEWSQA_INDEX`` or ``<project>/corpus/index``."""
    env = os.environ.get("NEWSQA_INDEX")
    return Path(env).expanduser() if env else project_root() / "corpus" / "index"


def default_model() -> str | None:
    """``$NEWSQA_MODEL`` (a folder or installed model name) or None for the default."""
    return os.environ.get("NEWSQA_MODEL") or None


def default_retriever() -> str:
    """``$NEWSQA_RETRIEVER`` (hybrid, dense or lexical) or "hybrid"."""
    return _env_choice(os.environ, "NEWSQA_RETRIEVER", RETRIEVERS, "hybrid")


FUSIONS = ("rrf", "convex")


def default_fusion() -> str:
    """``$NEWSQA_FUSION`` (convex or rrf) or "convex"."""
    return _env_choice(os.environ, "NEWSQA_FUSION", FUSIONS, "convex")


@dataclass(frozen=True)
class AnswerSettings:
    """Extractive answering knobs, set on eval/gold.jsonl (see README, "Refusals").

    A Chinese question is refused when a number it names appears in no retrieved
    passage, when the best sentence shares almost none of its weighted words
    (``min_lexical``), or when both the best passage's cosine (``min_score``) and the
    best sentence's word support (``min_support``) are low. A question in a Latin
    script is refused on the passage cosine alone (``min_score_latin``), since word
    overlap with Chinese text says nothing.
    """

    min_score: float = 0.87
    min_support: float = 0.35
    min_lexical: float = 0.09
    min_score_latin: float = 0.74
    # How a Chinese question's refusal is decided: "signals" (the default) on the chance that
    # the archive does not hold the answer, a logistic function of the best passage's cosine
    # (``top_score``) and the idf-weighted share of the question's words in that passage and
    # its title (``top_coverage``: idf from the archive itself); refused at ``refuse_at``.
    # The weights and bar were fitted on CMRC 2018 dev and DRCD dev with a third of their
    # documents left out, each set weighing the same, the bar the lowest that refuses at
    # most 5 % of either set's answerable questions (``python -m eval.calibrate``; its 2-fold
    # cross-validation by document is in eval/OUTSIDE.md).
    # "rules": the older bounds above (min_lexical, min_score with min_support). Cosines are the
    # embedding model's own scale, so the weights hold for ``refusal_model`` only; a pipeline
    # with another model uses the rules.
    refusal: str = "signals"
    refusal_model: str = "multilingual-e5-small"
    refusal_bias: float = 64.8
    refusal_w_score: float = -70.21
    refusal_w_coverage: float = -7.48
    refuse_at: float = 0.578
    # Add a second sentence when it scores at least this fraction of the best one.
    second_ratio: float = 0.92
    # Embed candidate sentences for Chinese questions too (slower; questions in a
    # Latin script always do, since word overlap cannot rank their sentences).
    sentence_vectors: bool = False
    # Check the answer type a question asks for (an age, a year, a count of 户 …:
    # ``qa.answer.answer_type``); False: any sentence may answer.
    answer_types: bool = True
    # Answer a question asking for a number, date, person or place with that span of the
    # best sentence (the sentence is the citation); otherwise, and when no span is found, the sentence.
    typed_span: bool = True



MAX_ARTICLE_CHARS = 200_000  # far above any newspaper article; a runaway page would embed for hours


def max_article_chars(env: Mapping[str, str] | None = None) -> int:
    """``$NEWSQA_MAX_ARTICLE_CHARS`` or 200,000: a longer article is skipped at build time ("0" or "off": no cap)."""
    raw = ((os.environ if env is None else env).get("NEWSQA_MAX_ARTICLE_CHARS") or "").strip().lower()
    if raw in ("0", "off", "none"):
        return 0
    return env_int("NEWSQA_MAX_ARTICLE_CHARS", MAX_ARTICLE_CHARS, env)


def env_int(name: str, default: int, env: Mapping[str, str] | None = None) -> int:
    """A positive integer from the environment, else ``default`` (a bad value is logged, not fatal)."""
    raw = ((os.environ if env is None else env).get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
        if value > 0:
            return value
    except ValueError:
        pass
    logging.getLogger(__name__).warning("ignoring %s=%r: not a positive integer", name, raw)
    return default


VERIFY_STYLES = ("sentence", "follow-up", "off")


@dataclass(frozen=True)
class GenerationSettings:
    """How much the answer-writing model reads and writes, and the bounds of its answer checks.

    The prompt's size sets time to first token on two cores: ``context_sentences``
    passage sentences within ``context_chars`` characters (titles and dates on top,
    each title cut at ``title_chars``) and ``max_tokens`` written. The comparison of
    budgets is in eval/OUTSIDE.md (paired runs on CMRC 2018 dev / DRCD dev: 4 / 300 over
    3 / 220 raised char F1 and lowered false refusals at TTFT p50 still under 3 s) and
    ``bench/bench_generate.py --context-chars``. Environment overrides (``Settings.from_env``): ``NEWSQA_CONTEXT_SENTENCES``,
    ``NEWSQA_CONTEXT_CHARS``, ``NEWSQA_MAX_TOKENS``, ``NEWSQA_TITLE_CHARS``.
    """

    context_sentences: int = 4
    context_chars: int = 300
    max_tokens: int = 96
    title_chars: int = 200
    # "short": the model writes the fact in as few words as the question needs (the cited
    # sentence comes with the citation); "sentence": one sentence. ``few_shot`` adds worked
    # examples (``qa.answer.ground.FEW_SHOT_ZH``) to the cached prompt prefix.
    prompt: str = "short"
    few_shot: bool = True
    # The pre-check before generation refuses only when nothing relevant came back: the
    # model's own refusal, grounding and answer types are a second check, so the bounds
    # are looser than the extractive answerer's (``AnswerSettings``). Set on the gold
    # set: answerable paraphrases reach word support 0.075 and English questions a top
    # cosine of 0.733; off-topic questions (weather, share prices) have support 0.
    precheck_min_lexical: float = 0.05
    precheck_min_score_latin: float = 0.70
    # With ``AnswerSettings.refusal == "signals"``: refuse before generation at this chance that
    # the archive lacks the answer. The bar that refuses at most 3 % of either development set's
    # answerable questions (``python -m eval.calibrate … --max-false 0.03``): the model's refusal
    # and the answer checks add their own false refusals after it.
    precheck_refuse_at: float = 0.747
    # The model's refusal is overridden by the extractive answer when that chance is at most this
    # ("signals"), else when the quoted sentence covers ``override_refusal_lexical`` of the
    # question's weighted words ("rules"); ``refusal_override`` False: the model's refusal stands.
    refusal_override: bool = True
    override_refusal_p: float = 0.1
    # Span adjacency (``qa.answer.relation``): a short answer must share a clause with the
    # question's key words in the cited sentence. Off: on CMRC 2018 dev / DRCD dev it catches
    # about half / a quarter of wrong names quoting the right sentence but drops 5-6 % of
    # right answers (``python -m eval.relation``; eval/OUTSIDE.md).
    relation_check: bool = False
    # Only articles holding at least this share of the best article's share of the
    # question's bigrams go into the prompt (``qa.answer.ground.on_subject``).
    min_subject: float = 0.6
    # The model's "资料中没有相关信息" is overridden by the extractive quote when the quoted
    # sentence covers at least this much of the question's weighted words
    # (``best_lexical``). Chinese questions only. Set on eval/gold.jsonl (see README).
    override_refusal_lexical: float = 0.7
    # Answer verification (``qa.answer.verify``): after grounding, the same model is asked
    # whether the cited sentences state the answer to the question ("sentence": the cited
    # sentences alone; "follow-up": a further turn of the answer conversation; "off"); the
    # answer is refused when its chance of "是" is below ``verify_below``. Off: the bundled
    # 1.5B model says "是" (p ≈ 0.8-0.95) to right and wrong answers alike on CMRC 2018 dev /
    # DRCD dev (``python -m eval.verify``; eval/OUTSIDE.md); a larger model behind
    # ``$NEWSQA_LLM_BASE_URL`` may earn it. ``$NEWSQA_VERIFY`` sets the style.
    verify: str = "off"
    verify_below: float = 0.5
    # Subject check (``qa.answer.subject``): an answer is refused when none of its cited
    # articles names the subject the question names first (its first two characters, its
    # codes such as 32M, its 《title》), once the chance that the archive lacks the answer
    # (``p_unanswerable``) is at least ``subject_check_from``. Chosen on CMRC 2018 dev and
    # DRCD dev (whole sets, and the seeded generative samples; eval/OUTSIDE.md): from 0.02
    # it refuses about half of CMRC's left-out questions that pass the pre-check, and
    # 0.3 % / 1.1 % of the two sets' answerable ones; from 0 the latter rise to 0.6 % / 1.5 %.
    # ``$NEWSQA_SUBJECT_CHECK=off`` turns it off.
    subject_check: bool = True
    subject_check_from: float = 0.02
    # A word that starts the subject and whose first two characters are in at least this share
    # of the archive's articles, such as its home district (柯城 in 柯城's paper: 31 % of the
    # bundled articles), which local articles seldom repeat, need not be named if the rest of
    # the subject is. It changes nothing on CMRC 2018 dev or DRCD dev, whose articles are one
    # encyclopedia paragraph each (``python -m eval.subject … --common-share 1.01`` against 0.2).
    subject_common_share: float = 0.2


@dataclass(frozen=True)
class RetrievalSettings:
    """Retrieval knobs (the comparisons behind them are in eval/RETRIEVAL.md).

    ``retriever`` is the default of ``ask(retriever=…)``. Hybrid search takes the top
    ``depth`` chunks of each retriever and fuses them: ``fusion="convex"`` (default) is a
    weighted sum of each list's min-max scaled scores (Bruch et al., 2023), ``"rrf"``
    reciprocal rank fusion with constant ``rrf_k``. ``w_dense`` / ``w_lexical`` weigh
    the two lists; a question written mainly in a Latin script gives the lexical list
    ``w_lexical_latin``, since its words rarely occur in Chinese text.
    """

    retriever: str = "hybrid"
    depth: int = 50
    rrf_k: float = 60.0
    w_dense: float = 1.0
    w_lexical: float = 1.0
    w_lexical_latin: float = 1.0
    fusion: str = "convex"
    # Convex fusion also adds w × the idf-weighted share of the question's terms a passage
    # holds (``LexicalIndex.coverage``, ``fusion.add_signal``; for an English question its
    # names and translations): w_coverage_latin for English questions, w_coverage for
    # Chinese ones, where more lets passages that merely repeat the question's words crowd
    # the top ranks; 0 turns it off. Off for Chinese questions: in the issue-18 ablation
    # (eval/OUTSIDE.md) 0.25 against 0 left hit@1 on CMRC 2018 dev and DRCD dev unchanged and
    # the answers within a point, and lifted only the gold set's hit@1; on the whole sets it is a
    # wash (CMRC citations better without it, DRCD hit@1 0.956 against 0.949 with it).
    w_coverage: float = 0.0
    w_coverage_latin: float = 1.0
    # An English question's dense query also carries the Chinese its names and phrases
    # point to in the index (``LexicalIndex.english_terms``): "Liuban Village" meets 刘坂村.
    english_dense_terms: bool = True


def _env_choice(env: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    value = (env.get(name) or "").strip().lower()
    if value and value not in choices:
        logging.getLogger(__name__).warning("ignoring %s=%r: not one of %s", name, value, ", ".join(choices))
    return value if value in choices else default


@dataclass(frozen=True)
class Settings:
    """Everything a pipeline is configured with, read from the environment once at the edge (``from_env``).

    ``ask(settings=…)`` and ``get_pipeline(settings=…)`` take one; without it the
    environment's values are used. Fields:
        retrieval, answer, generation: the stage knobs above.
    """

    retrieval: RetrievalSettings = field(default_factory=RetrievalSettings)
    answer: AnswerSettings = field(default_factory=AnswerSettings)
    generation: GenerationSettings = field(default_factory=GenerationSettings)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        """Defaults with the ``NEWSQA_*`` overrides of ``env`` (default: ``os.environ``); bad values are logged and ignored."""
        env = os.environ if env is None else env

        def num(name: str, default: int) -> int:
            return env_int(name, default, env)

        g = GenerationSettings()
        return cls(
            retrieval=RetrievalSettings(
                retriever=_env_choice(env, "NEWSQA_RETRIEVER", RETRIEVERS, "hybrid"),
                fusion=_env_choice(env, "NEWSQA_FUSION", FUSIONS, "convex"),
            ),
            answer=AnswerSettings(),
            generation=GenerationSettings(
                context_sentences=num("NEWSQA_CONTEXT_SENTENCES", g.context_sentences),
                context_chars=num("NEWSQA_CONTEXT_CHARS", g.context_chars),
                max_tokens=num("NEWSQA_MAX_TOKENS", g.max_tokens),
                title_chars=num("NEWSQA_TITLE_CHARS", g.title_chars),
                verify=_env_choice(env, "NEWSQA_VERIFY", VERIFY_STYLES, g.verify),
                subject_check=_env_choice(env, "NEWSQA_SUBJECT_CHECK", ("on", "off"),
                                          "on" if g.subject_check else "off") == "on",
            ),
        )
