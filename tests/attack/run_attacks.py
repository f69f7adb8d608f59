"""Run issue 12's attacks against the installed tdxray and print one row per attack.

    python tests/attack/run_attacks.py

Each attack runs `tdxray` in a subprocess (real signals, real ulimit, real FIFOs) and is judged
by the house contract: one line on stderr, exit 2 (or a correct result), no traceback, no hang,
no raw escape byte on the terminal, the old output intact. Not collected by pytest: the tests that
pin each outcome live in tests/test_*.py (named in the third column).
"""

from __future__ import annotations

import gzip
import json
import lzma
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

TDXRAY = [sys.executable, "-m", "tdxray"]
ESC = "\x1b]52;c;SGVsbG8=\x07"  # OSC 52: writes the reader's clipboard
LIMIT = 60.0
OLD = "the old result\n"
SAMPLES = Path(__file__).resolve().parents[2] / "sample_traces"


def run(*args: str, stdin: str | None = None, fsize: int | None = None,
        cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    def limit() -> None:
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    return subprocess.run([*TDXRAY, *args], input=stdin, capture_output=True, text=True,
                          timeout=LIMIT, preexec_fn=limit, cwd=cwd,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})


def verdict(p: subprocess.CompletedProcess[str], ok_codes: tuple[int, ...] = (2,)) -> str:
    err = p.stderr.strip().splitlines()
    if "Traceback" in p.stderr + p.stdout:
        return f"FAIL traceback (exit {p.returncode})"
    if "\x1b" in p.stderr + p.stdout:
        return f"FAIL raw ESC reached the terminal (exit {p.returncode})"
    if p.returncode not in ok_codes:
        return f"FAIL exit {p.returncode}: {err[-1] if err else ''}"[:110]
    last = err[-1] if err else "(no stderr)"
    return f"ok exit {p.returncode}: {last}"[:110]


def on_tty(*args: str) -> str:
    """Run tdxray with stdout on a pseudo-terminal; what the terminal received, judged."""
    import pty
    leader, follower = pty.openpty()
    p = subprocess.Popen([*TDXRAY, *args], stdout=follower, stderr=subprocess.PIPE, text=True)
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    err = p.stderr.read() if p.stderr else ""
    p.wait(timeout=LIMIT)
    os.close(leader)
    return verdict(subprocess.CompletedProcess(p.args, p.returncode, seen.decode(
        "utf-8", "replace"), err), (0, 1))


def sim(work: Path, name: str = "t", events: int = 300) -> Path:
    out = work / f"{name}.jsonl"
    subprocess.run([*TDXRAY, "simulate", "--events", str(events), "-q", "-o", str(out),
                    "--trace-id", name], check=True, capture_output=True)
    return out


def store_of(work: Path, trace: Path, name: str = "store") -> Path:
    store = work / name
    subprocess.run([*TDXRAY, "ingest", str(trace), "-o", str(store)], check=True,
                   capture_output=True)
    return store


def hostile_jsonl(work: Path) -> Path:
    src = sim(work, "h").read_text().splitlines()
    head = json.loads(src[0])
    head["trace_id"] = "h"
    for key in list(head):
        if isinstance(head[key], str) and key not in ("trace_id", "schema", "kind"):
            head[key] = head[key] + ESC
    lines = [json.dumps(head)]
    for line in src[1:]:
        ev = json.loads(line)
        if ev.get("kind") == "log":
            ev["text"] = "x" + ESC
        lines.append(json.dumps(ev))
    lines.append(json.dumps({"kind": "log", "seq": 10**9, "ts_ns": 10**12, "vcpu": 0,
                             "text": "evil" + ESC}))
    out = work / "h.jsonl"
    out.write_text("\n".join(lines) + "\n")
    return out


def parquet_with(work: Path, name: str, change: Callable[[pa.Table], pa.Table],
                 store_schema: bool = True) -> Path:
    store = store_of(work, sim(work, name), f"src-{name}")
    table = pq.read_table(store / f"{name}.parquet")
    out = work / f"bad-{name}.parquet"
    pq.write_table(change(table), out, store_schema=store_schema)
    return out


def set_col(table: pa.Table, col: str, values: pa.Array) -> pa.Table:
    i = table.schema.get_field_index(col)
    return table.set_column(i, pa.field(col, values.type, table.schema.field(col).nullable),
                            values)


ATTACKS: list[tuple[str, Callable[[Path], str], str]] = []


def attack(name: str, test: str) -> Callable[[Callable[[Path], str]], Callable[[Path], str]]:
    def add(fn: Callable[[Path], str]) -> Callable[[Path], str]:
        ATTACKS.append((name, fn, test))
        return fn
    return add


