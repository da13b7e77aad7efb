"""Worker of tests/test_ddp.py: DistributedDataParallel (gloo, processes on 127.0.0.1) over a
model built from every seqcore.torch module; each rank saves what the test compares.

    python tests/ddp_worker.py --world-size 2 --port P --out DIR
"""
import argparse
import os

import numpy as np
import torch
import torch.distributed as dist

import seqcore
from seqcore.torch import LSTM, functional as F

V, C, E, N, T = 30, 6, 16, 8, 7  # vocabulary, tags/labels, width, batch, time


class Net(torch.nn.Module):
    """Embedding -> 2-layer biLSTM tagger (cross-entropy), multi-head self-attention, a CTC
    head and the two word2vec output layers, so one backward reaches all of them."""

    def __init__(self, negative_sampling=True):
        super().__init__()
        counts = np.arange(1, V + 1)[::-1].copy()
        self.embed = torch.nn.Embedding(V, E)
        self.lstm = LSTM(E, E, num_layers=2, bidirectional=True)
        self.tagger = torch.nn.Linear(2 * E, C)
        self.mha = F.MultiheadAttention(2 * E, 4)
        self.ctc_head = torch.nn.Linear(2 * E, C)
        self.hs = F.HierarchicalSoftmax(counts, 2 * E)
        # negative sampling draws its negatives per call, so a batch split over ranks does
        # not draw those of the whole batch: the model without it is the deterministic one
        self.ns = (F.NegativeSamplingLoss(counts, 2 * E, num_negatives=3, seed=5)
                   if negative_sampling else None)
        with torch.no_grad():  # word2vec zero-initialises these; non-zero tests more
            self.hs.weight.normal_(0, 0.1)
            if self.ns is not None:
                self.ns.weight.normal_(0, 0.1)

    def forward(self, tokens, tags, labels):
        """tokens, tags [T, n]; labels [n, 3]: the sum of the heads' mean losses."""
        y, _ = self.lstm(self.embed(tokens))                       # [T, n, 2E]
        loss = F.cross_entropy(self.tagger(y).reshape(-1, C), tags.reshape(-1))
        a, _ = self.mha(y, y, y, need_weights=False)
        loss = loss + (a * a).mean()
        lp = torch.log_softmax(self.ctc_head(y), -1)
        n = tokens.shape[1]
        loss = loss + F.ctc_loss(lp, labels, torch.full((n,), T), torch.full((n,), 3))
        h = y.mean(0)
        loss = loss + self.hs(h, tokens[-1])
        return loss + self.ns(h, tokens[0]) if self.ns is not None else loss


def build(seed=0, negative_sampling=True):
    torch.manual_seed(seed)
    return Net(negative_sampling).double()


def batch(step, seed=1):
    """Batch `step` of N sequences: (tokens, tags [T, N], labels [N, 3]); labels avoid the
    blank (0) and repeats so every utterance is feasible."""
    g = torch.Generator().manual_seed(seed + step)
    tokens = torch.randint(0, V, (T, N), generator=g)
    tags = torch.randint(0, C, (T, N), generator=g)
    labels = torch.stack([torch.randperm(C - 1, generator=g)[:3] + 1 for _ in range(N)])
    return tokens, tags, labels


def shard(b, rank, world):
    """Rank `rank`'s contiguous share of the batch's N sequences."""
    tokens, tags, labels = b
    s = slice(rank * N // world, (rank + 1) * N // world)
    return tokens[:, s], tags[:, s], labels[s]


def grads(model):
    return {k: p.grad.detach().clone() for k, p in model.named_parameters()}


def worker(rank, world, port, out):
    # one core's share per rank: world ranks x threads never exceed the cores
    threads = max(1, (os.cpu_count() or 1) // world)
    torch.set_num_threads(threads)
    seqcore.set_num_threads(threads)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world)
    try:
        model = torch.nn.parallel.DistributedDataParallel(build())
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        # step 1: one synchronised backward
        model(*shard(batch(0), rank, world)).backward()
        g1 = grads(model.module)
        opt.step()
        p1 = {k: p.detach().clone() for k, p in model.module.named_parameters()}
        opt.zero_grad()
        # step 2: accumulate two micro-batches, all-reducing only on the second
        with model.no_sync():
            model(*shard(batch(1), rank, world)).backward()
        model(*shard(batch(2), rank, world)).backward()
        g2 = grads(model.module)
        # the deterministic model, for the comparison with the whole batch in one process
        det = torch.nn.parallel.DistributedDataParallel(build(negative_sampling=False))
        det(*shard(batch(0), rank, world)).backward()
        torch.save({"g1": g1, "p1": p1, "g2": g2, "det": grads(det.module),
                    "threads": threads},
                   os.path.join(out, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--world-size", type=int, default=2)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    torch.multiprocessing.spawn(worker, args=(a.world_size, a.port, a.out),
                                nprocs=a.world_size)


if __name__ == "__main__":
    main()
