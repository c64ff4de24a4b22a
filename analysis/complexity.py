"""Lempel-Ziv (LZ76) complexity of binary sequences and binary matrices.

The phrase count follows the parsing of Lempel & Ziv (1976) in the form given
by Kaspar & Schuster (1987): a sequence s of length n is cut, left to right,
into phrases; each new phrase is the shortest word starting at its position l
that does *not* occur in s starting at an earlier position i < l (earlier
occurrences may overlap the phrase itself); the last phrase may be a copy.
The complexity c(n) is the number of phrases.

References
----------
Lempel A, Ziv J (1976). On the complexity of finite sequences. IEEE Trans Inf
Theory 22:75-81. doi:10.1109/TIT.1976.1055501
Kaspar F, Schuster HG (1987). Easily calculable measure for the complexity of
spatiotemporal patterns. Phys Rev A 36:842-848. doi:10.1103/PhysRevA.36.842
Casali AG et al. (2013). A theoretically based index of consciousness
independent of sensory processing and behavior. Sci Transl Med 5:198ra105.
doi:10.1126/scitranslmed.3006294

Implementation notes
--------------------
Two exact counters give the same c(n); ``_phrase_count`` picks one per input:

* ``_phrase_count_numpy`` (the reference): a suffix array of the run-length
  representation of the rarer symbol (see ``_PhraseParser``); its cost grows
  with the number K of rarer symbols, not with n.
* ``_phrase_count_compiled``: a numba-compiled suffix automaton of the whole
  sequence, O(n) time and memory whatever the input (see
  ``_suffix_automaton_phrase_count``).

The compiled one is used when the rarer symbol fills at least
``_NUMPY_BELOW_DENSITY`` (1 %) of the sequence, the numpy one below that and
for sequences too long for the automaton's int32 arrays (n >= 2**30).
Measured with ``benchmarks/lz_counter.py`` on 1000 x 500 matrices (500 000
bits, random unless stated), medians over three runs on a shared 2-core
machine whose speed varied by about 30 %:

==================  ==========  =============  =====================
input               numpy (ms)  compiled (ms)  Kaspar-Schuster (ms)
==================  ==========  =============  =====================
density 0.001                3             16                 18 000
density 0.005               13             24                 19 000
density 0.01                25             25                 18 000
density 0.02                48             29                 17 000
density 0.2                410             50                 31 000
density 0.5                790             60                 54 000
periodic, 0.3              500              8                     13
half repeated, 0.5        1000             22                 15 000
==================  ==========  =============  =====================

The last column is the classic Kaspar & Schuster (1987) loop, compiled with
numba: for every phrase it searches all earlier starts from position 0, so it
costs about n c(n) steps (more inside long runs) and is fast only when c(n)
is tiny (the periodic matrix).  It is not used; the benchmark keeps it for
comparison (``--kaspar-schuster``).  The first call in a process also pays
about 1 s to import numba and load the compiled counter from its cache.
"""
from bisect import bisect_left

import numpy as np

__all__ = ["lempel_ziv"]

_NORMALIZE_CHOICES = "False, True or 'entropy'"
_PYTHON_SCAN = 24  # suffix-array neighbours checked in Python before numpy chunks
# below this fraction of rarer symbols the suffix-array counter is faster than the
# compiled automaton (measured crossover 1-1.5 %, see the module docstring)
_NUMPY_BELOW_DENSITY = 0.01
_AUTOMATON_MAX_N = 2**30 - 1  # the automaton has < 2n states, indexed by int32


