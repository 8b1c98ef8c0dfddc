#!/usr/bin/env python3
"""Which columns torch.topk(x, k, dim=1, largest=False) picks on the CPU when scores tie:
the rule the authors' N:M pruning code uses (locuslab/wanda's magnitude and Wanda,
IST-DASLab/sparsegpt) and lt_nm_keep (core/base/quants_s24.c) reproduces.

    /tmp/venv/bin/python tools/gen_topk_fixtures.py tests/fixtures/topk/ties.txt

PyTorch's CPU topk (aten/src/ATen/native/TopKImpl.h) runs std::nth_element over (score, column)
pairs compared by score when k * 64 > n; libstdc++'s introselect is reproduced below and checked
against torch for every case written. Writes one line per group: "m k | scores | pruned columns
(ascending)": every pattern of 4 scores over 4 values (k = 1, 2, 3), 300 random groups of 8 over 3
values, 150 random groups of 16 over 5 values, and 8 groups of 60 on which introselect runs out of
depth and switches to heap select. Made with torch 2.15 (CPU wheel, libstdc++).
"""
import itertools
import random
import sys

import torch


def lt(a,b): return a[0]<b[0]


def move_median_to_first(q, r, a, b, c):
    if lt(q[a],q[b]):
        if lt(q[b],q[c]): q[r],q[b]=q[b],q[r]
        elif lt(q[a],q[c]): q[r],q[c]=q[c],q[r]
        else: q[r],q[a]=q[a],q[r]
    elif lt(q[a],q[c]): q[r],q[a]=q[a],q[r]
    elif lt(q[b],q[c]): q[r],q[c]=q[c],q[r]
    else: q[r],q[b]=q[b],q[r]


def unguarded_partition(q, first, last, pivot):
    while True:
        while lt(q[first],q[pivot]): first+=1
        last-=1
        while lt(q[pivot],q[last]): last-=1
        if not first<last: return first
        q[first],q[last]=q[last],q[first]; first+=1


def insertion_sort(q, first, last):
    if first==last: return
    for i in range(first+1,last):
        if lt(q[i],q[first]):
            v=q[i]; q[first+1:i+1]=q[first:i]; q[first]=v
        else:
            v=q[i]; l=i; n=l-1
            while lt(v,q[n]): q[l]=q[n]; l=n; n-=1
            q[l]=v


def adjust_heap(q, base, hole, ln, val):
    top=hole; sc=hole
    while sc < (ln-1)//2:
        sc=2*(sc+1)
        if lt(q[base+sc], q[base+sc-1]): sc-=1
        q[base+hole]=q[base+sc]; hole=sc
    if (ln&1)==0 and sc==(ln-2)//2:
        sc=2*(sc+1); q[base+hole]=q[base+sc-1]; hole=sc-1
    parent=(hole-1)//2
    while hole>top and lt(q[base+parent], val):
        q[base+hole]=q[base+parent]; hole=parent; parent=(hole-1)//2
    q[base+hole]=val


def heap_select(q, first, middle, last):
    ln=middle-first
    if ln>=2:
        parent=(ln-2)//2
        while True:
            adjust_heap(q, first, parent, ln, q[first+parent])
            if parent==0: break
            parent-=1
    for i in range(middle,last):
        if lt(q[i],q[first]):
            v=q[i]; q[i]=q[first]; adjust_heap(q, first, 0, ln, v)


def nth_element(q, nth, hits):
    first, last = 0, len(q)
    depth = 2*(len(q).bit_length()-1)
    while last-first>3:
        if depth==0:
            hits[0] += 1
            heap_select(q, first, nth+1, last)
            q[first],q[nth]=q[nth],q[first]
            return
        depth-=1
        mid=first+(last-first)//2
        move_median_to_first(q, first, first+1, mid, last-1)
        cut=unguarded_partition(q, first+1, last, first)
        if cut<=nth: first=cut
        else: last=cut
    insertion_sort(q, first, last)



def emulate(r, k, hits):
    q = [(v, i) for i, v in enumerate(r)]
    nth_element(q, k - 1, hits)
    return sorted(i for _, i in q[:k])


def torch_pruned(r, k):
    return sorted(torch.topk(torch.tensor([r], dtype=torch.float32), k, dim=1, largest=False)[1][0].tolist())


def main(out):
    random.seed(0)
    cases = []
    for k in (1, 2, 3):
        cases += [(4, k, list(r)) for r in itertools.product(range(4), repeat=4)]
    cases += [(8, random.choice((2, 4, 6)), [random.randrange(3) for _ in range(8)]) for _ in range(300)]
    cases += [(16, random.choice((4, 8, 12)), [random.randrange(5) for _ in range(16)]) for _ in range(150)]
    deep = 0
    while deep < 8:  # groups of 60 on which introselect runs out of depth (heap select)
        r, k = [random.randrange(100) for _ in range(60)], random.choice((15, 30))
        hits = [0]
        emulate(r, k, hits)
        if hits[0]:
            cases.append((60, k, r))
            deep += 1
    with open(out, "w") as f:
        for m, k, r in cases:
            p = torch_pruned(r, k)
            assert p == emulate(r, k, [0]), (r, k, p)
            f.write("%d %d | %s | %s\n" % (m, k, " ".join(map(str, r)), " ".join(map(str, p))))


if __name__ == "__main__":
    main(sys.argv[1])