def sql_ended(work: Path, query: str, *extra: str, sig: int | None = None) -> str:
    out = work / "out.csv"
    out.write_text(OLD)
    start = time.monotonic()
    p = subprocess.Popen([*TDXRAY, "sql", "--store", str(work), query, "--format", "csv",
                          "-o", str(out), *extra], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    if sig is not None:
        time.sleep(3.0)
        start = time.monotonic()
        p.send_signal(sig)
    try:
        _, err = p.communicate(timeout=LIMIT)
    except subprocess.TimeoutExpired:
        p.kill()
        return "FAIL hung"
    took = time.monotonic() - start
    kept = out.read_text() == OLD and sorted(x.name for x in work.iterdir()) == ["out.csv"]
    res = subprocess.CompletedProcess(p.args, p.returncode, "", err)
    v = verdict(res, (2, 130, 143))
    return f"{v.split(':')[0]}; ended {took:.1f}s after {'signal' if sig else 'start'}; " \
           f"old output {'intact' if kept else 'LOST'}"


BOOM = ("SELECT CASE WHEN i < 150000 THEN i ELSE error('boom') END AS x "
        "FROM range(200000) t(i)")
BIG = "SELECT * FROM range(1000000000000)"
CROSS3 = "SELECT count(*) FROM range(100000) a, range(100000) b, range(100000) c"


@attack("sql: error('boom') while streaming", "test_sql_limits")
def _(w: Path) -> str:
    return sql_ended(w, BOOM)


@attack("sql: range(1e12) with --max-rows 1000", "test_sql_limits")
def _(w: Path) -> str:
    return sql_ended(w, BIG, "--max-rows", "1000")


@attack("sql: 3-way self-join with --timeout 2", "test_sql_limits")
def _(w: Path) -> str:
    return sql_ended(w, CROSS3, "--timeout", "2")


@attack("sql: Ctrl-C (SIGINT) during a 3-way join", "test_sql_limits")
def _(w: Path) -> str:
    return sql_ended(w, CROSS3, sig=signal.SIGINT)


@attack("sql: SIGTERM during a 3-way join", "test_sigterm")
def _(w: Path) -> str:
    return sql_ended(w, CROSS3, sig=signal.SIGTERM)


@attack("sql: read a file outside the store", "test_sql")
def _(w: Path) -> str:
    return verdict(run("sql", "--store", str(w), "SELECT * FROM read_csv('/etc/passwd')"))


@attack("sql: COPY TO / ATTACH / INSTALL", "test_sql")
def _(w: Path) -> str:
    outs = [run("sql", "--store", str(w), q) for q in
            (f"COPY (SELECT 1) TO '{w}/x.csv'", f"ATTACH '{w}/x.db'", "INSTALL httpfs")]
    bad = [verdict(p) for p in outs if not verdict(p).startswith("ok")]
    return bad[0] if bad else f"ok all 3 refused: {verdict(outs[0])[3:80]}"


def escaped(w: Path, *args: str) -> str:
    store = store_of(w, hostile_jsonl(w))
    return verdict(run(*[a.replace("STORE", str(store)) for a in args]), (0, 1))


@attack("escape: info of a hostile trace", "test_escape_paths")
def _(w: Path) -> str:
    return escaped(w, "info", "STORE/h.parquet")


@attack("escape: store list", "test_escape_paths")
def _(w: Path) -> str:
    return escaped(w, "store", "list", "STORE")


@attack("escape: sql --format csv to stdout", "test_escape_paths")
def _(w: Path) -> str:
    store = store_of(w, hostile_jsonl(w))
    return on_tty("sql", "--store", str(store), "--format", "csv",
                  "SELECT text FROM events WHERE text IS NOT NULL")


@attack("escape: export --format console", "test_escape_paths")
def _(w: Path) -> str:
    store = store_of(w, hostile_jsonl(w))
    return on_tty("export", str(store / "h.parquet"), "--format", "console", "--tp-printk",
                  "--partial")


@attack("escape: check --format github/junit/sarif/markdown", "test_escape_paths")
def _(w: Path) -> str:
    store = store_of(w, hostile_jsonl(w))
    for fmt in ("github", "junit", "sarif", "markdown", "text"):
        v = verdict(run("check", str(store / "h.parquet"), "--format", fmt), (0, 1))
        if not v.startswith("ok"):
            return f"{fmt}: {v}"
    return "ok no raw ESC in any format"


@attack("escape: error naming a hostile file name", "test_escape_paths")
def _(w: Path) -> str:
    bad = w / f"a{ESC}.jsonl"
    bad.write_text("not json\n")
    return verdict(run("ingest", str(bad), "-o", str(w / "s")))


@attack("escape: HTML report of a hostile trace", "test_html_report")
def _(w: Path) -> str:
    store = store_of(w, hostile_jsonl(w))
    out = w / "r.html"
    p = run("report", str(store / "h.parquet"), "-o", str(out))
    if p.returncode not in (0, 1):
        return verdict(p, (0, 1))
    html = out.read_text()
    raw = "\x1b" in html or "<script>evil" in html
    return "FAIL raw in HTML" if raw else f"ok {verdict(p, (0, 1))}"


@attack("escape: shrink of a hostile trace", "test_shrink_inputs")
def _(w: Path) -> str:
    store = store_of(w, hostile_jsonl(w))
    return verdict(run("shrink", str(store / "h.parquet"), "--rule", "K001",
                       "-o", str(w / "small.jsonl")), (0, 1, 2))


@attack("escape: diff of hostile traces", "test_diff_report_inputs")
def _(w: Path) -> str:
    store = store_of(w, hostile_jsonl(w))
    return verdict(run("diff", str(store / "h.parquet"), str(store / "h.parquet")), (0, 1))


@attack("CI formats: a file name holding a newline, '::error', ESC, <&%0A", "test_escape_paths")
def _(w: Path) -> str:
    name = w / "b\n::error file=x::pwned\x1b]52;c;AA\x07<x>&%0A.jsonl"
    shutil.copy(SAMPLES / "cr4-mce-cleared.jsonl", name)
    for fmt in ("github", "junit", "sarif", "markdown", "text"):
        p = run("check", str(name), "--format", fmt)
        v = verdict(p, (1,))
        if not v.startswith("ok"):
            return f"{fmt}: {v}"
        if fmt == "github" and any(not line.startswith("::error file=") for line in
                                   p.stdout.splitlines()[:-1]):
            return "FAIL github: the file name split a workflow command"
        if fmt == "junit":
            import xml.dom.minidom
            xml.dom.minidom.parseString(p.stdout)
        if fmt == "sarif":
            json.loads(p.stdout)
    return "ok one annotation line, JUnit and SARIF parse, no raw ESC"


@attack("HTML report: a path holding </script><script>", "test_html_report")
def _(w: Path) -> str:
    where = w / "x<" / "script><script>alert(1)<!--"
    where.mkdir(parents=True)
    shutil.copy(SAMPLES / "cr4-mce-cleared.jsonl", where / "t.jsonl")
    p = run("report", str(where / "t.jsonl"), "-o", str(w / "r.html"))
    html = (w / "r.html").read_text()
    if "<script>alert(1)" in html:
        return "FAIL the path reached the HTML raw"
    return f"ok escaped ({html.count('&lt;script&gt;alert(1)')} place); {verdict(p, (0,))}"


@attack("parquet: seq column of strings", "test_valid_trace")
def _(w: Path) -> str:
    f = parquet_with(w, "s", lambda t: set_col(t, "seq", pa.array(
        [str(x) for x in t["seq"].to_pylist()])))
    return verdict(run("check", str(f)))


@attack("parquet: null ts_ns", "test_valid_trace")
def _(w: Path) -> str:
    def nulls(t: pa.Table) -> pa.Table:
        i = t.schema.get_field_index("ts_ns")
        values = pa.array([None, *t["ts_ns"].to_pylist()[1:]], t["ts_ns"].type)
        return t.set_column(i, pa.field("ts_ns", values.type, True), values)
    f = parquet_with(w, "n", nulls)
    return verdict(run("check", str(f)))


@attack("parquet: seq runs backwards", "test_valid_trace")
def _(w: Path) -> str:
    f = parquet_with(w, "b", lambda t: set_col(t, "seq", pa.array(
        t["seq"].to_pylist()[::-1], t["seq"].type)))
    return verdict(run("check", str(f)))


@attack("parquet: dictionary-encoded 4 KiB texts (2.2 GB decoded)", "test_valid_trace")
def _(w: Path) -> str:
    from tdxray.tests.test_valid_trace import _text_bomb
    bomb = w / "bomb.parquet"
    _text_bomb(bomb, 8192, 66)
    return verdict(run("check", str(bomb)))


@attack("input: named pipe (FIFO)", "test_failures")
def _(w: Path) -> str:
    src = sim(w)
    fifo = w / "pipe.jsonl"
    os.mkfifo(fifo)
    feeder = subprocess.Popen(["sh", "-c", f"cat {src} > {fifo}"])
    p = run("ingest", str(fifo), "-o", str(w / "s"))
    feeder.wait(timeout=LIMIT)
    return verdict(p, (0,))


@attack("input: <(...) process substitution", "test_failures")
def _(w: Path) -> str:
    src = sim(w)
    p = subprocess.run(["bash", "-c", f"{' '.join(TDXRAY)} check <(cat {src})"],
                       capture_output=True, text=True, timeout=LIMIT)
    return verdict(p, (0, 1))


@attack("output: file as parent / dir as -o (read-only dir unless root)", "test_failures")
def _(w: Path) -> str:
    ro = w / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    (w / "file").write_text("x")
    (w / "dir.jsonl").mkdir()
    outs = [w / "file" / "x.jsonl", w / "dir.jsonl"]
    if os.geteuid() != 0:  # root writes into a read-only directory
        outs.append(ro / "x.jsonl")
    for out in outs:
        v = verdict(run("simulate", "--events", "50", "-q", "-o", str(out)))
        if not v.startswith("ok"):
            return f"{out.name}: {v}"
    ro.chmod(0o700)
    return f"ok all {len(outs)}: {v[3:90]}"


@attack("store: check a read-only store", "test_read_only_store")
def _(w: Path) -> str:
    store = store_of(w, sim(w))
    for p in [store, *store.iterdir()]:
        p.chmod(0o500 if p.is_dir() else 0o400)
    p = run("check", str(store / "t.parquet"))
    store.chmod(0o700)
    root = " (as root: permissions do not bind, see test_read_only_store)" * (os.geteuid() == 0)
    return verdict(p, (0, 1)) + root


@attack("race: two concurrent ingest of one trace id", "test_races")
def _(w: Path) -> str:
    src = sim(w, events=3000)
    ps = [subprocess.Popen([*TDXRAY, "ingest", str(src), "-o", str(w / "s")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
          for _ in range(2)]
    codes = sorted(p.wait(timeout=LIMIT) for p in ps)
    return "ok one ingested, one refused (exit 0, 2)" if codes == [0, 2] \
        else f"FAIL exits {codes}"


@attack("disk full (ulimit -f 64 KiB): simulate/ingest/export/sql", "test_failures")
def _(w: Path) -> str:
    src = sim(w, events=20000)
    store = store_of(w, src)
    cmds = [("simulate", "--events", "20000", "-q", "-o", str(w / "full.jsonl")),
            ("ingest", str(src), "-o", str(w / "full-store")),
            ("export", str(store / "t.parquet"), "-o", str(w / "full-export.jsonl")),
            ("sql", "--store", str(store), "SELECT * FROM events", "--format", "csv",
             "-o", str(w / "full.csv"))]
    for cmd in cmds:
        v = verdict(run(*cmd, fsize=65536))
        if not v.startswith("ok"):
            return f"{cmd[0]}: {v}"
    left = [p.name for p in w.rglob("*") if p.name.endswith(".tmp") or ("full" in p.name
            and p.is_file())]
    return f"ok all 4 exit 2, files left: {left or 'none'}"


@attack("int64 overflow timestamp in a console log", "test_reader_shapes")
def _(w: Path) -> str:
    log = w / "c.log"
    log.write_text("[9223372036.854776] tdx: Guest detected\n")
    return verdict(run("ingest", "--format", "console", str(log), "-o", str(w / "s")),
                   (0, 2))


@attack("damaged compression: truncated .gz/.xz/.zst, bad gzip header", "test_failures")
def _(w: Path) -> str:
    data = sim(w).read_bytes()
    import zstandard
    cases = {"t.jsonl.gz": gzip.compress(data)[:-200], "t.jsonl.xz": lzma.compress(data)[:-200],
             "t.jsonl.zst": zstandard.compress(data)[: len(data) // 40],
             "h.jsonl.gz": b"\x1f\x8b\x09" + data[:100]}
    for name, blob in cases.items():
        (w / name).write_bytes(blob)
        v = verdict(run("ingest", str(w / name), "-o", str(w / "s")))
        if not v.startswith("ok"):
            return f"{name}: {v}"
    return f"ok all 4: {v[3:100]}"


@attack("killed run (kill -9 mid ingest) then store check --clean", "test_leftovers")
def _(w: Path) -> str:
    src = sim(w, events=20000)
    p = subprocess.Popen([*TDXRAY, "ingest", str(src), "-o", str(w / "s")])
    time.sleep(0.5)  # mid start-up or mid write, never after the rename
    p.kill()
    p.wait()
    c = run("store", "check", str(w / "s"), "--clean")
    final = [x.name for x in (w / "s").glob("*.parquet")] if (w / "s").exists() else []
    return f"{verdict(c, (0, 1))[:70]}; final names: {final or 'none'}"


def main() -> int:
    only = sys.argv[1:]
    failed = 0
    print(f"{'attack':58} outcome  (test)")
    for name, fn, test in ATTACKS:
        if only and not any(o in name for o in only):
            continue
        work = Path(tempfile.mkdtemp(prefix="tdxray-attack-"))
        try:
            outcome = fn(work)
        except Exception as exc:
            outcome = f"HARNESS {type(exc).__name__}: {exc}"[:110]
        finally:
            for p in work.rglob("*"):
                if p.is_dir():
                    p.chmod(0o700)
            shutil.rmtree(work, ignore_errors=True)
        failed += not outcome.startswith("ok")
        print(f"{name:58} {outcome}  ({test})", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
