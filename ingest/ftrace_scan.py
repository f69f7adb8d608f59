"""One compiled pass over the lines of a chunk: the ftrace line head, and the hot host events.

The head is `<comm>-<pid> [<cpu>] <flags> <sec>.<usec>: <event>: <fields>` (FORMATS.md §2),
found from the first ": " backwards, so a comm with spaces or dashes is fine. The fields of the
three events that make up nearly all of a host trace are checked against the kernel's printk
formats and decoded here:

    kvm_exit        vcpu %u reason %s rip 0x%lx info1 0x%016llx info2 0x%016llx
                    intr_info 0x%08x error_code 0x%08x[ requests 0x%016llx]
    kvm_entry       vcpu %u, rip 0x%lx[ [immediate exit]]
    kvm_page_fault  vcpu %u rip 0x%lx address 0x%016llx error_code 0x%llx

A line whose head or fields do not fit exactly is left to the per-line Python path (a tgid column,
exit-reason flags, older kernels' spellings, header lines, garbage), which accepts the rarer
spellings or reports the error. So this file decides speed, never meaning.
"""

from __future__ import annotations

import numpy as np

from tdxray.ingest.ftrace_kvm import EXIT_SUBFN, MEM_ATTR_PRIVATE
from tdxray.ingest.ftrace_prefix import (
    ATTRIBUTES,
    ENTRY,
    EXIT,
    FAULT,
    HOT_NAMES,
    NAME_MAX,
    Scan,
)
from tdxray.ingest.jit import kernel, step
from tdxray.schema.constants import PAGE_SHIFT

_DIGIT = np.zeros(256, np.bool_)
_DIGIT[ord("0"):ord("9") + 1] = True
_LOWER_HEX = _DIGIT.copy()
_LOWER_HEX[ord("a"):ord("f") + 1] = True
_WORD = _DIGIT.copy()
_WORD[ord("a"):ord("z") + 1] = True
_WORD[ord("A"):ord("Z") + 1] = True
_WORD[ord("_")] = True
_SPACE = np.zeros(256, np.bool_)
_SPACE[ord(" ")] = True
_HEX_VALUE = np.zeros(256, np.uint64)
for _c in range(256):
    if _LOWER_HEX[_c]:
        _HEX_VALUE[_c] = int(chr(_c), 16)


