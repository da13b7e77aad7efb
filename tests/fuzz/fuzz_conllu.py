"""atheris harness: seqcore.datasets.read_conllu on arbitrary bytes, and Parser.load /
Tagger.load (seqcore.parsing) on arbitrary .npz archives.

Input: one mode byte, then the data. Mode bits 0-1: 0: read_conllu of a path holding the
data; 1: of a binary file object; 2: of a str (the data decoded as UTF-8; data that is not
UTF-8 is read from a path instead); 3: a saved model, bit 2 picking Tagger.load over
Parser.load and bit 3 beam search (beam 2, 2-best) over greedy parsing.

CoNLL-U that reads is checked: every sentence a tree over its words with one root,
``tokens`` agreeing with the words, ``tokens.serialize()`` (what Parser.to_conllu writes)
read back as the same tree, and the tree projectivised and fed to the static oracle.

Models: as in fuzz_w2v_load, data starting with ``PK`` is the archive itself; anything else
is the members' .npy bytes separated by ``SEPARATOR`` in the order of ``PARSER_MEMBERS`` /
``TAGGER_MEMBERS`` (an empty part: no such member), zipped here with valid CRCs. A model that
loads parses / tags a fixed CoNLL-U sentence and survives a save/load round trip.

Accepted: ValueError (UnicodeDecodeError included; the loaders document ValueError for a
file that is not a model, and parsing raises ValueError for NaN scores of a model with NaN
weights); for the loaders also OSError (the zip layer's error for a member offset that
cannot be sought). ``KNOWN_LOAD_BUGS``: exceptions of Parser.load / Tagger.load that are
reported but not fixed yet (each matched by type and message), so that fuzzing goes on past
them; empty it once they are fixed.
"""
import io
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness  # noqa: E402

# One sentence with a multiword token and an empty node: what a loaded model parses / tags.
SENTENCE = ("# sent_id = t1\n# text = Evdeyim ben.\n"
            "1-2\tEvdeyim\t_\t_\t_\t_\t_\t_\t_\t_\n"
            "1\tEvde\tev\tNOUN\tNoun\tCase=Loc\t3\tobl\t_\t_\n"
            "2\tyim\ti\tAUX\tZero\tPerson=1\t3\tcop\t_\t_\n"
            "3\tben\tben\tPRON\tPers\t_\t0\troot\t_\tSpaceAfter=No\n"
            "3.1\tvar\t_\tVERB\t_\t_\t_\t_\t0:root\t_\n"
            "4\t.\t.\tPUNCT\tPunc\t_\t3\tpunct\t_\t_\n\n")
with _harness.instrumented(__name__ == "__main__"):
    import inspect

    import numpy as np

    from seqcore import parsing
    from seqcore.datasets import is_projective, projectivize, read_conllu, treebank

    # read before the instrumentation: instrumented code may not run before atheris.Setup
    _SENTENCES = read_conllu(SENTENCE)
    # atheris 2.3.0 on CPython 3.11 makes bytecode that segfaults of a generator with
    # try/except around both next() and yield (treebank._read): keep those uninstrumented
    _GENERATORS = [(f, f.__code__) for f in vars(treebank).values()
                   if inspect.isgeneratorfunction(f)]
for _f, _code in _GENERATORS:
    _f.__code__ = _code


ACCEPTED = (ValueError,)
# Parser.load / Tagger.load: also OSError, which the zip layer raises for a member offset
# that cannot be sought (an I/O error of a damaged file).
ACCEPTED_LOAD = (ValueError, OSError)

# (exception type, message regex): reported load bugs, matched so that fuzzing goes on past
# them (empty: none open). A .npy header may declare a huge array, which numpy allocates
# before reading it: MemoryError, a clear error, is accepted.
KNOWN_LOAD_BUGS: tuple = ()
ACCEPTED_LOAD = ACCEPTED_LOAD + (MemoryError,)

SEPARATOR = _harness.NPY_MEMBER_SEPARATOR
_TAGS = ("upos", "xpos", "feats")
PARSER_MEMBERS = (("meta", "labels") + tuple("vocab:" + a for a in parsing.ATTRIBUTES)
                  + tuple(f"param:{a}_embedding" for a in parsing.ATTRIBUTES)
                  + ("param:label_embedding", "param:hidden.weight", "param:hidden.bias",
                     "param:output.weight", "param:output.bias"))
