#!/bin/sh
# Ground-truth workload for capdrop verify's tests: performs the named
# privileged operations, each of which needs exactly one capability when run
# as root in a Docker container, and exits 1 if any of them failed.
#   chown    CAP_CHOWN             chown a root-owned file to uid 1000
#   dac      CAP_DAC_OVERRIDE      write to a mode 000 file
#   fowner   CAP_FOWNER            chmod /data/other (owned by uid 1000)
#   mknod    CAP_MKNOD             create a character device
#   chroot   CAP_SYS_CHROOT        chroot
#   ping     CAP_NET_RAW           ICMP echo over a raw socket
#   bind80   CAP_NET_BIND_SERVICE  serve on port 80 (run with the sysctl
#                                  net.ipv4.ip_unprivileged_port_start=1024)
#   netadmin CAP_NET_ADMIN         add an address to lo
#   nice     CAP_SYS_NICE          lower its own nice value
#   mount    CAP_SYS_ADMIN         mount a tmpfs
rc=0
for op in "$@"; do
  case $op in
  chown) touch /tmp/c && chown 1000 /tmp/c ;;
  dac) echo x > /tmp/l && chmod 000 /tmp/l && echo y > /tmp/l ;;
  fowner) chmod 600 /data/other ;;
  mknod) rm -f /tmp/n; mknod /tmp/n c 1 3 ;;
  chroot) chroot / true ;;
  ping) ping -c1 -W2 127.0.0.1 >/dev/null ;;
  bind80)
    httpd -f -p 80 -h /www & p=$!
    up=1; i=0
    while [ $i -lt 50 ]; do
      if wget -q -O /dev/null http://127.0.0.1:80/; then up=0; break; fi
      kill -0 $p 2>/dev/null || break
      sleep 0.1; i=$((i+1))
    done
    kill $p 2>/dev/null
    [ $up -eq 0 ] ;;
  netadmin) ip addr add 10.9.9.9/32 dev lo ;;
  nice) renice -n -5 $$ >/dev/null ;;
  mount) mkdir -p /mnt/t && mount -t tmpfs none /mnt/t ;;
  *) echo "unknown operation $op"; exit 2 ;;
  esac
  if [ $? -eq 0 ]; then echo "ok $op"; else echo "FAILED $op"; rc=1; fi
done
exit $rc
