"""`tdxray probes --script`: a POSIX sh script (busybox ash runs it) that places the recipe.

It checks each function in `available_filter_functions`, writes each line alone to
`kprobe_events` (one write stops at its first refused line), reports a refusal with the
kernel's `error_log` reason, sets filters, enables the events, and warns when the events
cannot reach the console (`tp_printk`, the console loglevel). Lines it prints start with
`tdxray-probes:`; the summary (`placed`, `not seen`) also goes to /dev/kmsg, so the console
log records what the trace cannot see. Missing functions are skipped, not errors; the exit
status is 1 only when the kernel refused a line or tracefs is absent.
"""

from __future__ import annotations

from tdxray.ingest.kprobe.recipe import GROUP, RECIPE, UNPROBEABLE, symbols

HEAD = r"""#!/bin/sh
# tdxray probes --script: place the tdxray guest probes (group @GROUP@) one line per write.
# Run as root inside the guest; POSIX sh (busybox ash runs it).
# Environment: TRACEFS (default /sys/kernel/tracing), TDXRAY_PROC (default /proc),
# TDXRAY_KMSG (default /dev/kmsg).
T=${TRACEFS:-/sys/kernel/tracing}
P=${TDXRAY_PROC:-/proc}
KMSG=${TDXRAY_KMSG:-/dev/kmsg}
G=@GROUP@
say() { echo "tdxray-probes: $*"; }
record() { say "$@"; [ -w "$KMSG" ] && echo "tdxray-probes: $*" >> "$KMSG"; return 0; }
if [ ! -w "$T/kprobe_events" ] && [ -d /sys/kernel/debug/tracing ]; then
    T=/sys/kernel/debug/tracing
fi
if [ ! -w "$T/kprobe_events" ]; then
    say "error: no writable $T/kprobe_events (mount -t tracefs nodev /sys/kernel/tracing;" \
        "the kernel needs CONFIG_KPROBE_EVENTS=y; run as root)"
    exit 1
fi
F="$T/available_filter_functions"
[ -r "$F" ] || say "warning: no $F: placing without checking the functions first"
# Remove the probes of an earlier run, so that this one can place them again.
[ -d "$T/events/$G" ] && echo 0 > "$T/events/$G/enable"
grep "^[pr].*:$G/" "$T/kprobe_events" | while read -r old rest; do
    echo "-:${old#*:}" >> "$T/kprobe_events"
done
# One pass over the long function list (tens of thousands of lines) for all the functions.
have=" $(echo $(grep -E '^(@SYMBOLS@)( |$)' "$F" 2>/dev/null | sed 's/ .*//')) "
placed=0; missing=0; refused=0; total=0; unseen=""
while IFS='|' read -r sym line sees; do
    total=$((total + 1))
    event=${line%% *}; event=${event#*/}
    if [ -r "$F" ] && [ "${have#* "$sym" }" = "$have" ]; then
        missing=$((missing + 1)); unseen="$unseen, $sees"
        say "missing $sym: not in available_filter_functions (not built in, inlined or" \
            "notrace): $event skipped; the trace will not see $sees"
        continue
    fi
    : > "$T/error_log" 2>/dev/null
    if echo "$line" >> "$T/kprobe_events" 2>/dev/null; then
        placed=$((placed + 1))
    else
        refused=$((refused + 1)); unseen="$unseen, $sees"
        reason=$(sed -n 's/.*error: //p' "$T/error_log" 2>/dev/null | head -n 1)
        say "refused $event: ${reason:-the write failed (no error_log)}: $line"
    fi
done <<'TDXRAY_PROBES'
"""

TAIL = r"""TDXRAY_PROBES
@FILTERS@
# The "global" trace clock is the printk clock (local_clock): trace_pipe and console lines of
# one event then carry the same time; the default "local" clock drifts from it.
echo global > "$T/trace_clock" || say "warning: cannot set trace_clock global"
if [ "$placed" -gt 0 ]; then
    echo 1 > "$T/events/$G/enable" && echo 1 > "$T/tracing_on" || say "error: cannot enable $G"
fi
if ! grep -qw tp_printk "$P/cmdline" 2>/dev/null; then
    say "warning: tp_printk is not on the kernel command line: events after the kexec" \
        "shutdown stops the other CPUs reach no reader (boot with tp_printk)"
elif [ "$(cat "$P/sys/kernel/tracepoint_printk" 2>/dev/null)" = 0 ]; then
    say "warning: $P/sys/kernel/tracepoint_printk is 0: the events do not reach the console" \
        "(echo 1 > $P/sys/kernel/tracepoint_printk)"
fi
if read -r console default rest < "$P/sys/kernel/printk" 2>/dev/null \
        && [ "$console" -le "$default" ]; then
    say "warning: console loglevel $console hides the events (printed at level $default):" \
        "boot with loglevel=8 or echo 8 > $P/sys/kernel/printk"
fi
record "placed $placed of $total probes ($missing missing, $refused refused)"
[ -n "$unseen" ] && record "not seen: ${unseen#, }"
record "never seen on a distro kernel: @NEVER@"
[ "$refused" -eq 0 ]
"""


def probe_script() -> str:
    """The whole script: the head, one `symbol|line|sees` row per probe, the tail."""
    rows = "".join(f"{p.symbol}|{p.line()}|{p.sees}\n" for p in RECIPE)
    filters = "\n".join(
        f"[ -d \"$T/events/$G/{p.event}\" ] && "
        f"echo '{p.filter}' > \"$T/events/$G/{p.event}/filter\""
        for p in RECIPE if p.filter)
    never = "; ".join(f"{symbol} ({why})" for symbol, why in UNPROBEABLE.items())
    tail = TAIL.replace("@FILTERS@", filters or "# (no probe of the recipe needs a filter)")
    head = HEAD.replace("@GROUP@", GROUP).replace("@SYMBOLS@", "|".join(symbols()))
    return head + rows + tail.replace("@NEVER@", never)
