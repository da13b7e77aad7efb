"""The UDPipe 1 anchor of the dependency-parser benchmark: UDPipe 1 (``ufal.udpipe``,
Straka & Straková 2017) trained on the same split of the Turkish treebanks as our parser
(:func:`seqcore.datasets.turkish_treebank`), with its documented default tagger and parser
options, and scored by the same code (:func:`seqcore.parsing.attachment_scores`).

* :func:`udpipe_model`: the trained model, cached in the user cache folder (training takes
  ~25 min on 2 cores); trained when missing.
* :func:`udpipe_parse`: tag (or keep the gold tags) and parse sentences, timing UDPipe's
  own ``Pipeline.process`` call (one thread: UDPipe 1 is single-threaded).
* :func:`udpipe_scores`: UPOS accuracy, UAS/LAS with predicted and with gold tags, and the
  speed in tokens/s of parse-only and of tag+parse.

Options (``Trainer.train(UDPIPE_METHOD, train, dev, UDPIPE_TOKENIZER, UDPIPE_TAGGER,
UDPIPE_PARSER)``, UDPipe's "Training UDPipe Models" section of its manual and
``src/trainer/trainer_morphodita_parsito.cpp``)::

    method     "morphodita_parsito"
    tokenizer  "none"           no tokenizer: the input is gold-tokenized CoNLL-U
    tagger     "iterations=5"   the default tagger but 5 perceptron iterations (default 20)
    parser     ""               every parser option at its default

The dev split is UDPipe's heldout data (early stopping of the tagger and the parser).
Defaults that the empty / short option strings select (UDPipe 1.2-1.4):

* tagger: ``models=1`` (one MorphoDiTa averaged-perceptron model that predicts LEMMA,
  UPOS, XPOS and FEATS, using lemmas, XPOS and FEATS), ``order=3`` (third-order HMM
  decoding), ``templates=tagger``, ``early_stopping=1`` with heldout data,
  ``prune_features=0``, a dictionary built from the training data with
  ``dictionary_suffix_len=8``, guesser ``suffix_len=4``, ``suffix_rules=8``,
  ``prefixes_max=4``, ``prefix_min_count=10``, ``enrich_dictionary=6``;
* parser (Parsito, Straka et al. 2015): ``transition_system=projective`` (the arc-standard
  system: shift, left_arc, right_arc; no swap, so non-projective arcs cannot be produced),
  ``transition_oracle=dynamic``, ``single_root=1``, ``structured_interval=8``; embeddings
  ``upostag=20``, ``feats=20``, ``xpostag=0``, ``form=50`` (``mincount=2``, randomly
  initialised, no pretrained vectors), ``lemma=0``, ``deprel=20``; network
  ``hidden_layer=200`` (tanh), ``iterations=10``, ``batch_size=10``, SGD with
  ``learning_rate=0.02`` decaying to ``learning_rate_final=0.001``, ``l2=0.5``,
  ``early_stopping=1`` with heldout data; ``use_gold_tags=0``: the parser is trained on the
  tags its own tagger predicts on the training data.

At parse time ``Pipeline.DEFAULT`` parser options mean ``beam_search=5`` (UDPipe's default
beam of the transition parser); the tagger has no run-time options.

Reference run (the issue's measurement, AMD EPYC, 2 cores, ``ufal.udpipe`` 1.4.0.1): training
~26 min; test with predicted tags UPOS 94.62, UAS 85.05, LAS 77.14; with gold tags UAS
89.31, LAS 84.98; parse only 9,250 tokens/s, tag+parse 3,900 tokens/s (one thread).

Needs ``pip install ufal.udpipe==1.4.0.1`` (the ``bench`` extra). Source: UDPipe 1,
https://ufal.mff.cuni.cz/udpipe/1 (API reference:
https://ufal.mff.cuni.cz/udpipe/1/api-reference).
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np

__all__ = ["UDPIPE_METHOD", "UDPIPE_TOKENIZER", "UDPIPE_TAGGER", "UDPIPE_PARSER",
           "UDPIPE_VERSION", "udpipe_options", "udpipe_model_path", "udpipe_model",
           "udpipe_parse", "udpipe_scores"]

UDPIPE_VERSION = "1.4.0.1"
_INSTALL = f"pip install ufal.udpipe=={UDPIPE_VERSION} (or pip install 'seqcore[bench]')"

#: The training method (the only one UDPipe 1 has).
UDPIPE_METHOD = "morphodita_parsito"
#: No tokenizer: the benchmark feeds gold-tokenized CoNLL-U.
UDPIPE_TOKENIZER = "none"
#: The default tagger (models=1, order=3, templates=tagger, early stopping on the heldout
#: data, dictionary and guesser from the training data) with 5 iterations instead of the
#: default 20, as in the issue's reference run.
UDPIPE_TAGGER = "iterations=5"
#: All parser defaults: transition_system=projective (arc-standard, no swap), oracle dynamic,
#: single_root=1, structured_interval=8; embeddings upostag 20, feats 20, xpostag 0,
#: form 50 (mincount 2, random init), lemma 0, deprel 20; hidden_layer=200 tanh,
#: iterations=10, batch_size=10, SGD learning_rate 0.02 -> 0.001, l2=0.5, early stopping on
#: the heldout data; trained on the tags of its own tagger (use_gold_tags=0).
UDPIPE_PARSER = ""

_TRAIN_MINUTES = "~25 min on 2 cores"


def _udpipe() -> Any:
    try:
        import ufal.udpipe as udpipe  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        raise ImportError(f"the UDPipe anchor needs UDPipe 1's Python bindings: {_INSTALL}"
                          ) from None
    return udpipe


def _version(udpipe: Any) -> str:
    v = getattr(udpipe, "__version__", None)
    if v:
        return str(v)
    c = udpipe.Version.current()
    return f"{c.major}.{c.minor}.{c.patch}" + (f"-{c.prerelease}" if c.prerelease else "")


def udpipe_options() -> Dict[str, str]:
    """The options the anchor trains with, to record next to its scores.

    Returns
    -------
    dict with ``method``, ``tokenizer``, ``tagger``, ``parser`` (the option strings passed
    to ``ufal.udpipe.Trainer.train``) and ``version`` (of ufal.udpipe).

    Raises
    ------
    ImportError : ufal.udpipe is not installed.
    """
    return {"method": UDPIPE_METHOD, "tokenizer": UDPIPE_TOKENIZER, "tagger": UDPIPE_TAGGER,
            "parser": UDPIPE_PARSER, "version": _version(_udpipe())}


def _conllu_text(sentences: Sequence[Any]) -> str:
    return "".join(s.tokens.serialize() for s in sentences)


def _treebank(treebank: Any) -> Any:
    if treebank is None:
        from seqcore.datasets import turkish_treebank
        treebank = turkish_treebank()
    return treebank


def _key(train_dev_text: str) -> str:
    data_sha = hashlib.sha256(train_dev_text.encode("utf-8")).hexdigest()
    opts = udpipe_options()
    what = [opts["method"], opts["tokenizer"], opts["tagger"], opts["parser"],
            opts["version"], data_sha]
    return hashlib.sha256(json.dumps(what).encode("utf-8")).hexdigest()[:16]


def _train_dev_texts(treebank: Any) -> Tuple[str, str]:
    return _conllu_text(treebank.train), _conllu_text(treebank.dev)


def udpipe_model_path(treebank: Any = None) -> Path:
    """Where :func:`udpipe_model` caches the model for ``treebank`` and the current options:
    ``cache_dir()/"udpipe"/"turkish-{key}.udpipe"``, ``key`` the first 16 hex digits of a
    sha256 over the option strings, the ufal.udpipe version and the sha256 of the train and
    dev CoNLL-U text.

    Parameters
    ----------
    treebank : a :class:`seqcore.datasets.Treebank`; None reads
        :func:`seqcore.datasets.turkish_treebank`.

    Returns
    -------
    pathlib.Path (the file need not exist).

    Raises
    ------
    ImportError : ufal.udpipe is not installed.
    """
    train, dev = _train_dev_texts(_treebank(treebank))
    return _path(train + dev)


def _path(train_dev_text: str) -> Path:
    from seqcore.datasets import cache_dir
    return cache_dir() / "udpipe" / f"turkish-{_key(train_dev_text)}.udpipe"


def _sentences(udpipe: Any, text: str, name: str) -> Any:
    """CoNLL-U text -> ufal.udpipe.Sentences."""
    reader = udpipe.InputFormat.newConlluInputFormat()
    reader.setText(text)
    out = udpipe.Sentences()
    err = udpipe.ProcessingError()
    s = udpipe.Sentence()
    while reader.nextSentence(s, err):
        out.push_back(s)
        s = udpipe.Sentence()
    if err.occurred():
        raise RuntimeError(f"UDPipe cannot read the {name} CoNLL-U: {err.message}")
    return out


def _load(udpipe: Any, path: Path) -> Any:
    model = udpipe.Model.load(str(path))
    if model is None:
        raise RuntimeError(f"UDPipe cannot load the model {path} (delete it to retrain)")
    return model


def udpipe_model(treebank: Any = None, progress: bool = True) -> Any:
    """The UDPipe 1 model trained on ``treebank``'s train split (dev as heldout data) with
    :data:`UDPIPE_METHOD`, :data:`UDPIPE_TOKENIZER`, :data:`UDPIPE_TAGGER` and
    :data:`UDPIPE_PARSER`, loaded from the cache or trained and cached.

    Cached at :func:`udpipe_model_path` (``cache_dir()/"udpipe"/"turkish-{key}.udpipe"``,
    the key covering the options, the ufal.udpipe version and the data), written atomically
    (a temporary file, then ``os.replace``). Training takes ~25 min on 2 cores for the
    Turkish treebanks (3,880 training sentences) and prints UDPipe's own log to stderr.

    Parameters
    ----------
    treebank : a :class:`seqcore.datasets.Treebank` (``train`` and ``dev`` lists of
        :class:`seqcore.datasets.Sentence`); None reads
        :func:`seqcore.datasets.turkish_treebank`.
    progress : print a line to stderr when the model has to be trained.

    Returns
    -------
    ufal.udpipe.Model, loaded.

    Raises
    ------
    ImportError : ufal.udpipe is not installed (``pip install ufal.udpipe==1.4.0.1``).
    RuntimeError : UDPipe fails to train (with UDPipe's error message) or to load the model.
    """
    udpipe = _udpipe()
    train, dev = _train_dev_texts(_treebank(treebank))
    path = _path(train + dev)
    if path.exists():
        return _load(udpipe, path)
    if progress:
        print(f"udpipe_model: training UDPipe 1 ({UDPIPE_METHOD}, tagger {UDPIPE_TAGGER!r}, "
              f"parser {UDPIPE_PARSER!r}; takes {_TRAIN_MINUTES}) into {path}",
              file=sys.stderr, flush=True)
    err = udpipe.ProcessingError()
    data = udpipe.Trainer.train(UDPIPE_METHOD, _sentences(udpipe, train, "train"),
                                _sentences(udpipe, dev, "dev"), UDPIPE_TOKENIZER,
                                UDPIPE_TAGGER, UDPIPE_PARSER, err)
    if err.occurred() or not data:
        raise RuntimeError(f"UDPipe training failed: {err.message or 'no model returned'}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return _load(udpipe, path)


def _input_text(sentences: Sequence[Any]) -> str:
    """CoNLL-U of the sentences with every gold column but HEAD, DEPREL and DEPS (``_``)."""
    lines = []
    for line in _conllu_text(sentences).split("\n"):
        if line and not line.startswith("#"):
            cols = line.split("\t")
            if len(cols) == 10:
                cols[6] = cols[7] = cols[8] = "_"
                line = "\t".join(cols)
        lines.append(line)
    return "\n".join(lines)


def udpipe_pipeline(model: Any, tag: bool) -> Any:
    """``ufal.udpipe.Pipeline(model, "conllu", tagger, Pipeline.DEFAULT, "conllu")``: CoNLL-U
    in and out, the model's tagger on (``tag``) or off (the parser reads the input's tags).
    The pipeline keeps a raw pointer to ``model``: keep the model alive while using it (UDPipe
    crashes otherwise)."""
    udpipe = _udpipe()
    tagger = udpipe.Pipeline.DEFAULT if tag else udpipe.Pipeline.NONE
    return udpipe.Pipeline(model, "conllu", tagger, udpipe.Pipeline.DEFAULT, "conllu")


def udpipe_process(pipeline: Any, text: str) -> str:
    """The pipeline's CoNLL-U output for ``text``; RuntimeError with UDPipe's message."""
    udpipe = _udpipe()
    err = udpipe.ProcessingError()
    out = pipeline.process(text, err)
    if err.occurred():
        raise RuntimeError(f"UDPipe failed: {err.message}")
    return out


def udpipe_parse(model: Any, sentences: Sequence[Any], *, tag: bool = True
                 ) -> Tuple[List[Tuple[List[str], np.ndarray, List[str]]], float]:
    """Tag (``tag=True``) or keep the gold tags (``tag=False``) and parse ``sentences``
    with a UDPipe 1 model.

    The input is the sentences' CoNLL-U (gold tokenization and forms; LEMMA, UPOS, XPOS,
    FEATS and MISC as in the treebank; HEAD, DEPREL and DEPS replaced by ``_`` so nothing
    gold reaches the output), run through ``ufal.udpipe.Pipeline(model, "conllu", tagger,
    Pipeline.DEFAULT, "conllu")`` with ``tagger`` ``Pipeline.DEFAULT`` (the model's tagger
    overwrites LEMMA, UPOS, XPOS and FEATS) or ``Pipeline.NONE`` (the parser reads the gold
    tags). The output is read with :func:`seqcore.datasets.read_conllu`.

    Parameters
    ----------
    model : ufal.udpipe.Model, e.g. from :func:`udpipe_model`.
    sentences : sequence of :class:`seqcore.datasets.Sentence` (with ``tokens``).
    tag : run the model's tagger first (True) or parse the gold tags (False).

    Returns
    -------
    (predictions, seconds): ``predictions`` has one ``(upos, head, deprel)`` per sentence,
    ``upos`` and ``deprel`` lists of n str, ``head [n]`` int64 (0 = root, else 1-based);
    ``seconds`` is the wall time (``time.perf_counter``) of the one ``Pipeline.process`` call
    over all the sentences, one thread.

    Raises
    ------
    ImportError : ufal.udpipe is not installed.
    RuntimeError : UDPipe reports an error, or its output does not have the input's
        sentences and words.
    """
    from seqcore.datasets import read_conllu
    sentences = list(sentences)
    if not sentences:
        _udpipe()
        return [], 0.0
    pipeline = udpipe_pipeline(model, tag)
    text = _input_text(sentences)
    t0 = time.perf_counter()
    out = udpipe_process(pipeline, text)
    seconds = time.perf_counter() - t0
    parsed = read_conllu(out, name="UDPipe output") if out.strip() else []
    if len(parsed) != len(sentences):
        raise RuntimeError(f"UDPipe returned {len(parsed)} sentences for {len(sentences)}")
    preds = []
    for i, (gold, p) in enumerate(zip(sentences, parsed)):
        if p.form != list(gold.form):
            raise RuntimeError(f"UDPipe output sentence {i} has {len(p.form)} words "
                               f"{p.form[:5]}..., the input {len(gold.form)}")
        preds.append((p.upos, p.head, p.deprel))
    return preds, seconds


def udpipe_scores(model: Any, sentences: Sequence[Any]) -> Dict[str, float]:
    """Score a UDPipe 1 model on ``sentences`` as the benchmark scores our parser
    (:func:`seqcore.parsing.attachment_scores`, punctuation included), tagging and parsing
    once with the model's tagger and once with the gold tags (:func:`udpipe_parse`).

    Parameters
    ----------
    model : ufal.udpipe.Model, e.g. from :func:`udpipe_model`.
    sentences : sequence of :class:`seqcore.datasets.Sentence`.

    Returns
    -------
    dict: ``upos`` (UPOS accuracy of the tagger, %), ``uas``, ``las`` (%, predicted
    tags), ``uas_gold_tags``, ``las_gold_tags`` (%, gold UPOS/XPOS/FEATS),
    ``tokens_per_s_parse`` (parse only, gold tags) and ``tokens_per_s_tag_parse`` (tag and
    parse), one thread, timing UDPipe's ``process`` call; ``seconds_parse``,
    ``seconds_tag_parse``; ``words`` and ``sentences`` (int counts).

    Raises
    ------
    ImportError : ufal.udpipe is not installed.
    RuntimeError : UDPipe fails (see :func:`udpipe_parse`).
    ValueError : ``sentences`` is empty.
    """
    from seqcore.parsing import attachment_scores
    sentences = list(sentences)
    if not sentences:
        raise ValueError("sentences: no sentences to score")
    gold_heads = [s.head for s in sentences]
    gold_labels = [list(s.deprel) for s in sentences]
    tagged, t_tag = udpipe_parse(model, sentences, tag=True)
    gold_tags, t_parse = udpipe_parse(model, sentences, tag=False)
    pred = attachment_scores(gold_heads, gold_labels, [p[1] for p in tagged],
                             [p[2] for p in tagged])
    gold = attachment_scores(gold_heads, gold_labels, [p[1] for p in gold_tags],
                             [p[2] for p in gold_tags])
    words = pred.words
    upos_ok = sum(int(np.sum(np.asarray(p[0]) == np.asarray(s.upos)))
                  for p, s in zip(tagged, sentences))
    return {"upos": 100.0 * upos_ok / words, "uas": pred.uas, "las": pred.las,
            "uas_gold_tags": gold.uas, "las_gold_tags": gold.las,
            "tokens_per_s_parse": words / t_parse, "tokens_per_s_tag_parse": words / t_tag,
            "seconds_parse": t_parse, "seconds_tag_parse": t_tag,
            "words": words, "sentences": len(sentences)}
