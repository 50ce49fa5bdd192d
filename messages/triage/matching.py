"""Reading a message: tokens, rule phrases, typos, negation scope and cue words.

Phrases match with small gaps, ``word*`` matches a prefix, and a letter left out
or added is tolerated in longer words that are not themselves rule words. Negation ("no pus", "kein Fieber",
"температуры нет") is scoped to its clause. Pure and fast: a lexicon is compiled
once per locale and reused for every message.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

MAX_GAP = 2  # words allowed between the words of a phrase ("lips are swelling")
NEGATION_REACH = 3  # plain words allowed between a negation and what it negates
FUZZY_MIN = 5  # shortest rule word that tolerates a one-letter typo
_BOUNDARY = frozenset('.,;:!?()[]{}/|-–—…"')
_TOKEN = re.compile(r"[\w']+|[^\w\s]")
_INVISIBLE = dict.fromkeys(
    map(ord, "\ufe0f\u200d\U0001f3fb\U0001f3fc\U0001f3fd\U0001f3fe\U0001f3ff")
)


@dataclass(frozen=True)
class Term:
    rule: str  # a rule id, or a cue kind (``CUE_KINDS``)
    text: str
    words: tuple[str, ...]  # "swell*" is a prefix, anything else a word or its typo


@dataclass(frozen=True)
class WordSet:
    """Single words, where ``word*`` stands for every word starting with ``word``."""

    exact: frozenset[str]
    prefixes: tuple[str, ...]

    @classmethod
    def of(cls, words: Iterable[str]) -> WordSet:
        normal = [normalize(word) for word in words]
        return cls(
            frozenset(w for w in normal if not w.endswith("*")),
            tuple(w[:-1] for w in normal if w.endswith("*")),
        )

    def __contains__(self, token: object) -> bool:
        return isinstance(token, str) and (token in self.exact or token.startswith(self.prefixes))


@dataclass(frozen=True)
class Lexicon:
    """Everything one locale needs to read a message, indexed for speed."""

    terms: tuple[Term, ...]
    negations: WordSet
    post_negations: WordSet
    terminators: WordSet
    coordinators: WordSet
    persist: WordSet  # "won't STOP bleeding": a negation of these is no negation
    prefixes: frozenset[str]
    fuzzy: Mapping[str, frozenset[str]]  # a word or a one-letter deletion -> rule words
    by_first: Mapping[str, tuple[Term, ...]]


CUE_KINDS = ("worse", "better", "severe", "hint", "concern", "body", "chat")
# A clause with one of these and no rule read is a symptom nobody understood; "my face"
# (body) or "is that normal?" (concern) alone is not.
SYMPTOM_LIKE = frozenset({"worse", "severe", "hint"})


def normalize(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).translate(_INVISIBLE).lower()
    return text.replace("ё", "е").replace("’", "'").replace("‘", "'").replace("`", "'")


def tokenize(text: str) -> list[str]:
    return [token.strip("'") or token for token in _TOKEN.findall(normalize(text))]


def _deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def compile_lexicon(
    terms: Iterable[tuple[str, str]],
    negations: Iterable[str],
    post_negations: Iterable[str],
    terminators: Iterable[str],
    coordinators: Iterable[str],
    persist: Iterable[str] = (),
) -> Lexicon:
    """Index (kind-or-rule, phrase) pairs for one locale."""
    compiled: list[Term] = []
    for rule, text in terms:
        words = tuple(
            word
            for piece in normalize(text).split()
            for word in ([piece] if piece.endswith("*") else tokenize(piece) or [piece])
        )
        if words:
            compiled.append(Term(rule, text, words))
    fuzzy: dict[str, set[str]] = {}
    by_first: dict[str, list[Term]] = {}
    for term in compiled:
        by_first.setdefault(term.words[0], []).append(term)
        for word in term.words:
            if not word.endswith("*") and len(word) >= FUZZY_MIN:
                for key in _deletions(word) | {word}:
                    fuzzy.setdefault(key, set()).add(word)
    prefixes = frozenset(w[:-1] for t in compiled for w in t.words if w.endswith("*"))
    return Lexicon(
        terms=tuple(compiled),
        negations=WordSet.of(negations),
        post_negations=WordSet.of(post_negations),
        terminators=WordSet.of(terminators),
        coordinators=WordSet.of(coordinators),
        persist=WordSet.of(persist),
        prefixes=prefixes,
        fuzzy={key: frozenset(words) for key, words in fuzzy.items()},
        by_first={key: tuple(items) for key, items in by_first.items()},
    )


def _keys(token: str, lexicon: Lexicon) -> set[str]:
    """Every rule word this token can stand for: itself, a prefix, a one-letter typo."""
    keys = {token}
    if not token[0].isalnum() and token[0] != "_":
        return keys
    keys.update(token[:n] + "*" for n in range(2, len(token) + 1) if token[:n] in lexicon.prefixes)
    if len(keys) > 1 or token in lexicon.fuzzy.get(token, ()) or len(token) < FUZZY_MIN - 1:
        return keys  # a word we know is read as itself, never as another word's typo
    # A letter left out ("itchy" as "ichy") or one too many ("itchey"); not a letter changed,
    # which turns real words into others ("bekommen" -> "benommen", "glowing" -> "growing").
    # Nor the first letter: without that, "leaking" read as "flaking".
    keys.update(w for w in lexicon.fuzzy.get(token, ()) if w[0] == token[0])
    keys.update(d for d in _deletions(token) if d in lexicon.fuzzy.get(d, ()) and d[0] == token[0])
    return keys


@dataclass
class Match:
    term: Term
    start: int
    end: int  # inclusive
    negated: bool = False


def _is_boundary(token: str, lexicon: Lexicon) -> bool:
    return token in _BOUNDARY or token in lexicon.terminators


def _find(tokens: Sequence[str], keys: Sequence[set[str]], lexicon: Lexicon) -> list[Match]:
    matches: list[Match] = []
    for start, here in enumerate(keys):
        for key in here:
            for term in lexicon.by_first.get(key, ()):
                end = _extend(term, start, tokens, keys, lexicon)
                if end is not None:
                    matches.append(Match(term, start, end))
    matches.sort(key=lambda m: (m.start, -m.end))
    return matches


def _extend(
    term: Term, start: int, tokens: Sequence[str], keys: Sequence[set[str]], lexicon: Lexicon
) -> int | None:
    position = start
    for word in term.words[1:]:
        for step in range(1, MAX_GAP + 2):
            index = position + step
            if index >= len(tokens):
                return None
            if word in keys[index]:
                position = index
                break
            gap = tokens[index]
            if _is_boundary(gap, lexicon) or gap in lexicon.negations:
                return None
        else:
            return None
    return position


def _negate(matches: list[Match], tokens: Sequence[str], lexicon: Lexicon) -> None:
    covered: dict[int, Match] = {}
    starts = frozenset(m.start for m in matches)
    for match in matches:
        match.negated = _negated_before(match, tokens, covered, lexicon) or _negated_after(
            match, tokens, lexicon, starts
        )
        for index in range(match.start, match.end + 1):
            covered.setdefault(index, match)


def _negated_before(
    match: Match, tokens: Sequence[str], covered: Mapping[int, Match], lexicon: Lexicon
) -> bool:
    for plain, index in enumerate(range(match.start - 1, -1, -1)):
        token = tokens[index]
        earlier = covered.get(index)
        if earlier is not None and earlier.end < match.start:
            between = tokens[earlier.end + 1 : match.start]
            return earlier.negated and all(t in lexicon.coordinators for t in between)
        if token in lexicon.negations:
            return not _negates_persisting(tokens, index, lexicon)
        if _is_boundary(token, lexicon) or plain >= NEGATION_REACH:
            return False
    return False


def _negates_persisting(tokens: Sequence[str], index: int, lexicon: Lexicon) -> bool:
    """ "won't stop", "no para", "hört nicht auf": the negation governs the stopping."""
    return any(t in lexicon.persist for t in tokens[index + 1 : index + 3])


def _negated_after(
    match: Match, tokens: Sequence[str], lexicon: Lexicon, starts: frozenset[int]
) -> bool:
    for index in range(match.end + 1, min(len(tokens), match.end + 1 + NEGATION_REACH + 1)):
        token = tokens[index]
        if _is_boundary(token, lexicon):
            return False
        if token in lexicon.post_negations:
            # "my sight has gone foggy": "gone" leads into a new symptom, it negates nothing.
            return tokens[index - 1] not in lexicon.negations and index + 1 not in starts
    return False


@dataclass(frozen=True)
class Reading:
    positives: tuple[Match, ...]
    negated_rules: bool
    cues: frozenset[str]
    unexplained: bool = False  # a clause that sounds like a symptom and matched no rule


def _outside_longer(match: Match, others: Sequence[Match]) -> bool:
    """False when a longer match of another rule covers this one ("chest hurts" > "hurts")."""
    return not any(
        other.term.rule != match.term.rule
        and other.start <= match.start
        and match.end <= other.end
        and other.end - other.start > match.end - match.start
        for other in others
    )


def _clauses(tokens: Sequence[str], lexicon: Lexicon) -> list[range]:
    bounds = [i for i, token in enumerate(tokens) if _is_boundary(token, lexicon)]
    edges = [-1, *bounds, len(tokens)]
    return [range(a + 1, b) for a, b in pairwise(edges) if b > a + 1]


def _unexplained(matches: Sequence[Match], tokens: Sequence[str], lexicon: Lexicon) -> bool:
    """Some clause says something symptom-like ("my eyes feel weird") that no rule read."""
    for clause in _clauses(tokens, lexicon):
        inside = [m for m in matches if m.start in clause]
        ruled = any(m.term.rule not in CUE_KINDS for m in inside)
        symptom_like = any(m.term.rule in SYMPTOM_LIKE and not m.negated for m in inside)
        if symptom_like and not ruled:
            return True
    return False


def read(text: str, lexicon: Lexicon) -> Reading:
    tokens = tokenize(text)
    keys = [_keys(token, lexicon) for token in tokens]
    matches = _find(tokens, keys, lexicon)
    _negate(matches, tokens, lexicon)
    cues = frozenset(m.term.rule for m in matches if m.term.rule in CUE_KINDS and not m.negated)
    if "?" in tokens:
        cues |= {"question"}
    if any(
        token in lexicon.negations and _negates_persisting(tokens, index, lexicon)
        for index, token in enumerate(tokens)
    ):
        cues |= {"persist"}  # something "won't stop"
    rules = [m for m in matches if m.term.rule not in CUE_KINDS]
    positives = [m for m in rules if not m.negated]
    return Reading(
        positives=tuple(m for m in positives if _outside_longer(m, positives)),
        negated_rules=any(m.negated for m in rules),
        cues=cues,
        unexplained=_unexplained(matches, tokens, lexicon),
    )
