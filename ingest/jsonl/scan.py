"""One compiled pass over a block of JSONL event lines of the plain shape, into columns.

The plain shape is what `tdxray export` writes: `{"key": value, "key": value}` (one space or none
after each colon and comma, nothing else), each key a column of EVENT_SCHEMA at most once, each
value an unsigned decimal of at most 18 digits, a "0x…" string of 1 to 16 hex digits, true,
false, or a string of printable ASCII (its escapes but \\u decoded; none in a kind). Any block
holding a line of another shape is declined as a whole and read by pyarrow's path (jsonl.table)
as before, which accepts the rarer spellings or reports the error. So this file decides speed,
never meaning: what it accepts is a strict subset of what that path accepts as one batch, with
the same values.
"""

from __future__ import annotations

import numpy as np

from tdxray.ingest.jit import kernel, step

# Value classes of a key (scanned.py builds the tables from the schema).
INT, BOOL, STR = 0, 1, 2
# Modes of an integer column within a block: pyarrow types a column of JSON numbers and one of
# "0x…" strings differently, and a block mixing both is not one batch on its path.
NUMBERS, HEX = 1, 2
MAX_DIGITS = 18  # below 2**63: every decimal that fits is an int64 for pyarrow
MAX_HEX = 16
QUOTE, COLON, COMMA, SPACE, OPEN, CLOSE, NEWLINE, BACKSLASH = 34, 58, 44, 32, 123, 125, 10, 92
ESCAPED = np.zeros(256, np.uint8)  # the byte a JSON escape stands for; 0: not taken here
for _escape, _byte in zip(b'"\\/bfnrt', b'"\\/\b\f\n\r\t', strict=True):
    ESCAPED[_escape] = _byte


@kernel
def scan_block(buf: np.ndarray, n: int, lookup: np.ndarray, key_bytes: np.ndarray,
               key_class: np.ndarray, key_slot: np.ndarray, key_max: np.ndarray, kind_key: int,
               kind_names: np.ndarray, kind_lens: np.ndarray, allowed: np.ndarray,
               required: np.ndarray, ints: np.ndarray, starts: np.ndarray, lens: np.ndarray,
               present: np.ndarray, modes: np.ndarray) -> int:
    """Fill the columns of the block's n lines; 0 when every line is plain, else the 1-based
    number of the first line that is not (the caller declines the block). `lookup[length,
    first byte]` lists the ids of the keys so spelled (-1 after the last); `key_bytes[id]` is
    a key's bytes, zero-padded; `key_slot[id]` its row of `ints` (numbers, booleans) or of
    `starts` and `lens` (strings)."""
    p = 0
    end = len(buf)
    for row in range(n):
        if p >= end or buf[p] != OPEN:
            return row + 1
        p += 1
        seen = np.uint64(0)
        kind = -1
        while True:
            # the key
            if p >= end or buf[p] != QUOTE:
                return row + 1
            a = p + 1
            q = a
            while q < end and q - a <= 16 and buf[q] != QUOTE and buf[q] >= 48:
                q += 1
            length = q - a
            if q >= end or buf[q] != QUOTE or length < 1 or length > 16:
                return row + 1
            if buf[a] >= 128:
                return row + 1
            k = _key(buf, a, length, lookup[length, buf[a]], key_bytes)
            if k < 0:
                return row + 1
            bit = np.uint64(1) << np.uint64(k)
            if seen & bit:
                return row + 1
            seen |= bit
            p = q + 1
            if p + 1 >= end or buf[p] != COLON:
                return row + 1
            p += 1
            if buf[p] == SPACE:
                p += 1
            # the value
            c = buf[p]
            cls = key_class[k]
            if c == QUOTE:
                a = p + 1
                q = a
                escapes = 0
                first_escape = -1
                while q < end and buf[q] != QUOTE and 32 <= buf[q] < 127:
                    if buf[q] == BACKSLASH:
                        if q + 2 >= end or ESCAPED[buf[q + 1]] == 0 \
                                or (buf[q + 1] == BACKSLASH and buf[q + 2] == 117):
                            return row + 1  # \u (pyarrow's path declines it), or invalid
                        if first_escape < 0:
                            first_escape = q - a
                        escapes += 1
                        q += 1
                    q += 1
                if q >= end or buf[q] != QUOTE:
                    return row + 1
                length = q - a - escapes
                p = q + 1
                if cls == INT:
                    if modes[k] == NUMBERS or length < 3 or length > MAX_HEX + 2 \
                            or buf[a] != 48 or buf[a + 1] != 120:
                        return row + 1
                    value = np.uint64(0)
                    for i in range(a + 2, q):
                        d = buf[i]
                        if 48 <= d <= 57:
                            d -= 48
                        elif 97 <= d <= 102:
                            d -= 87
                        elif 65 <= d <= 70:
                            d -= 55
                        else:
                            return row + 1
                        value = (value << np.uint64(4)) | np.uint64(d)
                    if value > key_max[k]:
                        return row + 1
                    modes[k] = HEX
                    ints[key_slot[k], row] = value
                elif cls == STR:
                    if _not_plain_text(buf, a, q) or 0 <= first_escape < 5 \
                            or (escapes and k == kind_key):
                        return row + 1
                    starts[key_slot[k], row] = a
                    lens[key_slot[k], row] = length
                    if k == kind_key:
                        kind = _kind(buf, a, length, kind_names, kind_lens)
                else:
                    return row + 1
            elif 48 <= c <= 57:
                if cls != INT or modes[k] == HEX:
                    return row + 1
                a = p
                value = np.uint64(0)
                while p < end and 48 <= buf[p] <= 57:
                    value = value * np.uint64(10) + np.uint64(buf[p] - 48)
                    p += 1
                if p - a > MAX_DIGITS or (c == 48 and p - a > 1) or value > key_max[k]:
                    return row + 1
                modes[k] = NUMBERS
                ints[key_slot[k], row] = value
            elif c == 116 or c == 102:  # true, false
                if cls != BOOL:
                    return row + 1
                if c == 116 and p + 4 < end and buf[p + 1] == 114 and buf[p + 2] == 117 \
                        and buf[p + 3] == 101:
                    ints[key_slot[k], row] = 1
                    p += 4
                elif c == 102 and p + 5 < end and buf[p + 1] == 97 and buf[p + 2] == 108 \
                        and buf[p + 3] == 115 and buf[p + 4] == 101:
                    ints[key_slot[k], row] = 0
                    p += 5
                else:
                    return row + 1
            else:
                return row + 1
            present[k, row] = 1
            if p >= end:
                return row + 1
            if buf[p] == COMMA:
                p += 1
                if p < end and buf[p] == SPACE:
                    p += 1
                continue
            if buf[p] != CLOSE:
                return row + 1
            p += 1
            break
        if p >= end or buf[p] != NEWLINE or kind < 0:
            return row + 1
        p += 1
        if (seen & ~allowed[kind]) or (seen & required[kind]) != required[kind]:
            return row + 1
        if row and ints[0, row] <= ints[0, row - 1]:  # seq: key 0, slot 0
            return row + 1
    return 0 if p == end else n


