"""Language, titles, sentences and key terms of node text: offline, fast, for Chinese and English.

Chinese is segmented with jieba, imported on the first Chinese text (never at import time): loading its
dictionary takes one to two seconds and about 150 MB once per process; later calls take well under a millisecond
per node. jieba keeps its prefix-dictionary cache in a private folder of the temp directory, never in a vault or
the package.
English key terms come from markup (headings, bold and italic, wikilinks) and a stopword-split chunker.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import tempfile
import threading
import unicodedata
import warnings
from functools import lru_cache
from typing import Any

__all__ = ["cjk_share", "clauses", "contains_term", "is_chinese", "key_terms", "script_counts", "sentences",
           "strip_markdown", "title_of"]

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"
_CJK_RE = re.compile(f"[{_CJK}]")
_CJK_RUN_RE = re.compile(f"[{_CJK}]+")
# A "Latin" word: letters and digits of any non-CJK script (Greek, Cyrillic, subscripts), inner ' or -.
_WORD_CHAR = rf"(?:(?![{_CJK}])[^\W_])"
_WORD_RE = re.compile(rf"{_WORD_CHAR}+(?:['’\-]{_WORD_CHAR}+)*")

TITLE_CHARS = 60
MAX_ANALYSED_CHARS = 20_000
"""Key terms look at this much of a text (a pasted book chapter is not read to the end)."""

_HEADING_RE = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
_FENCE_RE = re.compile(r"^[ \t]*(```|~~~).*?^[ \t]*\1[^\n]*$", re.MULTILINE | re.DOTALL)
_DISPLAY_MATH_RE = re.compile(r"\$\$.+?\$\$", re.DOTALL)
_INLINE_MATH_RE = re.compile(r"(?<![\\$])\$(?!\s)([^$\n]{1,400}?)(?<![\s\\])\$")
_CODE_RE = re.compile(r"`+([^`\n]*)`+")
_IMAGE_RE = re.compile(r"!\[\[[^\]\n]*\]\]|!\[[^\]\n]*\]\([^)\n]*\)")
_LINK_RE = re.compile(r"\[([^\]\n]*)\]\([^)\n]*\)")
_WIKILINK_RE = re.compile(r"\[\[([^\]\n|#^]*)(?:[#^][^\]\n|]*)?(?:\|([^\]\n]*))?\]\]")
_URL_RE = re.compile(r"\b(?:https?|ftp|file|obsidian)://\S+|\bwww\.\S+")
_HTML_RE = re.compile(r"<!--.*?-->|</?[A-Za-z][^<>\n]{0,200}>", re.DOTALL)
_BOLD_RE = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*|__(?=\S)(.+?)(?<=\S)__")
_ITALIC_RE = re.compile(r"(?<![*\w])\*(?=[^\s*])([^*\n]+?)(?<=[^\s*])\*(?![*\w])"
                        r"|(?<![_\w])_(?=[^\s_])([^_\n]+?)(?<=[^\s_])_(?![_\w])")
_LINE_PREFIX_RE = re.compile(r"^[ \t]*(?:#{1,6}[ \t]+|>[ \t>]*|[-*+][ \t]+(?:\[[ xX]\][ \t]+)?|\d{1,3}[.)][ \t]+)+")
_RULE_RE = re.compile(r"^[ \t]*(?:[-*_=][ \t]*){3,}$|^[ \t|:\-]*-{3,}[ \t|:\-]*$", re.MULTILINE)
_EMPHASIS_LEFT_RE = re.compile(r"\*{1,3}|(?<!\w)_{1,3}|_{1,3}(?!\w)|~~|==")
_SPACE_RE = re.compile(r"[ \t\u00a0\u3000]+")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_KEPT_RE = re.compile(r"\x02(\d+)\x03")

_ZH_END = "。！？；"
_CLOSERS = "”’」』）)\"'"
_ZH_SPLIT_RE = re.compile(rf"(?<=[{_ZH_END}])(?![{_ZH_END}{_CLOSERS}])|(?<=[{_ZH_END}][{_CLOSERS}])")
_EN_SPLIT_RE = re.compile(r"(?<=[.!?])\s+|(?<=[.!?][\"')\]”’])\s+")
_ABBREVIATIONS = frozenset({"e.g.", "i.e.", "etc.", "vs.", "cf.", "dr.", "mr.", "mrs.", "ms.", "prof.", "fig.",
                            "no.", "ch.", "approx.", "eq.", "p.", "pp.", "st.", "vol."})
_CLAUSE_SPLIT_RE = re.compile(r"[,，、:：;；()（）\[\]【】«»\"“”‘’「」『』—–]|\s-\s|[.!?。！？]")

_EN_STOPWORD_LIST = """
a about above according across actually after again against ago all almost along already also although always
am among an and another any anyone anything anyway are around as ask asked asks at away back be became because
become becomes been before began begin being below best better between both bring but by came can cannot could
did do does doing done down during each either else enough even ever every everyone everything exactly example
examples far few first for found from full further get gets getting give given gives go goes going gone good
got had has have having he her here hers herself him himself his how however i if in indeed instead into is
isn it its itself just keep kept know known knows last later least less let lets like likely little lot lots
made main make makes making many may maybe me mean means meant might mine more most much must my myself need
needed needs never new next no nobody none nor not nothing now of off often oh ok okay on once one ones only
onto or other others otherwise our ours ourselves out over own part per perhaps please put quite rather really
right said same say says second see seem seemed seems seen several shall she should show shows since so some
someone something sometimes somewhat soon still such sure take taken takes tell than that the their theirs
them themselves then there therefore these they thing things think this those though three through thus to
together too took toward towards two under unless until up upon us use used uses using usually very via want
wants was way ways we well went were what whatever when where whether which while who whole whom whose why
will with within without would yes yet you your yours yourself yourselves e.g i.e etc vs eg ie imagine picture
analogy metaphor answer question questions explain explanation note notes read don doesn didn aren wasn weren
won wouldn couldn shouldn can't don't doesn't isn't aren't it's that's there's what's let's i'm you're we're
they're i've
"""
_EN_STOPWORDS = frozenset(_EN_STOPWORD_LIST.split())

# Common verbs: in running text they end a noun phrase ("the complexes pump H+" is not a term "complexes pump").
_EN_VERB_LIST = """
act acts add adds assume assumes break breaks call calls cancel cancels change changes come comes convert converts
drive drives driven draw draws equal equals fall falls flow flows flowing follow follows form forms happen happens
hand hands help helps hold holds lead leads leave leaves let lets look looks move moves pass passes pick produce
produces pull pulls push pushes reach reaches regenerate regenerates release releases remain remains run runs
running say stay stays stop stops store stores tend tends turn turns try tries work works worth fewer greater
smaller larger bigger cause causes gets become give gives keep keeps learn learned capture captures absorb absorbs
transform transforms combine combines split splits contain contains carry carries release releasing
"""
_EN_VERBS = frozenset(_EN_VERB_LIST.split())
_ORDINALS = frozenset({"first", "second", "third", "last", "next"})
_ZH_STOPWORD_LIST = """
什么 为什么 怎么 怎样 怎么样 如何 哪个 哪些 哪里 那么 这么 这个 那个 这些 那些 这样 那样 一个
一些 一种 一样 一下 一定 可以 可能 能够 不能 不会 不是 没有 就是 还是 但是 可是 因为 所以
如果 虽然 而且 或者 以及 然后 之间 之后 之前 时候 已经 还不 我们 你们 他们 它们 她们 自己
我的 你的 他的 明白 知道 觉得 需要 应该 进行 通过 其中 任意 存在 对于 关于 由于 以后 以前
非常 比较 特别 例如 比如 好比 想象 像是 就像 譬如 比方 例子 问题 回答 解释 答案 理由 注意
还有 只有 只是 而是 不过 另外 其实 当然 大家 有些 有的 每个 一直 一起 开始 现在 今天 起来
出来 下来 上去 东西 事情 方面 部分 不要 不用 之所以 甚至 这里 那里 即使 并且 于是 总之 首先
其次 最后 看看 一下子 为了 根据 按照 作为 成为 能不能 是不是 有没有 要不要 会不会
"""
_ZH_STOPWORDS = frozenset(_ZH_STOPWORD_LIST.split())

_log = logging.getLogger(__name__)
_jieba_lock = threading.Lock()
_jieba_state: tuple[Any, dict[str, float], float, frozenset[str]] | None = None


def cjk_share(text: str) -> float:
    """Share of CJK ideographs among the letters of `text`, leaving out math, code and addresses (0.0 when it has
    no letters)."""
    letters = cjk = 0
    for ch in _prose(text):
        if ch.isalpha():
            letters += 1
            if _CJK_RE.match(ch):
                cjk += 1
    return cjk / letters if letters else 0.0


def script_counts(text: str) -> tuple[int, int]:
    """(CJK ideographs, words of alphabetic scripts) in `text`: which scripts a learner writes in."""
    text = text[:MAX_ANALYSED_CHARS]
    return len(_CJK_RE.findall(text)), sum(1 for w in _WORD_RE.findall(text) if any(ch.isalpha() for ch in w))


def is_chinese(text: str) -> bool:
    """Whether `text` is Chinese: at least 30% of its letters are CJK ideographs."""
    return cjk_share(text) >= 0.3


def strip_markdown(text: str, *, keep_math: bool = False) -> str:
    """The text a reader sees: no code fences, math markers, links, HTML, emphasis or line markers; lines kept.
    Inline math and code keep their content verbatim (math with its `$` signs when `keep_math`)."""
    text = _CONTROL_RE.sub(" ", text)
    text = _FENCE_RE.sub(" ", text)
    text = _DISPLAY_MATH_RE.sub(" ", text)
    kept: list[str] = []

    def keep(match: re.Match[str]) -> str:
        kept.append(match.group(1))
        return f"\x02{len(kept) - 1}\x03"

    def keep_whole(match: re.Match[str]) -> str:
        kept.append(match.group())
        return f"\x02{len(kept) - 1}\x03"

    text = _INLINE_MATH_RE.sub(keep_whole if keep_math else keep, text)
    text = _CODE_RE.sub(keep, text)
    text = _IMAGE_RE.sub(" ", text)
    text = _WIKILINK_RE.sub(lambda m: (m.group(2) or m.group(1) or "").strip(), text)
    text = _LINK_RE.sub(lambda m: m.group(1), text)
    text = _URL_RE.sub(" ", text)
    text = _HTML_RE.sub(" ", text)
    text = _RULE_RE.sub("", text)
    lines = []
    for line in text.splitlines():
        line = _LINE_PREFIX_RE.sub("", line)
        line = _EMPHASIS_LEFT_RE.sub("", line)
        row = line.strip()
        if row.startswith("|") or row.endswith("|"):  # a table row: its cells become a list, never one phrase
            cells = line.replace("\\|", "\x00").strip().strip("|").split("|")
            line = " · ".join(c.strip().replace("\x00", "|") for c in cells if c.strip())
        lines.append(_SPACE_RE.sub(" ", line).strip())
    plain = "\n".join(lines).strip()
    return _KEPT_RE.sub(lambda m: kept[int(m.group(1))], plain) if kept else plain


def _prose(text: str) -> str:
    """`text` without code, math and addresses (their letters say nothing about the language)."""
    text = _FENCE_RE.sub(" ", text[:MAX_ANALYSED_CHARS])
    text = _DISPLAY_MATH_RE.sub(" ", text)
    text = _INLINE_MATH_RE.sub(" ", text)
    return _URL_RE.sub(" ", _CODE_RE.sub(" ", text))


def _strip_for_terms(text: str) -> str:
    """Plain text without math (symbols are not terms), for term extraction."""
    text = _DISPLAY_MATH_RE.sub(" ", text)
    text = _INLINE_MATH_RE.sub(" ", text)
    return strip_markdown(text)


def _shorten(text: str, limit: int = TITLE_CHARS) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2 and not _CJK_RE.match(text[limit - 1 : limit]):
        cut = cut[:space]
    return cut.rstrip(" ,;:，；：、") + "…"


def title_of(text: str) -> str:
    """The first markdown heading, else the first line (its first sentence if long), plain, at most ~60 chars."""
    match = _HEADING_RE.search(text)
    if match:
        heading = strip_markdown(match.group(1))
        if heading:
            return _shorten(heading)
    for line in strip_markdown(text).splitlines():
        if any(ch.isalnum() for ch in line):
            if len(line) > TITLE_CHARS:
                line = sentences(line)[0] if sentences(line) else line
            return _shorten(line)
    return ""


def sentences(text: str, *, keep_math: bool = False) -> list[str]:
    """The sentences of `text` (markdown stripped): split at lines, Chinese 。！？； and English . ! ? ."""
    found: list[str] = []
    for line in strip_markdown(text, keep_math=keep_math).splitlines():
        for piece in _ZH_SPLIT_RE.split(line):
            parts = [p.strip() for p in _EN_SPLIT_RE.split(piece) if p.strip()]
            merged: list[str] = []
            for part in parts:
                last_word = merged[-1].rsplit(" ", 1)[-1].lower() if merged else ""
                if merged and (last_word in _ABBREVIATIONS or re.fullmatch(r"[A-Za-z]\.", last_word)):
                    merged[-1] = f"{merged[-1]} {part}"
                else:
                    merged.append(part)
            found.extend(p for p in merged if any(ch.isalnum() for ch in p))
    return found


def clauses(text: str) -> list[str]:
    """The clauses of `text`: its sentences further split at commas, colons, brackets, dashes and quotes."""
    found: list[str] = []
    for sentence in sentences(text):
        found.extend(c.strip() for c in _CLAUSE_SPLIT_RE.split(sentence) if any(ch.isalnum() for ch in c))
    return found


def _normalise(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


CACHED_CHARS = 4000
"""Texts up to this long have their normalised form and key terms cached (a canvas is read many times per run);
longer ones are worked out each time, so the caches stay small."""


def _normalised_pair(text: str) -> tuple[str, str]:
    spaced = _normalise(text)
    return spaced, spaced.replace(" ", "")


_normalised_cached = lru_cache(maxsize=4096)(_normalised_pair)


def _haystack(text: str) -> tuple[str, str]:
    """`text` normalised for matching: (with single spaces, without any whitespace)."""
    return _normalised_cached(text) if len(text) <= CACHED_CHARS else _normalised_pair(text)


def _word_char(ch: str) -> bool:
    return ch.isalnum() and ch < "\u2e80"  # letters and digits of alphabetic scripts; CJK is a boundary


def _ends_word(hay: str, end: int, plural: bool) -> bool:
    if end >= len(hay) or not _word_char(hay[end]):
        return True
    if not plural:
        return False
    for suffix in ("s", "es"):
        after = end + len(suffix)
        if hay.startswith(suffix, end) and (after >= len(hay) or not _word_char(hay[after])):
            return True
    return False


def _find_word(spaced: str, term: str, plural: bool) -> bool:
    start = spaced.find(term)
    while start >= 0:
        if (start == 0 or not _word_char(spaced[start - 1])) and _ends_word(spaced, start + len(term), plural):
            return True
        start = spaced.find(term, start + 1)
    return False


def contains_term(text: str, term: str) -> bool:
    """Whether `text` mentions `term`: case-insensitive; English terms as whole words, singular or plural."""
    term = _normalise(term)
    if not term:
        return False
    spaced, squeezed = _haystack(text)
    if _CJK_RE.search(term):
        return term.replace(" ", "") in squeezed
    plural = term[-1].isalpha()
    if _find_word(spaced, term, plural):
        return True
    for suffix in ("es", "s") if plural and len(term) > 3 else ():
        if term.endswith(suffix) and _find_word(spaced, term[: -len(suffix)], plural=False):
            return True
    return False


# --- key terms ------------------------------------------------------------------------------------------------


def _private_cache_dir() -> str:
    """A temp folder only this user can write, for jieba's prefix-dictionary cache."""
    uid = os.getuid() if hasattr(os, "getuid") else None
    path = os.path.join(tempfile.gettempdir(), f"canvasd-jieba-{uid if uid is not None else 'user'}")
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        info = os.lstat(path)
        if stat.S_ISDIR(info.st_mode) and (uid is None or info.st_uid == uid) and not info.st_mode & 0o022:
            return path
    except OSError:
        pass
    return tempfile.mkdtemp(prefix="canvasd-jieba-")


