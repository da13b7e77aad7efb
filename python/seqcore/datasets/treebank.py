"""Dependency treebanks in CoNLL-U: a validating reader, the Turkish treebanks of Google
Research, and the projectivity tools a transition-based parser needs.

* :func:`read_conllu`: CoNLL-U text read with the ``conllu`` library (6.0.0), every sentence
  checked to be a tree over its syntactic words (multiword-token ranges ``1-2`` and empty
  nodes ``1.1`` are kept in the token list and skipped).
* :func:`turkish_treebank`: the Turkish Web Treebank and the Turkish Wikipedia treebank
  (4,851 sentences) from the ``turkish-treebanks`` 1.0.0 wheel (Apache-2.0), split 8:1:1.
* :func:`is_projective`, :func:`projectivize`: the projectivity test and Nivre & Nilsson's
  (2005) lifting of non-projective arcs.

A head array ``head [n]`` (int64) gives, for word ``i`` (1-based; ``head[i - 1]``), the
1-based index of its head, or 0 for the artificial root, which sits at position 0 left of
every word.
"""
from __future__ import annotations

import hashlib
import io
import os
from importlib import metadata
from pathlib import Path
from typing import IO, Any, Dict, Iterator, List, NamedTuple, Optional, Sequence, Union

import numpy as np

from . import DatasetError

__all__ = ["Sentence", "Treebank", "read_conllu", "turkish_treebank", "is_projective",
           "projectivize"]

_CONLLU_INSTALL = "pip install conllu==6.0.0 (or pip install 'seqcore[data]')"
_TT_DIST = "turkish-treebanks"
_TT_INSTALL = ("pip install turkish-treebanks==1.0.0 conllu==6.0.0 "
               "(or pip install 'seqcore[data]')")
# The two files of the wheel, in the order they are concatenated, with their sha256 (the
# digests the wheel's RECORD lists too).
_TT_FILES = (
    ("data/web.conllu", "d6f92b12b74f367a36e30dd3d644d7a0bb01a991584602e6e69f1191664f86bf"),
    ("data/wiki.conllu", "58f049fae8d0653ba0940a58168c17c7cebbc50f88cad2985d12d34ac1b9acde"),
)

Source = Union[str, "os.PathLike[str]", IO[Any]]


class Sentence(NamedTuple):
    """One sentence of a treebank over its ``n`` syntactic words (IDs 1..n).

    Attributes
    ----------
    form : list of n str
        The FORM column.
    upos : list of n str
        The UPOS column as written (the treebank's own tag set).
    head : ``[n]`` int64
        0 for the word attached to the root, else the 1-based index of the head word.
        Always a tree: one root, no cycles.
    deprel : list of n str
        The DEPREL column as written.
    sent_id : str
        The ``# sent_id`` comment, ``""`` if there is none.
    tokens : conllu.TokenList
        The tokens the sentence was read from, multiword-token ranges and empty nodes
        included; ``tokens.serialize()`` writes it back as CoNLL-U. Its
        FEATS values are the column's raw text (``None`` for ``_``), not dicts: a FEATS
        column may repeat a key (the Turkish treebanks give ``PersonNumber`` twice, for the
        noun and for the copula) and a dict would keep only the last one. LEMMA, XPOS and
        MISC are read by conllu's own rules (XPOS ``_`` is ``None``).
    """
    form: List[str]
    upos: List[str]
    head: np.ndarray
    deprel: List[str]
    sent_id: str
    tokens: Any


class Treebank(NamedTuple):
    """The train / dev / test sentences (lists of :class:`Sentence`)."""
    train: List[Sentence]
    dev: List[Sentence]
    test: List[Sentence]


# ---- validation of trees ----------------------------------------------------------------------

def _find_cycle(head: Sequence[int]) -> Optional[List[int]]:
    """The words of one cycle (each word's head is the next, the last's is the first), or
    None. ``head`` holds ints in 0..n with no word its own head."""
    state = [0] * (len(head) + 1)      # 0 unseen, 1 on the current path, 2 reaches the root
    state[0] = 2
    for start in range(1, len(head) + 1):
        path = []
        v = start
        while state[v] == 0:
            state[v] = 1
            path.append(v)
            v = head[v - 1]
        if state[v] == 1:
            return path[path.index(v):]
        for u in path:
            state[u] = 2
    return None


