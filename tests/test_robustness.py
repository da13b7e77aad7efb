"""Regression tests for inputs that used to crash, hang or silently misbehave (the hostile
probe of the reliability issue). Crash reproducers run in a subprocess, so that a crash
fails the test instead of killing pytest."""
import subprocess
import sys

import numpy as np
import pytest

import seqcore

from conftest import not_sanitized


def _run(code, timeout=120):
    return subprocess.run([sys.executable, "-c", "import numpy as np, seqcore\n" + code],
                          capture_output=True, text=True, timeout=timeout)


def _train_outcome(code):
    """Runs `code` (which trains a model `m` or raises) in a subprocess; returns what ended it:
    'clean: <FloatingPointError message>', or 'finite' / 'non-finite' (the trained vectors)."""
    body = "\n".join("    " + line for line in code.strip().splitlines())
    r = _run("try:\n" + body + "\n"
             "    print('finite' if np.isfinite(m.wv.vectors).all() else 'non-finite')\n"
             "except FloatingPointError as e:\n"
             "    print('clean:', e)\n")
    assert r.returncode == 0, r.stderr   # a crash (SIGSEGV, SIGABRT) fails here
    return r.stdout.strip()


def test_word2vec_nan_vectors_do_not_crash():
    """NaN logits used to index the sigmoid table at INT_MIN (SIGSEGV); now the non-finite
    model is reported as FloatingPointError."""
    out = _train_outcome("s = [['a', 'b', 'c']] * 5\n"
                         "m = seqcore.Word2Vec(s, min_count=1, sample=0, epochs=1,\n"
                         "                     progress=False)\n"
                         "m.wv.vectors[:] = np.nan\n"
                         "m.train(s, total_examples=len(s), epochs=1)\n")
    assert out.startswith("clean:") and "lower alpha" in out, out


def test_word2vec_divergence_is_a_clean_error():
    """alpha=1e4 used to diverge to NaN and then crash; it must end in a clean error or a
    finite model, never a silent NaN model."""
    out = _train_outcome("m = seqcore.Word2Vec([['a','b','c'],['a','b','c','d']] * 3,\n"
                         "    vector_size=4, window=3, min_count=1, sample=0, epochs=1,\n"
                         "    alpha=1e4, progress=False)\n")
    assert out == "finite" or (out.startswith("clean:") and "alpha=10000" in out), out


@pytest.mark.parametrize("kwargs, name", [
    (dict(negative=2**40), "negative"),
    (dict(sg=1, shared_negatives=True, window=2**40), "window"),
    (dict(workers=2**40), "workers"),
    (dict(vector_size=2**40), "vector_size"),
])
def test_word2vec_huge_sizes_are_value_errors(kwargs, name):
    """They used to throw inside an OpenMP region (std::terminate, SIGABRT)."""
    with pytest.raises(ValueError, match=name):
        seqcore.Word2Vec([["a", "b", "c"]] * 3, min_count=1, epochs=1, progress=False, **kwargs)


def test_word2vec_load_validates_metadata(tmp_path):
    import json
    import zipfile
    m = seqcore.Word2Vec([["a", "b", "c"]] * 5, min_count=1, sample=0, epochs=1,
                         vector_size=4, progress=False)
    good = tmp_path / "m.npz"
    m.save(good)
    with np.load(good) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays["meta"]))
    for key, value in (("negative", 2**62), ("vector_size", -5), ("window", "abc")):
        bad = dict(meta, **{key: value})
        path = tmp_path / f"bad_{key}.npz"
        np.savez(path, **dict(arrays, meta=np.array(json.dumps(bad))))
        with pytest.raises(ValueError, match=key):
            seqcore.Word2Vec.load(path)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[:100])
    with pytest.raises(ValueError, match="not a seqcore Word2Vec file"):
        seqcore.Word2Vec.load(truncated)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"PK\x03\x04" + b"\x00" * 10)
    with pytest.raises(ValueError, match="not a seqcore Word2Vec file"):
        seqcore.Word2Vec.load(garbage)
    assert isinstance(seqcore.Word2Vec.load(good), seqcore.Word2Vec)
    assert zipfile.is_zipfile(good)