def lempel_ziv(x, normalize=False):
    r"""Lempel-Ziv (LZ76) complexity of a binary sequence or matrix.

    The sequence is parsed into phrases as in Kaspar & Schuster (1987): each
    phrase is the shortest word that did not start at an earlier position
    (earlier copies may overlap the phrase); c(n) counts the phrases.

    Normalisations, for n symbols of which a fraction :math:`p_1` are ones:

    .. math::

        c_{\mathrm{norm}} = \frac{c(n)\,\log_2 n}{n}, \qquad
        c_{\mathrm{entropy}} = \frac{c(n)\,\log_2 n}{n\,H(p_1)}, \qquad
        H(p) = -p\log_2 p - (1-p)\log_2(1-p).

    ``c_norm`` tends to 1 for an unbiased random sequence; ``c_entropy``
    (Casali et al. 2013, the normalisation of the perturbational complexity
    index) tends to 1 for a random sequence of any density, which makes it
    the one to use for sparse spike matrices.

    Parameters
    ----------
    x : array_like of bool or int, 1-D or 2-D
        Binary values (0/1 only).  A 2-D input is a (neurons, time_bins)
        matrix and is read **time-major**, column by column: all neurons at
        bin 0, then all neurons at bin 1, and so on, i.e. the sequence is
        ``np.asarray(x).T.ravel()``.  This follows Casali et al. (2013), who
        concatenate the sources at each time sample.
    normalize : {False, True, 'entropy'}, default False
        False: the phrase count c(n) as an int.  True: ``c*log2(n)/n``.
        'entropy': ``c*log2(n)/(n*H(p1))``; when H(p1) == 0 (all zeros or
        all ones) this returns 0.0.

    Returns
    -------
    int or float
        c(n) when ``normalize`` is False, otherwise a float.

    Raises
    ------
    ValueError
        If ``x`` is empty, not 1-D or 2-D, or holds values other than 0 and
        1, or ``normalize`` is not one of the choices above.

    References
    ----------
    Kaspar F, Schuster HG (1987). Phys Rev A 36:842.
    doi:10.1103/PhysRevA.36.842
    Casali AG et al. (2013). Sci Transl Med 5:198ra105.
    doi:10.1126/scitranslmed.3006294

    Examples
    --------
    Kaspar & Schuster's example parses as 0 | 001 | 10 | 100 | 1000 | 101:

    >>> lempel_ziv([int(ch) for ch in "0001101001000101"])
    6
    >>> lempel_ziv([0] * 100)
    2
    >>> round(lempel_ziv([0, 1] * 8, normalize=True), 3)
    0.75

    A 2-D matrix is read column by column (time-major):

    >>> lempel_ziv([[0, 0, 1], [0, 1, 0]]) == lempel_ziv([0, 0, 0, 1, 1, 0])
    True
    """
    mode = _check_normalize(normalize)
    bits = _as_binary_sequence(x)
    c = _phrase_count(bits)
    if mode == "count":
        return int(c)
    return _normalized(c, bits)["entropy" if mode == "entropy" else "plain"]


def lempel_ziv_all(x) -> dict:
    """All three forms of :func:`lempel_ziv` from one parsing (the parsing is the cost).

    Returns ``{"count": c(n), "plain": c log2(n)/n, "entropy": c log2(n)/(n H(p1))}``.

    >>> lempel_ziv_all([0, 1] * 8)["count"] == lempel_ziv([0, 1] * 8)
    True
    """
    bits = _as_binary_sequence(x)
    c = _phrase_count(bits)
    return {"count": int(c), **_normalized(c, bits)}


def _normalized(c, bits) -> dict:
    n = bits.size
    plain = c * np.log2(n) / n
    p1 = np.count_nonzero(bits) / n
    if p1 == 0.0 or p1 == 1.0:
        return {"plain": float(plain), "entropy": 0.0}
    entropy = -p1 * np.log2(p1) - (1.0 - p1) * np.log2(1.0 - p1)
    return {"plain": float(plain), "entropy": float(plain / entropy)}


# ----------------------------------------------------------------------------- validation
def _check_normalize(normalize):
    if isinstance(normalize, str):
        if normalize == "entropy":
            return "entropy"
    elif isinstance(normalize, (bool, np.bool_)):
        return "plain" if normalize else "count"
    raise ValueError(f"normalize must be {_NORMALIZE_CHOICES}, got {normalize!r}")