def _as_head(head: Any, name: str = "head") -> np.ndarray:
    """``head`` as a new int64 array after checking that it is a tree rooted at 0."""
    a = np.asarray(head)
    if a.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array [n], got shape {a.shape}")
    if a.size == 0:
        return np.zeros(0, np.int64)
    if a.dtype.kind not in "iu":
        raise TypeError(f"{name}: expected an integer array, got dtype {a.dtype}")
    n = a.size
    bad = np.flatnonzero((a < 0) | (a > n))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"{name}: word {i + 1} (head[{i}]) has head {a[i]}, expected 0..{n}")
    h = a.astype(np.int64)
    own = np.flatnonzero(h == np.arange(1, n + 1))
    if own.size:
        raise ValueError(f"{name}: word {own[0] + 1} (head[{own[0]}]) is its own head")
    cycle = _find_cycle(h.tolist())
    if cycle is not None:
        raise ValueError(f"{name}: not a tree: words {_cycle_text(cycle)} form a cycle")
    return h


def _cycle_text(cycle: List[int]) -> str:
    return " -> ".join(str(w) for w in cycle + cycle[:1])


# ---- projectivity -----------------------------------------------------------------------------

def _nonprojective(head: np.ndarray) -> np.ndarray:
    """Dependents (1-based, ascending) of the non-projective arcs of a valid tree.

    With preorder numbers ``tin`` and subtree sizes, word k descends from h (or is h) iff
    ``tin[h] <= tin[k] < tin[h] + size[h]``; an arc is projective iff the minimum and the
    maximum of ``tin`` over the words strictly between its ends are in that range. The
    range minima and maxima come from a sparse table: O(n log n) time and memory.
    """
    n = head.size
    heads = head.tolist()
    children: List[List[int]] = [[] for _ in range(n + 1)]
    for d, h in enumerate(heads, 1):
        children[h].append(d)
    tin_list = [0] * (n + 1)
    order: List[int] = []
    stack = [0]
    while stack:
        v = stack.pop()
        tin_list[v] = len(order)
        order.append(v)
        stack.extend(reversed(children[v]))
    size_list = [1] * (n + 1)
    for v in reversed(order[1:]):
        size_list[heads[v - 1]] += size_list[v]
    tin = np.array(tin_list, np.int64)
    size = np.array(size_list, np.int64)
    dep = np.arange(1, n + 1)
    left = np.minimum(head, dep) + 1            # the words strictly between: left..right
    right = np.maximum(head, dep) - 1
    length = right - left + 1
    mins, maxs = [tin], [tin]                   # level j: over tin[i : i + 2**j]
    while 2 ** len(mins) <= n + 1:
        half = 2 ** (len(mins) - 1)
        mins.append(np.minimum(mins[-1][:-half], mins[-1][half:]))
        maxs.append(np.maximum(maxs[-1][:-half], maxs[-1][half:]))
    bad = np.zeros(n, bool)
    has = np.flatnonzero(length > 0)
    level = np.floor(np.log2(np.maximum(length[has], 1))).astype(np.int64)
    for j in np.unique(level):
        arcs = has[level == j]
        lo_i, hi_i = left[arcs], right[arcs] - 2 ** int(j) + 1
        low = np.minimum(mins[j][lo_i], mins[j][hi_i])
        high = np.maximum(maxs[j][lo_i], maxs[j][hi_i])
        start = tin[head[arcs]]
        bad[arcs] = (low < start) | (high >= start + size[head[arcs]])
    return dep[bad]


def is_projective(head: Any) -> bool:
    """Whether a dependency tree is projective.

    An arc ``h -> d`` is projective iff every word strictly between ``h`` and ``d`` is a
    descendant of ``h``, the root 0 sitting at position 0 left of every word; a tree is
    projective iff all its arcs are (equivalently: no two arcs cross, arcs from the root
    included; or: every subtree covers a contiguous span).

    Parameters
    ----------
    head : ``[n]`` integer array (any int dtype) or list, as :attr:`Sentence.head`: 0 for a
        word attached to the root, else the 1-based index of its head. Several words may
        hang from 0 (a forest under the root is a tree rooted at 0). ``n = 0`` is projective.

    Returns
    -------
    bool

    Raises
    ------
    TypeError : ``head`` is not an integer array.
    ValueError : ``head`` is not 1-D, a head is outside 0..n, a word is its own head, or the
        heads form a cycle (the message names ``head`` and the words).

    Source: Nivre & Nilsson (2005), "Pseudo-Projective Dependency Parsing", ACL, section 2.
    """
    return _nonprojective(_as_head(head)).size == 0