@pytest.mark.parametrize("cls", ["LSTM", "GRU", "RNN"])
def test_layer_sizes_are_bounded(cls):
    """num_layers=2**31 used to loop in Python while memory grew."""
    layer = getattr(seqcore, cls)
    with pytest.raises(ValueError, match="num_layers"):
        layer(4, 4, num_layers=2**31)
    with pytest.raises(ValueError, match="hidden_size"):
        layer(4, 2**40)
    with pytest.raises(ValueError, match="parameters"):
        layer(2**24, 2**12, num_layers=4)


def test_sdpa_huge_causal_offset_is_all_keys():
    """causal_offset = 2**63-1 used to overflow (zeros); it means every key is visible."""
    rng = np.random.default_rng(0)
    q = rng.standard_normal((1, 2, 5, 8), dtype=np.float32)
    full = seqcore.scaled_dot_product_attention(q, q, q)
    for off in (2**63 - 1, 10**12, 5):
        out = seqcore.scaled_dot_product_attention(q, q, q, is_causal=True, causal_offset=off)
        np.testing.assert_allclose(out, full, rtol=1e-6, atol=1e-6)
    none = seqcore.scaled_dot_product_attention(q, q, q, is_causal=True,
                                                causal_offset=-(2**63 - 1))
    np.testing.assert_array_equal(none, np.zeros_like(none))   # fully masked rows: zeros


def test_positional_encoding_rejects_non_ints():
    with pytest.raises(TypeError, match="length"):
        seqcore.sinusoidal_positional_encoding("3", 4)
    with pytest.raises(TypeError, match="d_model"):
        seqcore.sinusoidal_positional_encoding(3, 2.9)
    assert seqcore.sinusoidal_positional_encoding(np.int64(3), 4).shape == (3, 4)


def test_beam_widths_are_bounded():
    """beam_width=2**62 threw inside a parallel region; ctc_beam_search with 2**31 grew
    memory until the OOM killer."""
    def step(tokens, state, origin):
        return np.zeros((len(tokens), 3)), state
    with pytest.raises(ValueError, match="beam_width"):
        seqcore.beam_search(step, 1, 0, 1, beam_width=2**62, max_length=5)
    lp = np.log(np.full((4, 1, 3), 1 / 3, np.float32))
    with pytest.raises(ValueError, match="beam_width"):
        seqcore.ctc_beam_search(lp, np.array([4]), beam_width=2**31)
    assert seqcore.ctc_beam_search(lp, np.array([4]), beam_width=4096)


def test_word2vec_format_loader_validation(tmp_path):
    kv = seqcore.KeyedVectors(["a", "b", "c"], np.arange(6, dtype=np.float32).reshape(3, 2))
    text, binary = tmp_path / "v.txt", tmp_path / "v.bin"
    kv.save_word2vec_format(str(text))
    kv.save_word2vec_format(str(binary), binary=True)
    with pytest.raises(ValueError, match="limit"):
        seqcore.KeyedVectors.load_word2vec_format(str(text), limit=-1)
    assert len(seqcore.KeyedVectors.load_word2vec_format(str(text), limit=2).index_to_key) == 2
    assert len(seqcore.KeyedVectors.load_word2vec_format(str(text), limit=0).index_to_key) == 3
    # a header count smaller than the number of lines
    lines = text.read_text().splitlines()
    short = tmp_path / "short.txt"
    short.write_text("\n".join(["2 2"] + lines[1:]) + "\n")
    with pytest.raises(ValueError, match="more lines"):
        seqcore.KeyedVectors.load_word2vec_format(str(short))
    # a binary header declaring far more than the file holds: no huge allocation first
    huge = tmp_path / "huge.bin"
    huge.write_bytes(b"200000 10000\n" + b"x" * 27)
    with pytest.raises(ValueError, match="more than the file"):
        seqcore.KeyedVectors.load_word2vec_format(str(huge), binary=True)
    back = seqcore.KeyedVectors.load_word2vec_format(str(binary), binary=True)
    np.testing.assert_array_equal(back.vectors, kv.vectors)