_DEMOTED_TAGS = frozenset("vdrpcumqfyeot")
"""First letters of jieba's part-of-speech tags ranked after nouns: verbs (not verbal nouns "vn"), adverbs,
pronouns, prepositions, conjunctions, particles, numerals, measure words, localisers, interjections, time words."""


def _demoted_words(jieba_dir: str, dict_name: str) -> frozenset[str]:
    """Words jieba's shipped dictionary tags as verbs, adverbs, pronouns, ... (no HMM tagging: one file read)."""
    demoted: set[str] = set()
    try:
        with open(os.path.join(jieba_dir, dict_name), encoding="utf-8") as lines:
            for line in lines:
                parts = line.split()
                if len(parts) >= 3 and parts[2][0] in _DEMOTED_TAGS and parts[2] != "vn":
                    demoted.add(parts[0])
    except (OSError, UnicodeDecodeError):
        return frozenset()
    return frozenset(demoted)


def load_chinese_model() -> None:
    """Load jieba's dictionary and IDF table now (about a second and a half, ~150 MB), not on the first Chinese
    text: the agents' start does it in the background when `agents.prewarm` is on."""
    _jieba()


def _jieba() -> tuple[Any, dict[str, float], float, frozenset[str]]:
    """jieba's tokenizer, its shipped IDF table and its demoted words, loaded once (about a second) on first use."""
    global _jieba_state
    if _jieba_state is not None:
        return _jieba_state
    with _jieba_lock:
        if _jieba_state is None:
            with warnings.catch_warnings():
                # jieba 0.42 leaves its IDF file open and has escape sequences newer Pythons warn about.
                warnings.simplefilter("ignore")
                import jieba
                import jieba.analyse

                jieba.setLogLevel(logging.WARNING)
                tokenizer = jieba.Tokenizer()
                tokenizer.tmp_dir = _private_cache_dir()
                tokenizer.initialize()
                idf = jieba.analyse.default_tfidf.idf_freq
                median = jieba.analyse.default_tfidf.median_idf
                demoted = _demoted_words(os.path.dirname(jieba.__file__), jieba.DEFAULT_DICT_NAME)
            _log.debug("jieba loaded (%d IDF entries, %d demoted words)", len(idf), len(demoted))
            _jieba_state = (tokenizer, idf, median, demoted)
    return _jieba_state