def projectivize(head: Any) -> np.ndarray:
    """The projective tree that Nivre & Nilsson's (2005) lifting makes of a tree.

    While the tree is non-projective, the non-projective arc ``h -> d`` with the shortest
    span ``|h - d|`` (ties: the leftmost dependent ``d``) is lifted: ``d`` is reattached to
    the head of ``h``. Arcs from the root are always projective, so ``h`` is a word and has a
    head; each lift moves ``d`` one step up its own path to the root, so the result is a
    tree, every word keeps a path to the root, and the loop ends (at the latest with every
    lifted word under the root). A projective tree comes back unchanged. A tree with a single
    word attached to 0 keeps it as its only root: that word dominates every other word, so
    its arcs are projective and no word is lifted to 0 (with several words under 0, lifted
    words may end up there).

    Only the heads change: this is pseudo-projective parsing *without* the label encoding
    (Head, Path, Head+Path) of the paper, so the relations of the lifted arcs are kept as
    they were and the lifts cannot be undone after parsing.

    Parameters
    ----------
    head : ``[n]`` integer array or list, a tree as for :func:`is_projective`.

    Returns
    -------
    ``[n]`` int64, a new array (the input is not modified); ``is_projective`` of it is True.

    Raises
    ------
    TypeError, ValueError : as :func:`is_projective`.

    Source: Nivre & Nilsson (2005), "Pseudo-Projective Dependency Parsing", ACL, section 3
    (PROJECTIVIZE with SMALLEST-NONP-ARC and LIFT).
    """
    h = _as_head(head).copy()
    while True:
        bad = _nonprojective(h)
        if bad.size == 0:
            return h
        span = np.abs(h[bad - 1] - bad)
        d = int(bad[np.argmin(span)])          # argmin: the first, so the leftmost dependent
        parent = int(h[d - 1])
        h[d - 1] = h[parent - 1]


# ---- CoNLL-U ----------------------------------------------------------------------------------

def _conllu() -> Any:
    try:
        import conllu
    except ImportError:
        raise ImportError(f"reading CoNLL-U needs the conllu package: {_CONLLU_INSTALL}"
                          ) from None
    return conllu


def _field_parsers() -> Dict[str, Any]:
    """conllu's parsers, except that FEATS stays raw text (it may repeat a key) and a bad ID
    or HEAD is kept as its text for our checks to report instead of raising mid-file."""
    from conllu.exceptions import ParseException
    from conllu.parser import parse_id_value, parse_int_value, parse_nullable_value

    def lenient(parse: Any) -> Any:
        def field(line: List[str], i: int) -> Any:
            try:
                return parse(line[i])
            except ParseException:
                return line[i]
        return field

    return {"id": lenient(parse_id_value), "head": lenient(parse_int_value),
            "feats": lambda line, i: parse_nullable_value(line[i])}


def _text(value: Any) -> str:
    return "_" if value is None else repr(value) if isinstance(value, str) else str(value)


def _sentence(tokens: Any) -> Sentence:
    """A :class:`Sentence` of a TokenList; ValueError with the problem if it is not a tree."""
    words = []
    ranges = []
    expected = 1
    for t in tokens:
        tid = t.get("id")
        if isinstance(tid, tuple) and len(tid) == 3 and tid[1] in "-.":
            a, sep, b = tid
            if sep == "-":
                if a != expected:
                    raise ValueError(f"the multiword token {a}-{b} does not start at the next "
                                     f"word ({expected})")
                ranges.append((a, b))
            elif a != expected - 1:
                raise ValueError(f"the empty node {a}.{b} does not follow word {a}")
            continue
        if isinstance(tid, bool) or not isinstance(tid, int):
            raise ValueError(f"ID {_text(tid)} after word {expected - 1} is not a word "
                             f"number, a range a-b or an empty node i.j")
        if tid != expected:
            raise ValueError(f"word IDs are not 1..n in order: ID {tid} where {expected} "
                             f"was expected")
        for key in ("form", "upos", "head", "deprel"):
            if key not in t:
                raise ValueError(f"word {tid} has no {key.upper()} column")
        words.append(t)
        expected += 1
    n = len(words)
    if n == 0:
        raise ValueError("no words (an empty sentence)")
    for a, b in ranges:
        if b > n:
            raise ValueError(f"the multiword token {a}-{b} goes past the last word ({n})")
    heads = []
    for i, t in enumerate(words, 1):
        h = t["head"]
        if isinstance(h, bool) or not isinstance(h, int) or not 0 <= h <= n:
            raise ValueError(f"word {i} has HEAD {_text(h)}, not an integer in 0..{n}")
        if h == i:
            raise ValueError(f"word {i} is its own head")
        heads.append(h)
    roots = [i for i, h in enumerate(heads, 1) if h == 0]
    if not roots:
        raise ValueError("no word is attached to the root (HEAD 0)")
    if len(roots) > 1:
        raise ValueError(f"{len(roots)} words ({', '.join(map(str, roots))}) are attached to "
                         f"the root (HEAD 0); exactly one is allowed")
    cycle = _find_cycle(heads)
    if cycle is not None:
        raise ValueError(f"words {_cycle_text(cycle)} form a cycle (each is the head of the "
                         f"one before)")
    return Sentence([str(t["form"]) for t in words], [str(t["upos"]) for t in words],
                    np.array(heads, np.int64), [str(t["deprel"]) for t in words],
                    str(tokens.metadata.get("sent_id") or ""), tokens)