def test_word2vec_ctrl_c_stops_within_an_epoch():
    """Ctrl-C used to wait for the end of the epoch when progress=False (one C++ call per
    epoch). SIGINT arrives 0.3 s into an epoch that takes several seconds; the kernel polls
    Python's signal handlers every 50 ms, so KeyboardInterrupt must surface well before the
    epoch could end (the 1 s bound leaves room for a loaded machine), and the model must stay
    usable: finite vectors, queries, and further training."""
    r = _run("""
import os, signal, threading, time
rng = np.random.default_rng(0)
s = [[str(w) for w in rng.zipf(1.3, 1000) % 5000] for _ in range(3000)]
m = seqcore.Word2Vec(vector_size=100, window=10, min_count=1, sg=1, negative=15, sample=0,
                     workers=2, progress=False)
m.build_vocab(s)
sent = []
class Interrupt:
    def on_epoch_begin(self, model):
        def fire():
            time.sleep(0.3)
            sent.append(time.perf_counter())
            os.kill(os.getpid(), signal.SIGINT)
        threading.Thread(target=fire).start()
t0 = time.perf_counter()
try:
    m.train(s, total_examples=len(s), epochs=1, callbacks=[Interrupt()])
    print('finished', time.perf_counter() - t0)
except KeyboardInterrupt:
    print('interrupted', time.perf_counter() - sent[0])
assert m.epochs_trained == 0 and np.isfinite(m.wv.vectors).all()
m.wv.most_similar('1', topn=3)
t0 = time.perf_counter()
m.train(s[:300], total_examples=300, epochs=1)
print('epoch', (time.perf_counter() - t0) * 10)
""")
    assert r.returncode == 0, r.stderr
    lines = dict(line.split() for line in r.stdout.split("\n") if line)
    assert "interrupted" in lines, r.stdout   # the epoch ended before the signal: too short
    assert float(lines["interrupted"]) < 1.0, r.stdout
    assert float(lines["epoch"]) > 2.0, r.stdout  # an epoch is long enough to tell


def _offset_view(a, offset):
    """A copy of `a` whose data starts `offset` bytes past a 64-byte boundary: offset 8 is
    aligned for float64 but not to a cache line or SIMD vector, offset 1 is misaligned (a
    legal NumPy view, which the bindings must copy before any kernel loads from it)."""
    buf = np.empty(a.nbytes + 64 + offset, np.uint8)
    start = (-buf.ctypes.data) % 64 + offset
    v = buf[start:start + a.nbytes].view(a.dtype).reshape(a.shape)
    v[...] = a
    assert v.ctypes.data % 64 == offset and v.flags.aligned == (offset % a.itemsize == 0)
    return v


