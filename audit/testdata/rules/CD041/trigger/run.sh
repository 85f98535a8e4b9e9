#!/bin/sh
# a whole disk
docker run --rm --cap-drop=ALL --device=/dev/sda:/dev/xvda:rwm alpine:3.20 fdisk -l /dev/xvda
