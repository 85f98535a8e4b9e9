#!/bin/sh
# /proc unmasked
docker run --rm --cap-drop=ALL --security-opt no-new-privileges alpine:3.20 true