def _float64_calls(rng):
    """(name, fn(inputs) -> outputs, inputs) for the float64 backward passes the reliability
    probe found alignment-dependent (RNN, GRU, MHA, additive attention) and their neighbours."""
    T, N, I, H = 5, 3, 8, 4
    cases = []
    for name, fwd, bwd, G in [("lstm", seqcore.lstm_forward, seqcore.lstm_backward, 4),
                              ("gru", seqcore.gru_forward, seqcore.gru_backward, 3),
                              ("rnn", seqcore.rnn_forward, seqcore.rnn_backward, 1)]:
        def run(x, w_ih, w_hh, b, dy, fwd=fwd, bwd=bwd):
            out = fwd(x, w_ih, w_hh, b, b)
            return (out[0],) + tuple(bwd(out[-1], dy))
        cases.append((name, run, [rng.standard_normal(s) for s in
                                  [(T, N, I), (G * H, I), (G * H, H), (G * H,), (T, N, H)]]))
    L, E = 6, 8

    def mha(x, w_in, b_in, w_out, b_out, dy):
        out = seqcore.multi_head_attention_forward(x, x, x, w_in, b_in, w_out, b_out, 2)
        return (out[0],) + tuple(seqcore.multi_head_attention_backward(out[-1], dy))
    cases.append(("mha", mha, [rng.standard_normal(s) for s in
                               [(L, N, E), (3 * E, E), (3 * E,), (E, E), (E,), (L, N, E)]]))

    def additive(q, k, v, w_q, w_k, v_a, dctx):
        out = seqcore.additive_attention_forward(q, k, v, w_q, w_k, v_a)
        return (out[0],) + tuple(seqcore.additive_attention_backward(out[-1], dctx))
    cases.append(("additive", additive, [rng.standard_normal(s) for s in
                                         [(N, 5), (N, L, 7), (N, L, 7), (4, 5), (4, 7), (4,),
                                          (N, 7)]]))

    def sdpa(q, do):
        out = seqcore.sdpa_forward(q, q, q)
        return (out[0],) + tuple(seqcore.sdpa_backward(out[-1], do))
    cases.append(("sdpa", sdpa, [rng.standard_normal(s) for s in [(2, 2, L, E), (2, 2, L, E)]]))

    def general(q, k, v, w, dctx):
        out = seqcore.general_attention(q, k, v, w)
        return (out[0],) + tuple(seqcore.luong_attention_backward(out[-1], dctx))
    cases.append(("general", general, [rng.standard_normal(s) for s in
                                       [(N, 5), (N, L, 7), (N, L, 9), (7, 5), (N, 9)]]))
    V, D, K = 40, 13, 6
    t, neg = rng.integers(0, V, N), rng.integers(0, V, (N, K))
    tree = seqcore.HuffmanTree(rng.integers(1, 50, V))
    sampler = seqcore.UnigramSampler(rng.integers(1, 50, V), seed=1)
    sampled = rng.integers(0, V, 9)

    def output_layers(h, w, w_inner, b, logits):
        return (seqcore.negative_sampling_loss(h, w, t, neg, reduction="none")
                + seqcore.sampled_softmax_loss(h, w, b, t, sampler, 9, reduction="none",
                                               sampled=sampled)
                + seqcore.hierarchical_softmax_loss(h, w_inner, t, tree, reduction="none")
                + tuple(seqcore.softmax_cross_entropy(logits, t, reduction="none")))
    cases.append(("output_layers", output_layers, [rng.standard_normal(s) for s in
                                                   [(N, D), (V, D), (V - 1, D), (V,), (N, V)]]))

    def ctc(logits):
        lp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
        return seqcore.ctc_loss(lp, np.array([[1, 2, 2], [3, 1, 0], [2, 0, 0]]),
                                np.array([L, L, 4]), np.array([3, 2, 1]), reduction="none")
    cases.append(("ctc", ctc, [rng.standard_normal((L, N, 5))]))
    return cases


def _flat(outputs):
    return [o for o in outputs if o is not None and not isinstance(o, (str, tuple))]


@pytest.mark.parametrize("case", range(9))
def test_float64_bit_identical_for_any_input_and_output_alignment(rng, case):
    """DESIGN.md promises bit-identical results; float64 backward results used to differ in
    the last bit with the 64-byte alignment of the freshly allocated output (Eigen's peeling).
    Inputs at offsets 0, 8 and 1 from a cache line, and outputs at whatever address the
    allocator gives (perturbed between calls), must all give the same bits."""
    name, fn, inputs = _float64_calls(rng)[case]
    ref = [np.asarray(o).tobytes() for o in _flat(fn(*inputs))]
    seen = set()
    for i in range(60):
        junk = np.empty(1 + i % 7)  # shifts the addresses of the next allocations
        got = fn(*[_offset_view(a, (0, 8, 1)[i % 3]) for a in inputs])
        seen.add(tuple(np.asarray(o).tobytes() for o in _flat(got)))
        del junk
    assert seen == {tuple(ref)}, f"{name}: {len(seen)} distinct results"