def _open(source: Any, name: str) -> Any:
    """(text file object, what to do with it when done: "close", "detach" or "")."""
    if isinstance(source, str) and "\n" in source:
        return io.StringIO(source, newline=None), ""
    if isinstance(source, (str, os.PathLike)):
        return open(os.fspath(source), encoding="utf-8-sig"), "close"
    if hasattr(source, "read"):
        mode = getattr(source, "mode", "")
        if isinstance(source, (io.RawIOBase, io.BufferedIOBase)) or (
                isinstance(mode, str) and "b" in mode):
            # the wrapper is detached afterwards, so the caller's file stays open
            return io.TextIOWrapper(source, encoding="utf-8-sig"), "detach"
        return source, ""
    raise TypeError(f"{name}: expected a path, CoNLL-U text (a str with newlines) or a file "
                    f"object, got {type(source).__name__}")


def _read(f: Any, name: str) -> Iterator[Sentence]:
    conllu = _conllu()
    from conllu.exceptions import ParseException
    sentences = iter(conllu.parse_incr(f, field_parsers=_field_parsers()))
    number = 0
    while True:
        number += 1
        try:
            tokens = next(sentences)
        except StopIteration:
            return
        except ParseException as err:
            raise ValueError(f"{name}: sentence {number}: not CoNLL-U ({err})") from None
        except UnicodeDecodeError as err:
            raise ValueError(f"{name}: sentence {number}: not UTF-8 ({err})") from None
        try:
            yield _sentence(tokens)
        except ValueError as err:
            sid = tokens.metadata.get("sent_id")
            where = f"sent_id {sid!r}" if sid else "no sent_id"
            raise ValueError(f"{name}: sentence {number} ({where}): {err}") from None


def read_conllu(source: Source, *, name: str = "source") -> List[Sentence]:
    """Read CoNLL-U (Universal Dependencies format) into checked dependency trees.

    The text is parsed by the ``conllu`` library (6.0.0; ``pip install conllu``); this function
    only checks and converts. A sentence's words are its lines with an integer ID;
    multiword-token ranges (``1-2``) and empty nodes (``1.1``) are not words: they are
    skipped (and kept in :attr:`Sentence.tokens`).

    Parameters
    ----------
    source : a path (str or ``os.PathLike``; read as UTF-8), CoNLL-U text (a str that
        contains a newline), or an open file object (text, or binary read as UTF-8).
    name : what to call ``source`` in error messages.

    Returns
    -------
    list of :class:`Sentence` in file order, each with ``head [n]`` int64.

    Raises
    ------
    ValueError : naming ``name``, the sentence (1-based number and sent_id) and the problem,
        for: a sentence without words; word IDs that are not 1..n in order (or an ID that is
        no word number, range or empty node; a range that does not start at the next word or
        reaches past the last; an empty node ``i.j`` not right after word ``i``); a word
        without the FORM, UPOS, HEAD or DEPREL column; a HEAD that is not an integer in
        0..n (``_`` included); a word that is its own head; no word attached to the root
        (HEAD 0); more than one word attached to the root (the UD rule: the Turkish
        treebanks have exactly one root in every sentence); a cycle of heads. Also for text
        conllu cannot parse (a line without tabs) and invalid UTF-8.
    TypeError : ``source`` is none of the above.
    OSError : the path cannot be opened (FileNotFoundError when it does not exist).
    ImportError : the conllu package is missing.

    Source: the CoNLL-U format, https://universaldependencies.org/format.html.
    """
    f, done = _open(source, name)
    try:
        return list(_read(f, name))
    finally:
        if done == "close":
            f.close()
        elif done == "detach":
            f.detach()


# ---- the Turkish treebanks --------------------------------------------------------------------

