#!/bin/sh
# a whole disk
docker run --rm --cap-drop=ALL alpine:3.20 fdisk -l