def _table(words: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Words as rows of a zero-padded byte matrix, and their lengths (for the kernel)."""
    out = np.zeros((len(words), 32), np.uint8)
    for i, word in enumerate(words):
        out[i, :len(word)] = np.frombuffer(word.encode(), np.uint8)
    return out, np.array([len(w) for w in words], np.int64)


def _lit(text: str) -> np.ndarray:
    return np.frombuffer(text.encode(), np.uint8).copy()


_VCPU = _lit("vcpu ")
_REASON = _lit(" reason ")
_RIP = _lit(" rip 0x")
_ENTRY_RIP = _lit(", rip 0x")
# Fixed-width stretches of the formats: `#` stands for a lower-case hex digit.
_EXIT_TAIL = _lit(" info1 0x" + "#" * 16 + " info2 0x" + "#" * 16 + " intr_info 0x" + "#" * 8
                  + " error_code 0x" + "#" * 8)
_REQUESTS = _lit(" requests 0x" + "#" * 16)
_ERROR = " error_code 0x"
_FAULT_ADDRESS = _lit(" address 0x" + "#" * 16 + _ERROR)
_IMMEDIATE = _lit("[immediate exit]")
_JSON_HEAD = _lit('{"fields": "')
_0X = _lit("0x")
_DASHES = _lit(" -- ")
_OPEN = _lit(" [")
_GFN_END = np.uint64(1 << (64 - PAGE_SHIFT))
_NAMES, _NAME_LENS = _table(HOT_NAMES)
# Passed to the kernel, not read as globals: numba freezes globals into its on-disk cache,
# which only notices changes to this file.
REASONS = (*_table(tuple(EXIT_SUBFN)), np.array(list(EXIT_SUBFN.values()), np.int64))


@step
def _run_back(buf: np.ndarray, end: int, lo: int, limit: int, cls: np.ndarray) -> int:
    """How many bytes of class `cls` end just before `end` (not before `lo`, at most limit)."""
    n = 0
    while n < limit and end - n - 1 >= lo and cls[buf[end - n - 1]]:
        n += 1
    return n


@step
def _run(buf: np.ndarray, at: int, hi: int, limit: int, cls: np.ndarray) -> int:
    """How many bytes of class `cls` start at `at` (before `hi`, at most limit)."""
    n = 0
    while n < limit and at + n < hi and cls[buf[at + n]]:
        n += 1
    return n


@step
def _spaces_back(buf: np.ndarray, end: int, lo: int, limit: int) -> int:
    n = 0
    while n < limit and end - n - 1 >= lo and buf[end - n - 1] == 32:
        n += 1
    return n


@step
def _is(buf: np.ndarray, at: int, hi: int, text: np.ndarray) -> bool:
    """Whether buf[at:] spells `text` before `hi`."""
    if at < 0 or at + len(text) > hi:
        return False
    for k in range(len(text)):  # noqa: SIM110 (a generator does not compile)
        if buf[at + k] != text[k]:
            return False
    return True


@step
def _number(buf: np.ndarray, at: int, length: int, base: int) -> np.uint64:
    value = np.uint64(0)
    for k in range(length):
        value = value * np.uint64(base) + _HEX_VALUE[buf[at + k]]
    return value


@step
def _decimal(buf: np.ndarray, at: int, length: int) -> int:
    """The value of `length` (at most 18) decimal digits at `at`."""
    value = 0
    for k in range(length):
        value = value * 10 + (buf[at + k] - 48)
    return value


@kernel
def _head(buf: np.ndarray, s: int, e: int) -> tuple[bool, int, int, int]:
    """(ok, ts_ns, cpu, name start) of the line [s, e)."""
    c1 = -1
    for p in range(s, e - 1):
        if buf[p] == 58 and buf[p + 1] == 32:
            c1 = p
            break
    if c1 < 0:
        return False, 0, 0, 0
    frac = _run_back(buf, c1, s, 10, _DIGIT)
    dot = c1 - frac - 1
    if (frac != 6 and frac != 9) or dot < s or buf[dot] != 46:
        return False, 0, 0, 0
    sec = _run_back(buf, dot, s, 13, _DIGIT)
    if sec < 1 or sec > 12:
        return False, 0, 0, 0
    start = dot - sec
    gap = _spaces_back(buf, start, s, 16)
    x = start - gap
    if gap < 1 or x - 1 < s:
        return False, 0, 0, 0
    q = x - 1
    if buf[q] != 93:  # a flags column of 4 or 5 characters, then spaces, then ']'
        flags = 0
        while flags < 6 and x - flags - 1 >= s and buf[x - flags - 1] != 32:
            flags += 1
        gap2 = _spaces_back(buf, x - flags, s, 8)
        if (flags != 4 and flags != 5) or gap2 < 1:
            return False, 0, 0, 0
        q = x - flags - gap2 - 1
        if q < s or buf[q] != 93:
            return False, 0, 0, 0
    cpu_len = _run_back(buf, q, s, 7, _DIGIT)
    lb = q - cpu_len - 1
    if cpu_len < 1 or cpu_len > 6 or lb < s or buf[lb] != 91:
        return False, 0, 0, 0
    gap3 = _spaces_back(buf, lb, s, 24)
    pid = _run_back(buf, lb - gap3, s, 11, _DIGIT)
    dash = lb - gap3 - pid - 1
    if gap3 < 1 or pid < 1 or pid > 10 or dash <= s or buf[dash] != 45:
        return False, 0, 0, 0
    scale = 1000 if frac == 6 else 1
    ts = _decimal(buf, start, sec) * 1_000_000_000 + _decimal(buf, dot + 1, frac) * scale
    return True, ts, _decimal(buf, lb + 1, cpu_len), c1 + 2


@kernel
def _vcpu(buf: np.ndarray, f: int, e: int) -> tuple[int, int]:
    """(digits, value) of `vcpu <digits>` at f (digits 0 if not there)."""
    if not _is(buf, f, e, _VCPU):
        return 0, 0
    digits = _run(buf, f + 5, e, 11, _DIGIT)
    if digits < 1 or digits > 10:
        return 0, 0
    return digits, _decimal(buf, f + 5, digits)


@step
def _template(buf: np.ndarray, at: int, e: int, pattern: np.ndarray) -> bool:
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


@kernel
def _exit(buf: np.ndarray, f: int, e: int, reasons: np.ndarray, reason_lens: np.ndarray,
          subfns: np.ndarray) -> tuple[bool, int, int]:
    """(ok, vcpu, subfn or -1) of kvm_exit fields at [f, e)."""
    digits, vcpu = _vcpu(buf, f, e)
    p = f + 5 + digits
    if digits == 0 or not _is(buf, p, e, _REASON):
        return False, 0, -1
    rs = p + len(_REASON)
    reason = _run(buf, rs, e, 33, _WORD)
    p = rs + reason
    if reason < 1 or reason > 32 or not _is(buf, p, e, _RIP):
        return False, 0, -1
    p += len(_RIP)
    rip = _run(buf, p, e, 17, _LOWER_HEX)
    if rip < 1 or rip > 16:
        return False, 0, -1
    p += rip
    if not _template(buf, p, e, _EXIT_TAIL):
        return False, 0, -1
    p += len(_EXIT_TAIL)
    if p != e and not (_template(buf, p, e, _REQUESTS) and p + len(_REQUESTS) == e):
        return False, 0, -1
    subfn = -1
    for k in range(len(subfns)):
        if reason_lens[k] == reason and _is(buf, rs, e, reasons[k, :reason]):
            subfn = subfns[k]
    return True, vcpu, subfn


@kernel
def _entry(buf: np.ndarray, f: int, e: int) -> tuple[bool, int]:
    """(ok, vcpu) of kvm_entry fields at [f, e)."""
    digits, vcpu = _vcpu(buf, f, e)
    p = f + 5 + digits
    if digits == 0 or not _is(buf, p, e, _ENTRY_RIP):
        return False, 0
    p += len(_ENTRY_RIP)
    rip = _run(buf, p, e, 17, _LOWER_HEX)
    p += rip
    if rip < 1 or rip > 16:
        return False, 0
    if p == e:
        return True, vcpu
    if buf[p] == 32:
        p += 1
    return _is(buf, p, e, _IMMEDIATE) and p + len(_IMMEDIATE) == e, vcpu


@kernel
def _fault(buf: np.ndarray, f: int, e: int) -> tuple[bool, int, np.uint64, bool]:
    """(ok, vcpu, gpa, write) of kvm_page_fault fields at [f, e)."""
    digits, vcpu = _vcpu(buf, f, e)
    p = f + 5 + digits
    if digits == 0 or not _is(buf, p, e, _RIP):
        return False, 0, np.uint64(0), False
    p += len(_RIP)
    rip = _run(buf, p, e, 17, _LOWER_HEX)
    if rip < 1 or rip > 16:
        return False, 0, np.uint64(0), False
    p += rip
    if not _template(buf, p, e, _FAULT_ADDRESS):
        return False, 0, np.uint64(0), False
    p += len(_FAULT_ADDRESS)
    gpa = _number(buf, p - len(_ERROR) - 16, 16, 16)
    code = _run(buf, p, e, 17, _LOWER_HEX)
    if code < 1 or code > 16 or p + code != e:
        return False, 0, np.uint64(0), False
    return True, vcpu, gpa, (_HEX_VALUE[buf[e - 1]] & np.uint64(2)) != 0


@kernel
def _name(buf: np.ndarray, at: int, e: int) -> tuple[int, int, int]:
    """(name length or 0, fields start, hot name index or -1) of the event name at `at`."""
    n = _run(buf, at, e, NAME_MAX, _WORD)
    after = at + n
    if n < 1 or n >= NAME_MAX or after >= e or buf[after] != 58:
        return 0, 0, -1
    pad = _run(buf, after + 1, e, e, _SPACE)
    if after + 1 != e and pad < 1:
        return 0, 0, -1
    hot = -1
    for k in range(len(_NAME_LENS)):
        if _NAME_LENS[k] == n and _is(buf, at, e, _NAMES[k, :n]):
            hot = k
    return n, after + 1 + pad, hot


def scan(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, skip: np.ndarray) -> Scan:
    """What the scan finds on each line (nothing on the lines in `skip`)."""
    out = Scan.empty(len(starts))
    _scan(buf, starts, ends, skip, *REASONS, *out.columns())
    return out


@kernel
def _scan(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, skip: np.ndarray,
          reasons: np.ndarray, reason_lens: np.ndarray, subfns: np.ndarray,
          ok: np.ndarray, ts: np.ndarray, cpu: np.ndarray, name_at: np.ndarray,
          name_len: np.ndarray, fields: np.ndarray, name_hot: np.ndarray, hot: np.ndarray,
          plain: np.ndarray, vcpu: np.ndarray, subfn: np.ndarray, gpa: np.ndarray,
          size: np.ndarray, write: np.ndarray, to_private: np.ndarray) -> None:
    """Fills the Scan columns (in Scan's field order)."""
    for i in range(len(starts)):
        if skip[i]:
            continue
        s, e = starts[i], ends[i]
        good, ts[i], cpu[i], at = _head(buf, s, e)
        if not good:
            continue
        length, f, which = _name(buf, at, e)
        if length == 0:
            continue
        ok[i], name_at[i], name_len[i], fields[i], name_hot[i] = True, at, length, f, which
        if which == EXIT - 1:
            decoded, vcpu[i], subfn[i] = _exit(buf, f, e, reasons, reason_lens, subfns)
            hot[i] = EXIT if decoded else 0
        elif which == ENTRY - 1:
            decoded, vcpu[i] = _entry(buf, f, e)
            hot[i] = ENTRY if decoded else 0
        elif which == FAULT - 1:
            decoded, vcpu[i], gpa[i], write[i] = _fault(buf, f, e)
            hot[i] = FAULT if decoded else 0
        elif which == ATTRIBUTES - 1:
            decoded, gpa[i], size[i], to_private[i] = _attributes(buf, f, e)
            hot[i] = ATTRIBUTES if decoded else 0
        else:
            plain[i] = _plain(buf, f, e)


@kernel
def _plain(buf: np.ndarray, f: int, e: int) -> bool:
    """Printable ASCII without a quote or backslash: JSON as it is."""
    bad = False
    for p in range(f, e):
        b = buf[p]
        bad |= (b < 32) | (b > 126) | (b == 34) | (b == 92)
    return not bad


@kernel
def _hex(buf: np.ndarray, p: int, e: int, prefix: bool) -> tuple[int, np.uint64]:
    """(end or -1, value) of 1..16 lower-case hex digits at p, after a `0x` if `prefix`, or
    optionally after one if not."""
    if _is(buf, p, e, _0X):
        p += 2
    elif prefix:
        return -1, np.uint64(0)
    digits = _run(buf, p, e, 17, _LOWER_HEX)
    if digits < 1 or digits > 16:
        return -1, np.uint64(0)
    return p + digits, _number(buf, p, digits, 16)


@kernel
def _attributes(buf: np.ndarray, f: int, e: int) -> tuple[bool, np.uint64, np.uint64, bool]:
    """(ok, gpa, size, to_private) of kvm_vm_set_mem_attributes fields at [f, e):
    `0x%016llx -- 0x%016llx [0x%lx]` (gfns, end exclusive; attribute bit 3: private)."""
    p, start = _hex(buf, f, e, False)
    if p < 0 or not _is(buf, p, e, _DASHES):
        return False, np.uint64(0), np.uint64(0), False
    p, end = _hex(buf, p + len(_DASHES), e, False)
    if p < 0 or not _is(buf, p, e, _OPEN):
        return False, np.uint64(0), np.uint64(0), False
    p, attrs = _hex(buf, p + len(_OPEN), e, True)
    if p < 0 or p + 1 != e or buf[p] != 93 or end < start or end >= _GFN_END:
        return False, np.uint64(0), np.uint64(0), False
    return (True, start << np.uint64(PAGE_SHIFT), (end - start) << np.uint64(PAGE_SHIFT),
            (attrs & np.uint64(MEM_ATTR_PRIVATE)) != 0)


@kernel
def json_fields(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(int32 offsets, bytes) of `{"fields": "<text>"}` for each byte range where `keep` (an
    empty string elsewhere), as an Arrow string array's buffers. The ranges hold no quote,
    backslash or control byte (the scan decoded them)."""
    head = _JSON_HEAD
    n = len(starts)
    offsets = np.empty(n + 1, np.int32)
    offsets[0] = 0
    total = 0
    for i in range(n):
        if keep[i]:
            total += max(ends[i] - starts[i], 0) + len(head) + 2
        offsets[i + 1] = total
    out = np.empty(total, np.uint8)
    p = 0
    for i in range(n):  # byte loops, not slice assignments: they compile ten times faster
        if not keep[i]:
            continue
        for k in range(len(head)):
            out[p + k] = head[k]
        p += len(head)
        for q in range(starts[i], ends[i]):
            out[p] = buf[q]
            p += 1
        out[p] = 34  # "
        out[p + 1] = 125  # }
        p += 2
    return offsets, out
