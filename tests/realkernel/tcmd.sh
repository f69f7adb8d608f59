#!/bin/sh
# More trace-cmd shapes (tdxray.mode=tcmd; by hand: python -m tests.realkernel.record_shapes
# 6.12 OUT tcmd): a record with a second buffer (-B), records on other clocks (-C), a small
# per-CPU buffer that overflows (-b), each dumped to ttyS1 after a `@@@ shape NAME` line.
T=/sys/kernel/tracing
exec 3> /dev/ttyS1
say() { echo "tdxray-harness: $*" > /dev/kmsg; }
load='kexec -l /vmlinuz --initrd=/initrd.img --append=x; kexec -u'
rep() { echo "@@@ shape $1" >&3; shift; trace-cmd report "$@" >&3 2>&1; }
mkdir -p /tmp
echo 0 > /proc/sys/kernel/tracepoint_printk
trace-cmd record -e tdxray -B inst -e tdxray:kexec_load -e tdxray:kexec_load_ret \
    -o /tmp/b.dat sh -c "$load; $load" > /dev/null 2>&1
say "trace-cmd record -B exit $?"
rep trace-cmd-report-B -i /tmp/b.dat
rep trace-cmd-report-B-t -t -i /tmp/b.dat
for clock in mono x86-tsc counter; do
    trace-cmd record -C $clock -e tdxray -o /tmp/c.dat sh -c "$load" > /dev/null 2>&1
    say "trace-cmd record -C $clock exit $?"
    rep "trace-cmd-report-C-$clock" -i /tmp/c.dat
done
trace-cmd record -b 4 -e tdxray -e kmem -o /tmp/o.dat sh -c "find /sys > /dev/null; $load" \
    > /dev/null 2>&1
say "trace-cmd record -b 4 exit $?"
rep trace-cmd-report-overflow -i /tmp/o.dat
echo "@@@ shape trace-cmd-stat" >&3; trace-cmd stat >&3 2>&1
echo "@@@ shape end" >&3
exec 3>&-