def _chinese_terms(text: str) -> list[str]:
    """Chinese words ranked by TF-IDF with jieba's shipped IDF (no HMM guesses: only dictionary words); verbs,
    adverbs and other function words after the nouns."""
    runs = " ".join(_CJK_RUN_RE.findall(text))
    if not runs:
        return []
    tokenizer, idf, median, demoted = _jieba()
    freq: dict[str, int] = {}
    for word in tokenizer.cut(runs, HMM=False):
        if len(word) >= 2 and word not in _ZH_STOPWORDS and _CJK_RUN_RE.fullmatch(word):
            freq[word] = freq.get(word, 0) + 1
    order = {word: i for i, word in enumerate(freq)}
    return sorted(freq, key=lambda w: (w in demoted, -freq[w] * idf.get(w, median), order[w]))


def _is_content_word(word: str) -> bool:
    low = word.casefold()
    if low in _EN_STOPWORDS or not any(ch.isalpha() for ch in word):
        return False
    return len(word) >= 2


def _english_chunks(text: str, *, body: bool = False) -> list[list[str]]:
    """Runs of content words (split at stopwords, punctuation and CJK), at most three words each."""
    chunks: list[list[str]] = []
    for segment in re.split(rf"[^\s\w'’\-]|[{_CJK}]|_|\n|\s[-–—]\s", text):
        run: list[str] = []
        for word in _WORD_RE.findall(segment):
            if _is_content_word(word) and (not body or word.casefold() not in _EN_VERBS):
                run.append(word)
                if len(run) == 3:
                    chunks.append(run)
                    run = []
            else:
                if run:
                    chunks.append(run)
                run = []
        if run:
            chunks.append(run)
    return chunks


