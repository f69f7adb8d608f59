"""ftrace text (tracefs, trace-cmd report): compiled scan of host KVM events, the rest per line."""