@not_sanitized  # ASan maps terabytes of shadow memory: no address-space limit can hold it
def test_allocation_failure_inside_a_parallel_region_is_memory_error():
    """A C++ exception leaving an OpenMP region calls std::terminate (SIGABRT). The GloVe
    co-occurrence count grows its per-thread pair lists inside the region; under a 1.5 GB
    address-space limit, 4M tokens over 10^6 words (~80M pairs) cannot fit, and the
    allocation failure must reach Python as MemoryError, with the interpreter intact."""
    r = _run("""
import resource
from seqcore import _core
seqcore.set_num_threads(2)
rng = np.random.default_rng(0)
tokens = rng.integers(0, 1_000_000, 4_000_000).astype(np.int32)
offsets = np.arange(0, 4_000_001, 1000, dtype=np.int64)
resource.setrlimit(resource.RLIMIT_AS, (1_500_000_000, resource.RLIM_INFINITY))
try:
    _core.glove_cooccur(tokens, offsets, 1_000_000, 10)
    print('returned')
except MemoryError:
    print('MemoryError')
print(seqcore.log_softmax(np.zeros((2, 3))).shape)
""")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["MemoryError", "(2,", "3)"], r.stdout


def test_glove_epoch_ctrl_c_stops_within_the_epoch():
    """The GloVe epoch kernel polls Python's signal handlers too: SIGINT 0.2 s into an epoch
    over 4M co-occurrence entries surfaces as KeyboardInterrupt well before the epoch ends."""
    r = _run("""
import os, signal, threading, time
from seqcore import _core
rng = np.random.default_rng(0)
nnz, V, D = 4_000_000, 50_000, 100
row = rng.integers(0, V, nnz).astype(np.int32)
col = rng.integers(0, V, nnz).astype(np.int32)
log_x, weight = rng.random(nnz), rng.random(nnz)
params = (rng.random((2 * V, D + 1)) - 0.5) / D
gradsq = np.ones_like(params)
args = (row, col, log_x, weight, params, gradsq, 0.05, 1, 0, 2)
t0 = time.perf_counter()
_core.glove_epoch(*args)
print('epoch', time.perf_counter() - t0)
sent = []
def fire():
    time.sleep(0.2)
    sent.append(time.perf_counter())
    os.kill(os.getpid(), signal.SIGINT)
threading.Thread(target=fire).start()
try:
    _core.glove_epoch(*args)
    print('finished', 0)
except KeyboardInterrupt:
    print('interrupted', time.perf_counter() - sent[0])
print('finite', int(np.isfinite(params).all()))
""")
    assert r.returncode == 0, r.stderr
    lines = dict(line.split() for line in r.stdout.split("\n") if line)
    assert "interrupted" in lines and lines["finite"] == "1", r.stdout
    assert float(lines["interrupted"]) < 0.5 < float(lines["epoch"]), r.stdout