def _english_terms(text: str) -> list[str]:
    """Noun-phrase-like chunks ranked by frequency (longer and acronym chunks weigh more), then position."""
    score: dict[str, float] = {}
    surface: dict[str, str] = {}
    order: dict[str, int] = {}
    for run in _english_chunks(text, body=True):
        # a two-word phrase inside a longer run counts too, at half weight ("proton gradient" in "proton gradient
        # pump"), so the phrase that recurs beats the one-off longer chunk
        spans = [(0, len(run), 1.0)] + [(i, i + 2, 0.5) for i in range(len(run) - 1) if len(run) == 3]
        for start, end, share in spans:
            words = run[start:end]
            phrase = " ".join(words)
            key = phrase.casefold()
            weight = 1.0 + 0.3 * (len(words) - 1) + (0.3 if any(w.isupper() and len(w) > 1 for w in words) else 0.0)
            score[key] = score.get(key, 0.0) + share * weight
            surface.setdefault(key, phrase)
            order.setdefault(key, len(order))
    return [surface[k] for k in sorted(score, key=lambda k: (-score[k], order[k]))]


def _segment_terms(segment: str) -> list[str]:
    """Terms of a short marked-up piece (a heading or a bold phrase): kept whole when term-sized."""
    found: list[str] = []
    for part in re.split(r"[()（）:：,，;；/|&·、—–]|\s[-–]\s|\bvs\.?(?=\s)", segment):
        part = part.strip(" .!?。！？\"'“”")
        if not part:
            continue
        for run in re.findall(rf"[{_CJK}]+|[^{_CJK}]+", part):
            run = run.strip(" .!?-\"'“”")
            if not run:
                continue
            if _CJK_RE.match(run):
                if 2 <= len(run) <= 6 and not re.search("[的了是和与及在把被]", run) and run not in _ZH_STOPWORDS:
                    found.append(run)
                else:
                    found.extend(_chinese_terms(run)[:3])
                continue
            words = _WORD_RE.findall(run)
            while words and not _is_content_word(words[0]) and not (
                    words[0].casefold() in _ORDINALS and len(words) > 1 and _is_content_word(words[1])):
                words.pop(0)
            while words and not _is_content_word(words[-1]):
                words.pop()
            if 1 <= len(words) <= 4:
                found.append(" ".join(words))
            elif words:
                found.extend(" ".join(chunk) for chunk in _english_chunks(" ".join(words)))
    return found