TAGGER_MEMBERS = (("meta", "vocab:form", "vocab:affix") + tuple("vocab:" + a for a in _TAGS)
                  + ("param:form_embedding", "param:affix_embedding")
                  + tuple(f"param:lstm.{w}_l0{r}" for r in ("", "_reverse")
                          for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
                  + ("param:hidden.weight", "param:hidden.bias")
                  + tuple(f"param:{c}.{w}" for c in _TAGS for w in ("weight", "bias")))



def _tree(head, n):
    head = np.asarray(head)
    assert head.shape == (n,) and head.dtype == np.int64, (head.shape, head.dtype)
    assert ((head >= 0) & (head <= n)).all() and int((head == 0).sum()) == 1, head
    for d in range(1, n + 1):   # every word reaches ROOT
        v, steps = d, 0
        while v != 0:
            v, steps = int(head[v - 1]), steps + 1
            assert steps <= n, f"cycle in {head}"


def check_sentences(sentences) -> None:
    assert isinstance(sentences, list)
    for s in sentences:
        n = len(s.form)
        assert n >= 1 and len(s.upos) == len(s.deprel) == n
        _tree(s.head, n)
        words = [t for t in s.tokens if isinstance(t["id"], int)]
        assert [t["id"] for t in words] == list(range(1, n + 1))
        assert [str(t["form"]) for t in words] == s.form
        text = s.tokens.serialize()
        back = read_conllu(text)
        assert len(back) == 1, f"serialize/read: {len(back)} sentences from {text!r}"
        assert back[0].form == s.form and back[0].upos == s.upos and \
            back[0].head.tolist() == s.head.tolist() and back[0].deprel == s.deprel, \
            f"serialize/read changed the sentence {text!r}"
        proj = projectivize(s.head)
        assert is_projective(proj) and is_projective(s.head) == (proj == s.head).all()
        out = parsing.oracle([n], proj, np.zeros(n, np.int64), 1)
        assert out.transitions.shape == (2 * n,)


def _clean(names) -> bool:
    return all(re.fullmatch(r"[A-Za-z][A-Za-z:_]*", x) for x in names)


def exercise_parser(p, beam: bool) -> None:
    out = _harness.input_path(".out.npz")
    try:
        parses = p.predict(_SENTENCES, beam_width=2 if beam else 1, k_best=2 if beam else 1)
    except ACCEPTED:   # no labels, tag columns without values, NaN weights
        parses = None
    if parses is not None:
        for s, item in zip(_SENTENCES, parses):
            assert 1 <= len(item) <= (2 if beam else 1)
            for r in item:
                _tree(r.head, len(s.form))
                assert ((r.label >= 0) & (r.label < len(p.labels))).all()
        if _clean(p.labels):
            back = read_conllu(p.to_conllu(_SENTENCES, parses))
            assert [b.head.tolist() for b in back] == [q[0].head.tolist() for q in parses]
    p.save(out)
    q = type(p).load(out)
    assert q.labels == p.labels and q.vocab == p.vocab, "vocabularies changed in save/load"
    assert list(q.params) == list(p.params)
    for k, v in p.params.items():
        assert np.array_equal(q.params[k], v, equal_nan=True), f"{k} changed in save/load"


def exercise_tagger(t) -> None:
    try:
        tags = t.predict(_SENTENCES)
    except ACCEPTED:   # a column without tags, NaN weights
        tags = None
    if tags is not None:
        assert list(tags) == list(t.columns)
        for c in t.columns:
            assert [len(x) for x in tags[c]] == [len(s.form) for s in _SENTENCES]
            assert all(v in t.vocab[c] for x in tags[c] for v in x)
    out = _harness.input_path(".out.npz")
    t.save(out)
    u = type(t).load(out)
    assert u.vocab == t.vocab, "vocabularies changed in save/load"
    for k, v in t.params.items():
        assert np.array_equal(u.params[k], v, equal_nan=True), f"{k} changed in save/load"


def _known_load_bug(err) -> bool:
    return any(isinstance(err, cls) and re.search(msg, str(err))
               for cls, msg in KNOWN_LOAD_BUGS)


def load_model(mode: int, body: bytes) -> None:
    tagger = bool(mode & 4)
    cls = parsing.Tagger if tagger else parsing.Parser
    if not body.startswith(b"PK"):
        body = _harness.members_to_zip(body, TAGGER_MEMBERS if tagger else PARSER_MEMBERS)
    path = _harness.write_input(body, ".npz")
    try:
        model = cls.load(path)
    except ACCEPTED_LOAD:
        return
    except Exception as err:  # noqa: BLE001 - only the listed known bugs pass
        if _known_load_bug(err):
            return
        raise
    if tagger:
        exercise_tagger(model)
    else:
        exercise_parser(model, bool(mode & 8))


def TestOneInput(data: bytes) -> None:
    if not data:
        return
    mode, body = data[0], data[1:]
    how = mode & 3
    if how == 3:
        load_model(mode, body)
        return
    if how == 2:
        try:
            source = body.decode("utf-8")
        except UnicodeDecodeError:
            how = 0
        else:
            if "\n" not in source:   # a str without a newline is a path
                source += "\n"
    if how == 0:
        source = _harness.write_input(body, ".conllu")
    elif how == 1:
        source = io.BytesIO(body)
    try:
        sentences = read_conllu(source, name="fuzz")
    except ACCEPTED:
        return
    check_sentences(sentences)


if __name__ == "__main__":
    _harness.main(TestOneInput)
