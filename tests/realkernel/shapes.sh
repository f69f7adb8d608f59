#!/bin/sh
# The shapes a user may hand tdxray, recorded on a real kernel (tests/realkernel/record_shapes.py
# boots it and splits the output). `sh /shapes.sh first` runs in the first kernel after the
# probes are placed; `sh /shapes.sh second` in the kexec'd kernel (console_msg_format=syslog).
# Trace files go to ttyS1, each after a `@@@ shape NAME` line; console shapes are between
# `tdxray-harness: shape NAME begin/end` kernel-log lines.
T=/sys/kernel/tracing
exec 3> /dev/ttyS1
say() { echo "tdxray-harness: $*" > /dev/kmsg; }
INITRD=--initrd=/initrd.img
[ -e /initrd.img ] || INITRD=  # the second kernel's image holds no image of its own
load() { kexec -l /vmlinuz $INITRD --append="tdxray.stage=none" && kexec -u; }
dump() { echo "@@@ shape $1" >&3; cat "${2:-$T/trace}" >&3; }
pipe() { echo "@@@ shape $1" >&3; timeout 3 cat "$T/trace_pipe" >&3; }
console() { say "shape $1 begin"; shift; "$@"; say "shape end"; }
notime() { echo N > /sys/module/printk/parameters/time; load; echo Y > /sys/module/printk/parameters/time; }
if [ "$1" = second ]; then
    console syslog load
    console syslog-notime notime
    exit 0
fi
echo 0 > $T/tracing_on; echo > $T/trace; echo 1 > $T/tracing_on
console default load
taskset 2 kexec -l /vmlinuz --initrd=/initrd.img --append="tdxray.stage=none"; kexec -u
echo "tdxray shape marker" > $T/trace_marker
dump default
dump cpu0 $T/per_cpu/cpu0/trace
dump cpu1 $T/per_cpu/cpu1/trace
for opt in noirq-info record-tgid latency-format sym-addr sym-offset raw hex nocontext-info; do
    echo $opt > $T/trace_options
    dump "option-$opt"
    case $opt in no*) echo "${opt#no}" ;; *) echo "no$opt" ;; esac > $T/trace_options
done
echo record-tgid > $T/trace_options; echo latency-format > $T/trace_options
dump option-latency-tgid
echo norecord-tgid > $T/trace_options; echo nolatency-format > $T/trace_options
pipe pipe
for clock in mono x86-tsc counter uptime boot mono_raw perf local global; do
    echo $clock > $T/trace_clock
    load
    dump "clock-$clock"
done
console notime notime
# A ring buffer that wraps: the kmem events fill 4 KiB per CPU while the probes fire.
echo 0 > /proc/sys/kernel/tracepoint_printk
echo 4 > $T/buffer_size_kb
echo 1 > $T/events/kmem/enable
find /sys > /dev/null
load
echo 0 > $T/events/kmem/enable
dump wrap
pipe lost
echo 1408 > $T/buffer_size_kb
echo 1 > /proc/sys/kernel/tracepoint_printk
if [ -x /usr/bin/trace-cmd ]; then
    mkdir -p /tmp
    trace-cmd record -e tdxray -o /tmp/t.dat sh -c 'kexec -l /vmlinuz --initrd=/initrd.img --append=x; kexec -u' > /dev/null 2>&1
    say "trace-cmd record exit $?"
    echo "@@@ shape trace-cmd-report" >&3; trace-cmd report -i /tmp/t.dat >&3 2>&1
    echo "@@@ shape trace-cmd-report-t" >&3; trace-cmd report -t -i /tmp/t.dat >&3 2>&1
    echo "@@@ shape trace-cmd-report-cpu" >&3; trace-cmd report --cpu 0 -i /tmp/t.dat >&3 2>&1
    echo "@@@ shape trace-cmd-report-l" >&3; trace-cmd report -l -i /tmp/t.dat >&3 2>&1
    echo "@@@ shape trace-cmd-report-R" >&3; trace-cmd report -R -i /tmp/t.dat >&3 2>&1
    echo "@@@ shape trace-cmd-report-ts-diff" >&3; trace-cmd report --ts-diff -i /tmp/t.dat >&3 2>&1
    echo "@@@ shape trace-cmd-report-N" >&3; trace-cmd report -N -i /tmp/t.dat >&3 2>&1
    echo global > $T/trace_clock
    echo 1 > $T/events/tdxray/enable; echo 1 > $T/tracing_on
fi
# A kernel stack after each event (stacktrace), and the verbose latency format.
echo stacktrace > $T/trace_options; load; echo nostacktrace > $T/trace_options
dump option-stacktrace
echo latency-format > $T/trace_options; echo verbose > $T/trace_options
dump option-latency-verbose
echo noverbose > $T/trace_options; echo nolatency-format > $T/trace_options
# The function tracers on the kexec load (print-parent is on by default).
echo machine_kexec_prepare > $T/set_ftrace_filter
echo function > $T/current_tracer
load
dump function
echo noprint-parent > $T/trace_options; dump function-noprint-parent
echo print-parent > $T/trace_options
echo sym-offset > $T/trace_options; dump function-sym-offset
echo nosym-offset > $T/trace_options
echo function_graph > $T/current_tracer
load
dump function_graph
echo nop > $T/current_tracer; echo > $T/set_ftrace_filter
echo 0 > $T/tracing_on; echo > $T/trace; echo 1 > $T/tracing_on
load
console sysrq-z sh -c 'echo z > /proc/sysrq-trigger'
echo 1 > $T/tracing_on
# Two instances (instances/NAME: a buffer and a tracing_on of their own), the probes enabled in
# each; instance a is off for the first load, so it holds the second load only.
for i in a b; do
    mkdir $T/instances/$i
    echo 1 > $T/instances/$i/events/tdxray/kexec_load/enable
    echo 1 > $T/instances/$i/events/tdxray/kexec_load_ret/enable
done
echo 1 > $T/instances/b/events/sched/sched_process_exec/enable
echo 0 > $T/instances/a/tracing_on
load
echo 1 > $T/instances/a/tracing_on
load
dump instance-a $T/instances/a/trace
dump instance-b $T/instances/b/trace
echo "@@@ shape end" >&3
exec 3>&-