@step
def _key(buf: np.ndarray, a: int, length: int, candidates: np.ndarray,
         key_bytes: np.ndarray) -> int:
    """The id of the key spelled at [a, a + length) among `candidates`, or -1."""
    for k in candidates:
        if k < 0:
            return -1
        same = True
        for i in range(length):
            if key_bytes[k, i] != buf[a + i]:
                same = False
                break
        if same and (length == 16 or key_bytes[k, length] == 0):
            return k
    return -1


@step
def _not_plain_text(buf: np.ndarray, a: int, q: int) -> bool:
    """Whether pyarrow's path would not take the string [a, q) as plain text: "null" in it
    (that path declines a block holding one anywhere), or the start of a date, which pyarrow
    may type as a timestamp."""
    for i in range(a, q - 3):
        if buf[i] == 110 and buf[i + 1] == 117 and buf[i + 2] == 108 and buf[i + 3] == 108:
            return True
    if q - a >= 5:
        first = buf[a]
        if first == 43 or first == 45:  # a sign
            return True
        if 48 <= first <= 57 and 48 <= buf[a + 1] <= 57 and 48 <= buf[a + 2] <= 57 \
                and 48 <= buf[a + 3] <= 57 and buf[a + 4] == 45:
            return True
    return False


@step
def _kind(buf: np.ndarray, a: int, length: int, names: np.ndarray, lens: np.ndarray) -> int:
    """The index of the kind spelled at [a, a + length) in `names`, or len(names): unknown."""
    for j in range(len(lens)):
        if lens[j] != length:
            continue
        same = True
        for i in range(length):
            if names[j, i] != buf[a + i]:
                same = False
                break
        if same:
            return j
    return len(lens)


@kernel
def gather(buf: np.ndarray, starts: np.ndarray, lens: np.ndarray, present: np.ndarray,
           offsets: np.ndarray, data: np.ndarray) -> None:
    """One string column's bytes end to end, escapes decoded (offsets from the caller's
    running sum of the decoded lengths)."""
    for row in range(len(lens)):
        if present[row]:
            at = offsets[row]
            i = starts[row]
            for j in range(at, at + lens[row]):
                c = buf[i]
                if c == BACKSLASH:
                    i += 1
                    c = ESCAPED[buf[i]]
                data[j] = c
                i += 1
