"""Small compiled steps over the bytes of a line, for the scanners: runs of a byte class, literal
and template matches, numbers. Each reads only inside [lo, hi) of the line it is given and is
inlined into its caller.
"""

from __future__ import annotations

import numpy as np

from tdxray.ingest.jit import step

DIGIT = np.zeros(256, np.bool_)
DIGIT[ord("0"):ord("9") + 1] = True
LOWER_HEX = DIGIT.copy()
LOWER_HEX[ord("a"):ord("f") + 1] = True
WORD = DIGIT.copy()  # [A-Za-z0-9_]
WORD[ord("a"):ord("z") + 1] = True
WORD[ord("A"):ord("Z") + 1] = True
WORD[ord("_")] = True
SPACE = np.zeros(256, np.bool_)
SPACE[ord(" ")] = True
HEX_VALUE = np.zeros(256, np.uint64)
for _c in range(256):
    if LOWER_HEX[_c]:
        HEX_VALUE[_c] = int(chr(_c), 16)


def table(words: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Words as rows of a zero-padded byte matrix, and their lengths (for the kernel)."""
    out = np.zeros((len(words), 32), np.uint8)
    for i, word in enumerate(words):
        out[i, :len(word)] = np.frombuffer(word.encode(), np.uint8)
    return out, np.array([len(w) for w in words], np.int64)


def lit(text: str) -> np.ndarray:
    return np.frombuffer(text.encode(), np.uint8).copy()


@step
def run_back(buf: np.ndarray, end: int, lo: int, limit: int, cls: np.ndarray) -> int:
    """How many bytes of class `cls` end just before `end` (not before `lo`, at most limit)."""
    n = 0
    while n < limit and end - n - 1 >= lo and cls[buf[end - n - 1]]:
        n += 1
    return n


@step
def run(buf: np.ndarray, at: int, hi: int, limit: int, cls: np.ndarray) -> int:
    """How many bytes of class `cls` start at `at` (before `hi`, at most limit)."""
    n = 0
    while n < limit and at + n < hi and cls[buf[at + n]]:
        n += 1
    return n


@step
def spaces_back(buf: np.ndarray, end: int, lo: int, limit: int) -> int:
    n = 0
    while n < limit and end - n - 1 >= lo and buf[end - n - 1] == 32:
        n += 1
    return n


@step
def spells(buf: np.ndarray, at: int, hi: int, text: np.ndarray) -> bool:
    """Whether buf[at:] spells `text` before `hi`."""
    if at < 0 or at + len(text) > hi:
        return False
    for k in range(len(text)):  # noqa: SIM110 (a generator does not compile)
        if buf[at + k] != text[k]:
            return False
    return True


@step
def number(buf: np.ndarray, at: int, length: int, base: int) -> np.uint64:
    value = np.uint64(0)
    for k in range(length):
        value = value * np.uint64(base) + HEX_VALUE[buf[at + k]]
    return value


@step
def decimal(buf: np.ndarray, at: int, length: int) -> int:
    """The value of `length` (at most 18) decimal digits at `at`."""
    value = 0
    for k in range(length):
        value = value * 10 + (buf[at + k] - 48)
    return value


@step
def template(buf: np.ndarray, at: int, e: int, pattern: np.ndarray) -> bool:
    """Whether buf[at:] spells `pattern` before `e` (`#`: a lower-case hex digit). Branch-free
    over the pattern, so the compiler can vectorise it."""
    if at < 0 or at + len(pattern) > e:
        return False
    bad = False
    for k in range(len(pattern)):
        b = buf[at + k]
        want = pattern[k]
        is_hex = ((b >= 48) & (b <= 57)) | ((b >= 97) & (b <= 102))
        bad |= ((want == 35) & ~is_hex) | ((want != 35) & (b != want))
    return not bad