def _kernel_calls(rng):
    """Eight kernels on fixed float32 inputs, each returning arrays (>= 4 KB in all)."""
    T, N, I, H, C = 6, 4, 16, 32, 12
    x = rng.standard_normal((T, N, I)).astype(np.float32)
    w_ih = rng.standard_normal((4 * H, I)).astype(np.float32) * 0.2
    w_hh = rng.standard_normal((4 * H, H)).astype(np.float32) * 0.2
    dy = rng.standard_normal((T, N, H)).astype(np.float32)
    q = rng.standard_normal((2, 2, 24, 16)).astype(np.float32)
    logits = rng.standard_normal((T * 5, N, C)).astype(np.float32)
    lp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    targets = rng.integers(1, C, (N, 5))
    h = rng.standard_normal((64, 32)).astype(np.float32)
    w = rng.standard_normal((500, 32)).astype(np.float32)
    t = rng.integers(0, 500, 64)
    neg = rng.integers(0, 500, (64, 5))

    def lstm():
        out = seqcore.lstm_forward(x, w_ih, w_hh)
        return (out[0],) + tuple(seqcore.lstm_backward(out[-1], dy))

    def sdpa():
        out = seqcore.sdpa_forward(q, q, q, is_causal=True)
        return (out[0],) + tuple(seqcore.sdpa_backward(out[-1], q))
    return {
        "lstm": lstm,
        "gru": lambda: seqcore.gru_forward(x, w_ih[:3 * H], w_hh[:3 * H])[:2],
        "sdpa": sdpa,
        "ctc": lambda: seqcore.ctc_loss(lp, targets, np.full(N, T * 5), np.full(N, 5),
                                        reduction="none"),
        "cross_entropy": lambda: tuple(seqcore.softmax_cross_entropy(h, t % 32,
                                                                     reduction="none")),
        "negative_sampling": lambda: seqcore.negative_sampling_loss(h, w, t, neg,
                                                                    reduction="none"),
        "log_softmax": lambda: (seqcore.log_softmax(logits),),
        "greedy": lambda: tuple(np.concatenate(p) for p in seqcore.ctc_greedy_decode(
            lp, np.full(N, T * 5))),
    }


def _bits(outputs):
    return tuple(np.asarray(o).tobytes() for o in outputs
                 if o is not None and not isinstance(o, (str, tuple)))


def test_four_threads_calling_kernels_match_serial(rng, restore_num_threads):
    """Kernels release the GIL: four Python threads calling them at once (each kernel also
    running its own OpenMP team) must give exactly the serial results."""
    import concurrent.futures
    seqcore.set_num_threads(2)
    calls = _kernel_calls(rng)
    serial = {name: _bits(fn()) for name, fn in calls.items()}
    jobs = [name for name in calls for _ in range(15)]
    rng.shuffle(jobs)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda name: (name, _bits(calls[name]())), jobs))
    assert len(results) == 120
    for name, bits in results:
        assert bits == serial[name], name


@not_sanitized
def test_memory_is_flat_over_ten_thousand_calls():
    """RSS after 10^4 more calls (8 kernels and 4 error paths) stays within 16 MB of the RSS
    after a 1000-call warm-up. The bound is generous on purpose (malloc arenas and caches of
    two OpenMP threads settle at a few MB), and still tight enough to catch a leaked output:
    each round allocates > 4 KB of outputs, 10^4 / 12 rounds of which would be > 30 MB."""
    r = _run("""
import sys
sys.path.insert(0, %r)
from test_robustness import _kernel_calls
calls = list(_kernel_calls(np.random.default_rng(0)).values())
bad = [lambda: seqcore.log_softmax(np.zeros((2, 3), np.int8)),
       lambda: seqcore.lstm_forward(np.zeros((2, 2, 3), np.float32), np.zeros((8, 4)),
                                    np.zeros((8, 2))),
       lambda: seqcore.ctc_loss(np.zeros((3, 1, 4), np.float32), np.array([[9]]), [3], [1]),
       lambda: seqcore.sdpa_forward(np.zeros((1, 1, 2, 3), np.float32),
                                    np.zeros((1, 1, 2, 4), np.float32),
                                    np.zeros((1, 1, 2, 3), np.float32))]
def rss():
    with open('/proc/self/status') as f:
        return next(int(l.split()[1]) for l in f if l.startswith('VmRSS')) * 1024
def round_(n):
    for i in range(n):
        calls[i %% len(calls)]()
        if i %% 2 == 0:
            try:
                bad[i %% len(bad)]()
                raise SystemExit('a bad call returned')
            except (ValueError, TypeError):
                pass
round_(1000)
before = rss()
round_(10000)
print(rss() - before)
""" % str(__import__("pathlib").Path(__file__).parent))
    assert r.returncode == 0, r.stderr
    assert int(r.stdout) < 16 * 2**20, r.stdout


