"""Connected components of an edge list: one union-find for every step that groups records
(near-dedup clusters, semantic-dedup components, the split's relatedness graph)."""
from __future__ import annotations

import numpy as np


def union_find_clusters(n: int, pairs: np.ndarray) -> np.ndarray:
    """Representative of every element: the smallest index of its component.

    Vectorised union-find: every round hooks the larger root of each edge
    under the smaller one and compresses paths by pointer jumping, until no
    edge joins two roots. Roots only ever decrease, so it terminates, and at
    the end each root is the minimum of its component.
    """
    parent = np.arange(n, dtype=np.int64)
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if len(pairs) == 0:
        return parent
    u, v = pairs[:, 0], pairs[:, 1]
    while True:
        ru, rv = parent[u], parent[v]
        diff = ru != rv
        if not diff.any():
            return parent
        u, v, ru, rv = u[diff], v[diff], ru[diff], rv[diff]
        lo, hi = np.minimum(ru, rv), np.maximum(ru, rv)
        np.minimum.at(parent, hi, lo)
        while True:
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand
