#!/bin/bash
# Run lines whose capabilities depend on what the script is given.
args=(--cap-add NET_ADMIN)
docker run "${args[@]}" -d --name web "$@" nginx:1.27
docker run --rm $DOCKER_OPTS alpine:3 true
docker run --cap-add "$CAP" busybox
docker run --cap-add "${CAP:-SYS_TIME}" ntp
docker run -u "$(id -u):$(id -g)" --frobnicate img
exec docker run "$@"
