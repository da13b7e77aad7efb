"""Train a biLSTM tagger with torch DistributedDataParallel over seqcore.torch modules.

The task is truecasing as sequence labelling (Lita et al. 2003): from lower-cased words, tag
each with the case it had in the text: lower, Capitalised, UPPER or other (digits,
punctuation). Data: the Lee news corpus that ships with gensim's test data
(``lee_background.cor``, 300 documents); the last 10% of the sentences are held out.

Each of ``--world-size`` processes (gloo backend, 127.0.0.1, a free port) trains on its own
shard of every batch; DDP all-reduces the gradients, so the ranks keep identical parameters
(checked at the end). Each rank gets ``cores // world_size`` OpenMP threads for torch and
seqcore: ranks x threads never exceed the cores.

    python examples/ddp_tagger.py --world-size 2 --epochs 3
"""
from __future__ import annotations

import argparse
import os
import socket

import numpy as np
import torch
import torch.distributed as dist

import seqcore
import seqcore.torch as st

TAGS = ("lower", "Capitalised", "UPPER", "other")
PAD = -100   # ignore_index of the loss


def case_tag(word: str) -> int:
    if not any(c.isalpha() for c in word):
        return 3
    if word.islower():
        return 0
    if word.isupper() and len(word) > 1:
        return 2
    return 1 if word[0].isupper() else 3


def load(max_sentences: int | None):
    """(train, test): lists of (word ids, tags) arrays; and the vocabulary size."""
    try:
        from gensim.test.utils import datapath
    except ImportError as err:
        raise SystemExit("needs gensim's test data: pip install gensim") from err
    with open(datapath("lee_background.cor"), encoding="utf8") as f:
        sentences = [line.split() for line in f if line.strip()]
    # the corpus holds one document per line: cut documents into sentences at '.'
    cut = []
    for doc in sentences:
        current = []
        for w in doc:
            current.append(w)
            if w.endswith(".") and len(current) > 3:
                cut.append(current)
                current = []
        if current:
            cut.append(current)
    cut = cut[:max_sentences]
    counts: dict[str, int] = {}
    for s in cut:
        for w in s:
            counts[w.lower()] = counts.get(w.lower(), 0) + 1
    vocab = {w: i + 1 for i, w in enumerate(sorted(k for k, c in counts.items() if c >= 2))}
    data = [(np.array([vocab.get(w.lower(), 0) for w in s]), np.array([case_tag(w) for w in s]))
            for s in cut]
    split = int(0.9 * len(data))
    return data[:split], data[split:], len(vocab) + 1


class Tagger(torch.nn.Module):
    def __init__(self, V: int, E: int, H: int):
        super().__init__()
        self.embed = torch.nn.Embedding(V, E)
        self.lstm = st.LSTM(E, H, num_layers=2, bidirectional=True)
        self.out = torch.nn.Linear(2 * H, len(TAGS))

    def forward(self, words, lengths):
        """words [T, n] (0-padded), lengths [n] -> logits [T, n, tags]."""
        packed = torch.nn.utils.rnn.pack_padded_sequence(self.embed(words), lengths,
                                                         enforce_sorted=False)
        y, _ = self.lstm(packed)
        y, _ = torch.nn.utils.rnn.pad_packed_sequence(y, total_length=words.shape[0])
        return self.out(y)


def batchify(items):
    """Time-major padded tensors: words [T, n], tags [T, n] (PAD past each length), lengths."""
    lengths = torch.tensor([len(w) for w, _ in items])
    T = int(lengths.max())
    words = torch.zeros(T, len(items), dtype=torch.int64)
    tags = torch.full((T, len(items)), PAD, dtype=torch.int64)
    for j, (w, t) in enumerate(items):
        words[:len(w), j] = torch.from_numpy(w)
        tags[:len(t), j] = torch.from_numpy(t)
    return words, tags, lengths


def accuracy(model, data):
    with torch.no_grad():
        words, tags, lengths = batchify(data)
        pred = model(words, lengths).argmax(-1)
        mask = tags != PAD
        return float((pred[mask] == tags[mask]).float().mean())


def worker(rank, args, port):
    threads = max(1, (os.cpu_count() or 1) // args.world_size)
    torch.set_num_threads(threads)
    seqcore.set_num_threads(threads)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=args.world_size)
    try:
        train, test, V = load(args.max_sentences)
        torch.manual_seed(0)   # the same initial weights on every rank
        model = torch.nn.parallel.DistributedDataParallel(Tagger(V, args.embed, args.hidden))
        opt = torch.optim.Adam(model.parameters(), lr=args.lr)
        rng = np.random.default_rng(0)   # the same batch order on every rank
        for epoch in range(args.epochs):
            order = rng.permutation(len(train))
            total, seen = 0.0, 0
            for b in range(0, len(order), args.batch_size):
                idx = order[b:b + args.batch_size]
                mine = idx[rank::args.world_size]   # this rank's shard of the batch
                if len(mine) == 0:
                    continue
                words, tags, lengths = batchify([train[i] for i in mine])
                logits = model(words, lengths)
                loss = st.cross_entropy(logits.reshape(-1, len(TAGS)), tags.reshape(-1),
                                        ignore_index=PAD)
                opt.zero_grad()
                loss.backward()          # DDP all-reduces the gradients here
                opt.step()
                total += loss.item() * len(mine)
                seen += len(mine)
            if rank == 0:
                print(f"epoch {epoch + 1}: train loss {total / seen:.4f}, held-out accuracy "
                      f"{accuracy(model.module, test):.4f}", flush=True)
        # the ranks stepped on all-reduced gradients: their parameters must be identical
        flat = torch.cat([p.detach().reshape(-1) for p in model.module.parameters()])
        gathered = [torch.empty_like(flat) for _ in range(args.world_size)]
        dist.all_gather(gathered, flat)
        if rank == 0:
            same = all(torch.equal(gathered[0], g) for g in gathered[1:])
            majority = float(np.mean(np.concatenate([t for _, t in test]) == 0))
            print(f"parameters identical on all {args.world_size} ranks: {same}; held-out "
                  f"accuracy {accuracy(model.module, test):.4f} (all 'lower': {majority:.4f})",
                  flush=True)
            if not same:
                raise SystemExit(1)
    finally:
        dist.destroy_process_group()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--world-size", type=int, default=2, help="processes (ranks)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=32, help="sentences per step, all ranks")
    ap.add_argument("--embed", type=int, default=32)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--max-sentences", type=int, default=None,
                    help="use only the first sentences (a quick run)")
    args = ap.parse_args()
    if args.world_size < 1:
        ap.error("--world-size: expected >= 1")
    with socket.socket() as s:   # a free port for the rendezvous
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    torch.multiprocessing.spawn(worker, args=(args, port), nprocs=args.world_size)


if __name__ == "__main__":
    main()
