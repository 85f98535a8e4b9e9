#!/bin/bash
# rsyslogd: receives on /dev/log and writes a file, as user syslog.
. /cases/lib.sh
rsyslogd -f /cases/rsyslog.conf -i /run/rsyslogd.pid || fail "rsyslogd did not start"
wait_for 10 test -S /dev/log || fail "no /dev/log"
wait_for 5 test -n "$(procs rsyslogd)" || fail "no rsyslogd process"
msg="capdrop-$$-$RANDOM"
logger -t capdrop "$msg" || fail "logger failed"
wait_for 10 grep -q "$msg" /var/log/capdrop/messages || fail "the message did not reach the log file"
assert_dropped rsyslogd syslog syslog
stop /run/rsyslogd.pid
pass "a message reached the log file, rsyslogd runs as syslog"
