#!/bin/sh
# no AppArmor profile
docker run --rm --cap-drop=ALL --security-opt apparmor:unconfined alpine:3.20 true
