# Shared by the case scripts: each starts one daemon, checks that it works
# and that it dropped its privileges as configured, stops it, and exits 0;
# or exits 1 saying what failed. Nothing here needs a capability itself
# (reading /proc/PID/status of other users' processes needs none).
CASE=$(basename "$0" .sh)
fail() { echo "FAIL $CASE: $*" >&2; exit 1; }
note() { echo "note $CASE: $*" >&2; }
pass() { echo "PASS $CASE: $*"; exit 0; }

# wait_for SECONDS CMD...: until CMD succeeds.
wait_for() {
  local n=$(( $1 * 10 )); shift
  while [ $n -gt 0 ]; do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; n=$((n - 1)); done
  return 1
}
tcp_listening() { ss -ltnH "sport = :$1" | grep -q .; }
udp_listening() { ss -lunH "sport = :$1" | grep -q .; }

# procs COMM: the pids of the processes whose command is COMM.
procs() {
  local p
  for p in /proc/[0-9]*; do
    [ "$(cat "$p/comm" 2>/dev/null)" = "$1" ] && echo "${p#/proc/}"
  done
  return 0
}

# assert_dropped COMM USER GROUP [MASTER]: every COMM process runs with
# USER's uid and GROUP's gid (real, effective, saved) and no supplementary
# group 0, and at least one does; with MASTER=1 one process whose parent is
# not COMM may stay root (a master that only supervises).
assert_dropped() {
  local comm=$1 user=$2 group=$3 master=${4:-0} uid gid pid n=0 ru eu su rg eg sg groups ppid
  uid=$(id -u "$user") || fail "no user $user"
  gid=$(getent group "$group" | cut -d: -f3)
  [ -n "$gid" ] || fail "no group $group"
  for pid in $(procs "$comm"); do
    read -r _ ru eu su _ < <(grep '^Uid:' "/proc/$pid/status") || continue
    read -r _ rg eg sg _ < <(grep '^Gid:' "/proc/$pid/status") || continue
    groups=" $(grep '^Groups:' "/proc/$pid/status" | cut -f2) "
    if [ "$ru $eu $su" = "$uid $uid $uid" ] && [ "$rg $eg $sg" = "$gid $gid $gid" ] && [[ $groups != *" 0 "* ]]; then
      n=$((n + 1))
      continue
    fi
    ppid=$(awk '/^PPid:/ { print $2 }' "/proc/$pid/status")
    if [ "$master" = 1 ] && [ "$(cat "/proc/$ppid/comm" 2>/dev/null)" != "$comm" ]; then
      continue
    fi
    fail "$comm process $pid runs as uid $ru/$eu/$su gid $rg/$eg/$sg groups [${groups# }], want $user:$group ($uid:$gid)"
  done
  [ $n -gt 0 ] || fail "no $comm process runs as $user:$group"
}

# stop PIDFILE|PID: asks the daemon to stop, and carries on if it cannot
# (the container's end stops it anyway).
stop() {
  local pid=$1
  [ -f "$pid" ] && pid=$(cat "$pid")
  kill -TERM "$pid" 2>/dev/null || note "could not signal pid $pid"
}