def _as_binary_sequence(x):
    """Validate ``x`` and return it as a 1-D bool array (time-major if 2-D)."""
    arr = np.asarray(x)
    if arr.ndim not in (1, 2):
        raise ValueError(f"x must be 1-D or 2-D (neurons, time_bins), "
                         f"got {arr.ndim}-D with shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"x must not be empty, got shape {arr.shape}")
    if arr.dtype != bool:
        if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
            raise ValueError(f"x must hold binary values 0/1, got dtype {arr.dtype}")
        bad = (arr != 0) & (arr != 1)
        if bad.any():
            shown = np.unique(arr[bad])[:5].tolist()
            raise ValueError(f"x must hold only 0 and 1, got other values such as {shown}")
        arr = arr != 0
    if arr.ndim == 2:
        arr = arr.T  # (neurons, bins) -> read bin by bin
    return np.ascontiguousarray(arr).ravel()


# ----------------------------------------------------------------------------- phrase count
def _phrase_count(bits):
    """Kaspar-Schuster phrase count of a 1-D bool array, by the faster exact counter.

    The suffix-array counter when the rarer symbol is below
    ``_NUMPY_BELOW_DENSITY`` of the sequence (its cost grows with their
    number), the compiled suffix automaton otherwise (its cost grows with n).
    """
    n = bits.size
    ones = np.count_nonzero(bits)
    rare = min(ones, n - ones)
    if rare < _NUMPY_BELOW_DENSITY * n or n > _AUTOMATON_MAX_N:
        return _phrase_count_numpy(bits)
    return _phrase_count_compiled(bits)


def _phrase_count_compiled(bits):
    """Kaspar-Schuster phrase count of a 1-D bool array, by the compiled automaton.

    The first call in a process imports numba and compiles the kernel
    (about 2 s) or loads it from numba's cache beside this module (about
    1 s with the import).
    """
    if bits.size > _AUTOMATON_MAX_N:
        raise ValueError(f"sequence too long for the compiled counter: {bits.size} "
                         f"symbols, at most {_AUTOMATON_MAX_N}")
    symbols = np.ascontiguousarray(bits).view(np.uint8)
    # one block from numpy, not four arrays allocated inside the kernel: faulting in
    # fresh pages cost 13 ms for n = 500 000, most of the count; numpy advises huge
    # pages for large blocks, and the C allocator reuses a freed block this size
    workspace = np.empty(5 * _automaton_states(bits.size), dtype=np.int32)
    return int(_compiled(_suffix_automaton_phrase_count)(symbols, workspace))


def _automaton_states(n):
    """Room for the states of the suffix automaton of n symbols (2n - 1 at most, 2 for n = 1)."""
    return 2 * n


def _phrase_count_numpy(bits):
    """Kaspar-Schuster phrase count of a 1-D bool array, from a suffix array.

    The reference counter (numpy and Python only), exact, with a cost that
    grows with the number of rarer symbols; see ``_PhraseParser``.
    """
    n = bits.size
    if n == 0:
        return 0
    ones = np.count_nonzero(bits)
    if 2 * ones > n:
        bits = ~bits  # relabelling the symbols leaves the parsing unchanged
    marks = np.flatnonzero(bits)
    if marks.size == 0:
        return 1 if n == 1 else 2  # "0" then the rest, a copy of the start
    return _PhraseParser(marks, n).count()


_COMPILED = {}  # kernel name -> numba dispatcher, filled on first use


def _compiled(kernel):
    """The numba-compiled version of ``kernel`` (imported and compiled on first use).

    numba is imported here, not at module import, so that importing this
    module stays cheap; ``cache=True`` stores the machine code in
    ``__pycache__`` beside this file.
    """
    dispatcher = _COMPILED.get(kernel.__name__)
    if dispatcher is None:
        import numba

        dispatcher = _COMPILED[kernel.__name__] = numba.njit(cache=True)(kernel)
    return dispatcher


def _suffix_automaton_phrase_count(s, workspace):
    """Kaspar-Schuster phrase count of a uint8 0/1 array, O(n) (numba kernel).

    The phrase starting at l is one symbol longer than the longest word
    s[l:l+k] that also starts at an earlier position i < l.  The suffix
    automaton of the whole of s (Blumer et al. 1985) has a state for each
    class of words with the same set of end positions; ``first[q]`` is the
    smallest end position of the words of state q.  Reading s[l:l+k+1] from
    the initial state reaches its state q, and the word occurs starting
    before l iff its first occurrence does: ``first[q] - k < l``.  Longer
    words can only start later, so the walk stops at the first failure.
    Building the automaton is amortised O(1) per symbol for a fixed alphabet
    and the walks read each symbol once, so the whole count is O(n).

    ``workspace`` is an int32 array of at least ``5 * _automaton_states(n)``
    entries, overwritten.  Written in the subset of Python that numba
    compiles; call it through ``_compiled``.  Plain Python runs it too
    (slowly), which tests use.

    Reference: Blumer A, Blumer J, Haussler D, Ehrenfeucht A, Chen MT,
    Seiferas J (1985). The smallest automaton recognizing the subwords of a
    text. Theor Comput Sci 40:31-55. doi:10.1016/0304-3975(85)90157-4
    """
    n = s.size
    if n == 0:
        return 0
    states = workspace.size // 5
    trans = workspace[:2 * states]                 # trans[2q + a]: target on symbol a, -1 none
    link = workspace[2 * states:3 * states]        # suffix link
    length = workspace[3 * states:4 * states]      # longest word of the state
    first = workspace[4 * states:5 * states]       # first end position of its words
    trans[0] = -1
    trans[1] = -1
    link[0] = -1
    length[0] = 0
    first[0] = -1
    size = 1
    last = 0
    for pos in range(n):  # extend the automaton by s[pos] (the standard online step)
        a = s[pos]
        cur = size
        size += 1
        trans[2 * cur] = -1
        trans[2 * cur + 1] = -1
        length[cur] = length[last] + 1
        first[cur] = pos
        p = last
        while p != -1 and trans[2 * p + a] == -1:
            trans[2 * p + a] = cur
            p = link[p]
        if p == -1:
            link[cur] = 0
        else:
            q = trans[2 * p + a]
            if length[p] + 1 == length[q]:
                link[cur] = q
            else:  # split q: the clone keeps the shorter words, and q's first end
                clone = size
                size += 1
                trans[2 * clone] = trans[2 * q]
                trans[2 * clone + 1] = trans[2 * q + 1]
                length[clone] = length[p] + 1
                link[clone] = link[q]
                first[clone] = first[q]
                while p != -1 and trans[2 * p + a] == q:
                    trans[2 * p + a] = clone
                    p = link[p]
                link[q] = clone
                link[cur] = clone
        last = cur
    phrases = 0
    start = 0
    while start < n:  # parse: longest earlier-starting word, plus one symbol
        phrases += 1
        state = 0
        k = 0
        while start + k < n:
            nxt = trans[2 * state + s[start + k]]
            if nxt == -1 or first[nxt] - k >= start:
                break
            state = nxt
            k += 1
        start += k + 1
    return phrases


class _PhraseParser:
    r"""Longest previous factors of a sparse binary string, from its run lengths.

    Let the string s (length n) have its marks (ones) at p_0 < ... < p_{K-1},
    and put a virtual mark p_K = n.  A phrase starts at l; b is the first mark
    at or after l and d = p_b - l the number of zeros before it.  The phrase
    is LPF(l) + 1 symbols long, LPF(l) = max_{i<l} LCP(s[i:], s[l:]).

    * An earlier start i matches more than d symbols only if it also sees
      exactly d zeros and then a mark, i.e. i = p_a - d with a < b and the run
      of zeros before mark a at least d long (``run_before[a] >= d``).  Then

      LCP = d + sum_{j<t} g_{b+j} + min(g_{a+t}, g_{b+t}),

      with g_k = p_{k+1} - p_k the gaps and t the longest common extension of
      the gap sequences at a and b.  The gap g_{K-1} (up to the end of s) is
      given a code of its own so that it never matches and sorts just below
      the gaps of equal length.
    * Otherwise LPF(l) = d if s[l-1] = 0 (start i = l - 1), and the longest
      earlier run of zeros if s[l-1] = 1 or l = 0.

    The best a is the nearest admissible neighbour of b on either side in the
    suffix array of the gap codes (LCP falls off with distance in suffix
    order; among equal t the left neighbour has the largest next gap still
    below g_{b+t}, a right one has a larger next gap).
    """

    def __init__(self, marks, n):
        self.n = n
        k = marks.size
        self.k = k
        ends = np.append(marks, n).astype(np.int64)
        gaps = np.diff(ends)  # g_0 .. g_{K-1}, the last one reaches the end
        run_before = np.empty(k + 1, dtype=np.int64)
        run_before[0] = marks[0]
        run_before[1:] = gaps - 1
        codes = 2 * gaps
        codes[-1] -= 1  # unique, sorts just below equal gaps
        sa, lcp = _suffix_array_lcp(codes)
        rank = np.empty(k, dtype=np.int64)
        rank[sa] = np.arange(k)
        self.sa_np = sa
        self.run_sa_np = run_before[sa]
        self.sa = sa.tolist()
        self.run_sa = self.run_sa_np.tolist()
        self.rank = rank.tolist()
        self.lcp = lcp.tolist()
        self.ends = ends.tolist()
        self.gaps = gaps.tolist()
        # longest run of zeros before marks 0..b-1, for b = 0..K
        self.longest_run = [-1] + np.maximum.accumulate(run_before[:k]).tolist()

    def count(self):
        n, k, ends, gaps = self.n, self.k, self.ends, self.gaps
        longest_run, rank, sa, lcp = self.longest_run, self.rank, self.sa, self.lcp
        c = 0
        pos = 0
        while pos < n:
            c += 1
            b = bisect_left(ends, pos)
            d = ends[b] - pos
            if longest_run[b] < d:  # no earlier start sees d zeros then a mark
                at_run_start = pos == 0 or (b > 0 and ends[b - 1] == pos - 1)
                lpf = max(longest_run[b], 0) if at_run_start else d
            elif b == k:  # trailing zeros, all copied
                lpf = d
            else:
                r = rank[b]
                left = self._left(r, b, d)
                right = self._right(r, b, d)
                t_left = min(lcp[left + 1:r + 1]) if left >= 0 else -1
                t_right = min(lcp[r + 1:right + 1]) if right >= 0 else -1
                if t_right >= t_left:
                    lpf = ends[b + t_right] - pos + gaps[b + t_right]
                else:
                    lpf = ends[b + t_left] - pos + gaps[sa[left] + t_left]
            pos += lpf + 1
        return c

    def _left(self, r, b, d):
        """Largest suffix-array index < r whose start a < b has run_before >= d."""
        sa, run_sa = self.sa, self.run_sa
        stop = max(r - _PYTHON_SCAN, 0)
        for j in range(r - 1, stop - 1, -1):
            if sa[j] < b and run_sa[j] >= d:
                return j
        hi, width = stop, 4 * _PYTHON_SCAN
        while hi > 0:
            lo = max(hi - width, 0)
            hits = np.flatnonzero((self.sa_np[lo:hi] < b) & (self.run_sa_np[lo:hi] >= d))
            if hits.size:
                return lo + int(hits[-1])
            hi, width = lo, 4 * width
        return -1

    def _right(self, r, b, d):
        """Smallest suffix-array index > r whose start a < b has run_before >= d."""
        sa, run_sa, k = self.sa, self.run_sa, self.k
        stop = min(r + 1 + _PYTHON_SCAN, k)
        for j in range(r + 1, stop):
            if sa[j] < b and run_sa[j] >= d:
                return j
        lo, width = stop, 4 * _PYTHON_SCAN
        while lo < k:
            hi = min(lo + width, k)
            hits = np.flatnonzero((self.sa_np[lo:hi] < b) & (self.run_sa_np[lo:hi] >= d))
            if hits.size:
                return lo + int(hits[0])
            lo, width = hi, 4 * width
        return -1


def _suffix_array_lcp(codes):
    """Suffix array and adjacent LCPs of an integer sequence, by prefix doubling.

    Returns ``sa`` (suffix starts in lexicographic order; a suffix that ends
    sorts before its extensions) and ``lcp`` with ``lcp[j]`` the longest
    common prefix of suffixes ``sa[j-1]`` and ``sa[j]`` (``lcp[0] = 0``).
    """
    k = codes.size
    rank = np.unique(codes, return_inverse=True)[1].astype(np.int64) + 1
    levels = [rank]  # levels[j]: rank of the length-2**j prefix, 0 = past the end
    h = 1
    order = np.argsort(rank, kind="stable")
    while int(rank.max()) < k:
        second = np.zeros(k, dtype=np.int64)
        second[:k - h] = rank[h:]
        key = rank * (k + 1) + second
        order = np.argsort(key, kind="stable")
        sorted_key = key[order]
        new_rank = np.empty(k, dtype=np.int64)
        new_rank[order] = np.cumsum(np.concatenate(([1], sorted_key[1:] != sorted_key[:-1])))
        rank = new_rank
        levels.append(rank)
        h *= 2
    sa = order
    # LCP of neighbours by binary lifting over the prefix ranks
    x, y = sa[:-1], sa[1:]
    ext = np.zeros(k - 1, dtype=np.int64)
    for j in range(len(levels) - 1, -1, -1):
        xi, yi = x + ext, y + ext
        inside = (xi < k) & (yi < k)
        level = levels[j]
        same = inside & (level[np.minimum(xi, k - 1)] == level[np.minimum(yi, k - 1)])
        ext += same.astype(np.int64) << j
    return sa, np.concatenate(([0], ext))
