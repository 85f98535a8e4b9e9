#!/bin/bash
# sshd: a public-key login of user tester runs its command as tester.
. /cases/lib.sh
/usr/sbin/sshd -o UsePAM=no -o LogLevel=ERROR -E /tmp/sshd.log || fail "sshd did not start"
wait_for 10 tcp_listening 22 || fail "nothing listens on port 22"
out=$(timeout 20 ssh -i /cases/id_ed25519 -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes \
  tester@127.0.0.1 'grep -E "^(Uid|Gid):" /proc/self/status' 2>/tmp/ssh.err) ||
  fail "ssh login failed: $(tail -n 3 /tmp/ssh.err /tmp/sshd.log 2>/dev/null | tr '\n' ' ')"
uid=$(id -u tester) gid=$(id -g tester)
grep -Eq "^Uid:\s+$uid\s+$uid\s+$uid\s+$uid$" <<<"$out" || fail "the session's command ran with $out, want uid $uid"
grep -Eq "^Gid:\s+$gid\s+$gid\s+$gid\s+$gid$" <<<"$out" || fail "the session's command ran with $out, want gid $gid"
stop /run/sshd.pid
pass "tester logged in with a key, the command ran as tester"
