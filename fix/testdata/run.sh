#!/bin/sh
# Start the shop.
set -e

docker run -d --name web \
  --cap-add=NET_ADMIN \
  --cap-add NET_BIND_SERVICE \
  -p 80:80 \
  nginx:1.25

sudo podman run --rm -it --cap-add=chown,kill busybox sh -c 'echo --cap-add=SYS_ADMIN'

CAPS=NET_RAW
docker run --cap-add "$CAPS" busybox ping -c1 db
docker run --privileged busybox true
docker run --cap-drop=all --cap-add=Cap_Chown "shop/api" # already right for CHOWN