@pytest.mark.parametrize("call, exc", [
    (lambda kv: kv.most_similar("a", restrict_vocab=True), TypeError),
    (lambda kv: kv.most_similar("a", restrict_vocab="2"), TypeError),
    (lambda kv: kv.most_similar("a", restrict_vocab=1.5), TypeError),
    (lambda kv: kv.most_similar("a", restrict_vocab=float("inf")), TypeError),  # OverflowError
    (lambda kv: kv.most_similar("a", restrict_vocab=-1), ValueError),  # dropped the last key
    (lambda kv: kv.most_similar("a", topn=True), TypeError),            # was topn=1
    (lambda kv: kv.similar_by_vector(np.float32(1)), TypeError),        # was IndexError
    (lambda kv: kv.most_similar(np.float32(1)), TypeError),
    (lambda kv: kv.get_mean_vector(["a", "b"], weights=np.float64(1)), ValueError),  # IndexErr
    (lambda kv: kv.get_mean_vector([np.ones(2, np.float32)]), ValueError),  # wrong width
])
def test_keyedvectors_query_arguments(call, exc):
    """Arguments the property suite found silently converted or failing with IndexError /
    OverflowError; each is now a documented exception naming the argument."""
    kv = seqcore.KeyedVectors(["a", "b", "c"], np.eye(3, dtype=np.float32))
    with pytest.raises(exc):
        call(kv)
    assert kv.most_similar("a", topn=1, restrict_vocab=2)[0][0] == "b"


def test_training_a_new_corpus_does_not_reserve_the_old_ones_size():
    """Vocabulary.encode used to reserve the token and sentence arrays from the counts and
    corpus_count of the scanned corpus, also for another (small) corpus: a model whose counts
    sum to 4e11 could not train on 3 words (std::bad_alloc, MemoryError)."""
    m = seqcore.Word2Vec([["a", "b", "c"]] * 5, vector_size=4, min_count=1, epochs=1,
                         workers=1, progress=False)
    m.vocab.counts[:] = 4 * 10**10
    assert m.train([["a", "b", "c"]], total_examples=1, epochs=1)[1] == 3   # raw words trained
    m.vocab.counts[:] = 5
    m.vocab.corpus_count = 10**11
    assert m.train([["a", "b", "c"]], total_examples=1, epochs=1)[1] == 3


@pytest.mark.parametrize("make", [
    lambda: seqcore.GloVe([["a", "b"]], min_count=1, epochs=2**63, progress=False),
    lambda: seqcore.Word2Vec([["a", "b"]], min_count=1, epochs=2**40, progress=False),
])
def test_huge_epoch_counts_are_value_errors(make):
    """epochs=2**63 used to start 2**63 epochs (the long property profile's hang)."""
    with pytest.raises(ValueError, match="epochs"):
        make()


@pytest.mark.parametrize("make", [
    lambda: seqcore.GloVe([["a", "b"]], min_count=1, seed=float("inf"), progress=False),
    lambda: seqcore.GloVe([["a", "b"]], min_count=1, seed=1.5, progress=False),
    lambda: seqcore.Word2Vec([["a", "b"]], min_count=1, alpha="1.0", progress=False),
])
def test_trainer_arguments_found_by_the_long_profile(make):
    """GloVe(seed=inf) raised OverflowError and seed=1.5 was truncated; Word2Vec(alpha='1.0')
    was converted from the string."""
    with pytest.raises((ValueError, TypeError), match="seed|alpha"):
        make()


def test_sampling_seed_must_be_an_int():
    """greedy_search/sample(seed=True) was taken as seed 1 by NumPy."""
    def step(tokens, state, origin):
        return np.log(np.full((len(tokens), 3), 1 / 3)), state
    with pytest.raises(TypeError, match="^seed: expected an int"):
        seqcore.sample(step, 1, 0, 2, max_length=2, seed=True)
    assert len(seqcore.sample(step, 1, 0, 2, max_length=2, seed=3)) == 1
