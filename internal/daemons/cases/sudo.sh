#!/bin/bash
# sudo: root runs a command as nobody:nogroup.
. /cases/lib.sh
out=$(sudo -u nobody -g nogroup sh -c 'grep -E "^(Uid|Gid|Groups):" /proc/self/status') || fail "sudo failed"
grep -Eq '^Uid:\s+65534\s+65534\s+65534\s+65534$' <<<"$out" || fail "the command ran with $out, want uid 65534"
grep -Eq '^Gid:\s+65534\s+65534\s+65534\s+65534$' <<<"$out" || fail "the command ran with $out, want gid 65534"
grep -Eq '^Groups:\s*(65534)?\s*$' <<<"$out" || fail "the command kept groups: $out"
pass "the command ran as nobody:nogroup"