def _valid_term(term: str) -> bool:
    if len(term) < 2 or len(term) > TITLE_CHARS or not any(ch.isalpha() for ch in term):
        return False
    if re.fullmatch(r"[IVXLCivxlc]+", term) and len(term) < 5:  # "complexes I-IV": a numeral, not a term
        return False
    if re.search(r"[*_#\[\]|<>`$\\{}=]", term) or term.casefold() in _EN_STOPWORDS or term in _ZH_STOPWORDS:
        return False
    return not term.casefold().startswith(("http", "www."))


def _key_terms(text: str, limit: int) -> tuple[str, ...]:
    text = text[:MAX_ANALYSED_CHARS]
    text = _FENCE_RE.sub(" ", text)
    marked: list[str] = []
    for heading in _HEADING_RE.findall(text):
        marked.extend(_segment_terms(_strip_for_terms(heading)))
    for match in _BOLD_RE.finditer(text):
        marked.extend(_segment_terms(_strip_for_terms(match.group(1) or match.group(2) or "")))
    for match in _WIKILINK_RE.finditer(text):
        target = (match.group(2) or match.group(1) or "").strip()
        marked.append(target.rsplit("/", 1)[-1].removesuffix(".md").strip())
    for match in _ITALIC_RE.finditer(_BOLD_RE.sub(" ", text)):
        marked.extend(_segment_terms(_strip_for_terms(match.group(1) or match.group(2) or "")))
    plain = _strip_for_terms(_HEADING_RE.sub(" ", text))
    zh = _chinese_terms(plain) if _CJK_RE.search(plain) else []
    en = _english_terms(plain)
    first, second = (zh, en) if is_chinese(text) else (en, zh)
    body: list[str] = []
    i = j = 0
    while i < len(first) or j < len(second):
        body.extend(first[i : i + 2])
        i += 2
        body.extend(second[j : j + 1])
        j += 1
    chosen: list[str] = []
    seen: set[str] = set()
    for term in (*marked, *body):
        term = _SPACE_RE.sub(" ", term).strip()
        key = term.casefold()
        if key in seen or not _valid_term(term):
            continue
        # "cycle" or "Krebs cycle turns" add nothing to "Krebs cycle" (English only: 作用力 and 反作用力 differ)
        if not _CJK_RE.search(term) and any(
            not _CJK_RE.search(c) and " " in c and (contains_term(c, term) or contains_term(term, c)) for c in chosen
        ):
            continue
        seen.add(key)
        chosen.append(term)
        if len(chosen) >= limit:
            break
    return tuple(chosen)


_key_terms_cached = lru_cache(maxsize=4096)(_key_terms)


def key_terms(text: str, limit: int = 8) -> list[str]:
    """The key terms of `text`, most important first: markup terms, then Chinese (TF-IDF) and English (chunker)
    terms; case-insensitively unique, never stopwords, bare numbers or markup."""
    if limit <= 0 or not text.strip():
        return []
    return list(_key_terms_cached(text, limit) if len(text) <= CACHED_CHARS else _key_terms(text, limit))