def _locate(relpath: str) -> Path:
    """Where the installed ``turkish-treebanks`` wheel put ``relpath`` (its RECORD entry)."""
    try:
        files = metadata.files(_TT_DIST)
    except metadata.PackageNotFoundError:
        raise DatasetError(f"turkish_treebank: the turkish-treebanks package is not "
                           f"installed: {_TT_INSTALL}") from None
    for f in files or ():
        if f.as_posix() == relpath or f.as_posix().endswith("/" + relpath):
            return Path(str(f.locate()))
    raise DatasetError(f"turkish_treebank: the turkish-treebanks install lists no {relpath} "
                       f"(pip install --force-reinstall turkish-treebanks==1.0.0)")


def _read_checked(relpath: str, digest: str) -> List[Sentence]:
    path = _locate(relpath)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise DatasetError(f"turkish_treebank: cannot read {path} ({err}; pip install "
                           f"--force-reinstall turkish-treebanks==1.0.0)") from None
    if hashlib.sha256(data).hexdigest() != digest:
        raise DatasetError(f"turkish_treebank: {path} fails its sha256 (a damaged install or "
                           f"another file in its place: pip install --force-reinstall "
                           f"turkish-treebanks==1.0.0)")
    return read_conllu(io.StringIO(data.decode("utf-8"), newline=None), name=str(path))


def turkish_treebank() -> Treebank:
    """The Turkish treebanks of Google Research: the Turkish Web Treebank (forums, blogs,
    ...; ``web.conllu``, 2,541 sentences) and Turkish Wikipedia sentences (``wiki.conllu``,
    2,310), as dependency trees, split into train / dev / test.

    Read from the ``turkish-treebanks`` 1.0.0 wheel (Apache-2.0; ``pip install
    "seqcore[data]"``), which installs the two CoNLL-U files into a top-level ``data/``
    folder of site-packages; they are found through the wheel's RECORD
    (``importlib.metadata``), checked against pinned sha256 values and read with
    :func:`read_conllu`.

    Split: the files are concatenated, web then wiki, in file order; sentence ``i``
    (0-based) goes to test if ``i % 10 == 0``, to dev if ``i % 10 == 1``, else to train:

    =====  =========  ======
    split  sentences  words
    =====  =========  ======
    train  3,880      65,279
    dev    485        8,000
    test   486        8,091
    =====  =========  ======

    This is *not* the split of the wheel's own reader (``turkish_treebanks.read``), which
    counts ``i`` within each file and puts ``i % 10 == 8`` in dev and ``i % 10 == 9`` in test
    (3,881 / 485 / 485 sentences): scores on the two splits are not comparable.

    (81,370 words: 32,422 web, 48,948 wiki; 16.8 per sentence, 2 to 88.) The words are
    *inflectional groups*: a Turkish word is cut at each derivational boundary into groups
    chained by ``ig`` arcs, e.g. ``Açıklanmayan`` = ``Açık la nma yan``, the later groups
    with LEMMA ``_`` and all but the last with ``SpaceAfter=No``; 18% of the arcs are
    ``ig``. UPOS is the older Google universal tag set (``CONJ``, ``PRT``, ...) plus
    ``ONOM`` and ``AFFIX`` (14 tags); DEPREL the Stanford-style labels of the Google
    treebanks, 44 labels counting ``root`` and ``ig``; both are kept as written. FEATS
    repeats keys (:attr:`Sentence.tokens` keeps it as text). Every sentence has exactly one
    root and a sent_id; there are no multiword ranges or empty nodes.

    Non-projective (:func:`is_projective`): 315 of the 4,851 sentences, 6.5% (web 4.7%,
    wiki 8.4%; train 250 = 6.4%, dev 34 = 7.0%, test 31 = 6.4%), with 515 non-projective
    arcs (0.6% of the arcs); :func:`projectivize` makes them projective with 623 lifts.

    Returns
    -------
    :class:`Treebank` ``(train, dev, test)``, lists of :class:`Sentence` (``head [n]``
    int64). Each call reads the files again (about 1.5 s) and returns new objects.

    Raises
    ------
    DatasetError : turkish-treebanks or conllu is not installed (with the pip command), or a
        file is missing or fails its sha256.

    Source: https://github.com/google-research-datasets/turkish-treebanks; the annotation
    follows the Google universal dependency scheme of McDonald et al. (2013), "Universal
    Dependency Annotation for Multilingual Parsing", ACL.
    """
    try:
        _conllu()
    except ImportError:
        raise DatasetError(f"turkish_treebank: the conllu package is not installed: "
                           f"{_TT_INSTALL}") from None
    sentences: List[Sentence] = []
    for relpath, digest in _TT_FILES:
        sentences += _read_checked(relpath, digest)
    return Treebank([s for i, s in enumerate(sentences) if i % 10 >= 2], sentences[1::10],
                    sentences[0::10])
