#!/bin/sh
# /init of the tdxray real-kernel harness (busybox). The command line chooses what it does:
#   tdxray.mode=place   place the probes (a single write, then --script) and power off
#   tdxray.mode=kexec   place, kexec -l this kernel, dump the trace buffer to ttyS1, kexec -e
#   tdxray.mode=tcmd    more trace-cmd record/report shapes (tcmd.sh), then power off
#   tdxray.mode=wide    kexec as above on CPU 13 of many, with trace_marker lines (by hand:
#                       tests/realkernel/record_captures.py)
#   tdxray.mode=kdump   place, kexec -p a capture kernel, dump the trace buffer, sysrq c
#   tdxray.mode=shapes  record the trace and console shapes (shapes.sh), kexec -e into a
#                       second kernel that records its syslog-format console
#   tdxray.mode=devmem  read and write unassigned MMIO (busybox devmem), then power off (by hand:
#                       tests/realkernel/record_guest_errors.py, QEMU's -d guest_errors)
#   tdxray.stage=NAME   a second kernel (kexec'd or the capture kernel): say so, power off
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tracefs nodev /sys/kernel/tracing
T=/sys/kernel/tracing
# Whole kernel-log records: a console line written from user space can be cut by a printk.
say() { echo "tdxray-harness: $*" > /dev/kmsg; }
mode=; stage=; next=
for arg in $(cat /proc/cmdline); do
    case $arg in
        tdxray.mode=*) mode=${arg#*=} ;;
        tdxray.stage=*) stage=${arg#*=} ;;
        crashkernel=*) ;;
        *) next="$next $arg" ;;
    esac
done
if [ "$stage" = shapes ]; then
    TDXRAY_KMSG=/dev/null sh /probes.sh > /dev/kmsg
    sh /shapes.sh second
    say "shapes kernel up"
    poweroff -f
fi
if [ -n "$stage" ]; then
    say "$stage kernel up"
    poweroff -f
fi
lines=$(grep -cE '^[pr]:' /probes.txt)
grep -E '^[pr]:' /probes.txt > $T/kprobe_events
say "single write placed $(grep -c . $T/kprobe_events) of $lines"
: > $T/kprobe_events
TDXRAY_KMSG=/dev/null sh /probes.sh > /dev/kmsg
say "script exit $?"
# What the recipe leaves out: the kernel's answer to each line, with its error_log reason.
while read -r line; do
    : > $T/error_log
    if echo "$line" >> $T/kprobe_events 2>/dev/null; then
        say "accepted ${line%% *}"
    else
        say "refused ${line%% *}: $(sed -n 's/.*error: //p' $T/error_log | head -n 1)"
    fi
done < /unprobeable.txt
case $mode in
    devmem)
        # unassigned MMIO on QEMU's pc machine: QEMU's -d guest_errors logs each access
        devmem 0xfeb00000 32; devmem 0xfeb00004 8 0x5a; devmem 0xfed40000 32
        say "devmem done"
        ;;
    shapes)
        sh /shapes.sh first
        kexec -l /vmlinuz --initrd=/initrd.img \
            --append="${next# } tdxray.stage=shapes console_msg_format=syslog"
        kexec -e
        ;;
    kexec)
        kexec -l /vmlinuz --initrd=/initrd.img --append="${next# } tdxray.stage=second"
        say "kexec -l exit $?"
        # closing ttyS1 waits until its output is sent; the count lets the harness check it
        cat /sys/kernel/tracing/trace > /dev/ttyS1
        say "trace dumped $(grep -c . /sys/kernel/tracing/trace) lines"
        kexec -e
        ;;
    tcmd)
        sh /tcmd.sh
        ;;
    wide)
        # many vCPUs (-smp 16): the load runs on CPU 13, trace_marker lines between the events
        echo "tdxray marker before load" > $T/trace_marker
        taskset 0x2000 kexec -l /vmlinuz --initrd=/initrd.img --append="${next# } tdxray.stage=second"
        say "kexec -l exit $?"
        echo "tdxray marker after load" > $T/trace_marker
        cat /sys/kernel/tracing/trace > /dev/ttyS1
        say "trace dumped $(grep -c . /sys/kernel/tracing/trace) lines"
        taskset 0x800 kexec -e
        ;;
    kdump)
        kexec -p /vmlinuz --initrd=/initrd.img \
            --append="${next# } tdxray.stage=capture nr_cpus=1 irqpoll reset_devices"
        say "kexec -p exit $?"
        # closing ttyS1 waits until its output is sent; the count lets the harness check it
        cat /sys/kernel/tracing/trace > /dev/ttyS1
        say "trace dumped $(grep -c . /sys/kernel/tracing/trace) lines"
        echo c > /proc/sysrq-trigger
        ;;
esac
poweroff -f
