#!/bin/sh
# the host's network
docker run -d --net=host --cap-drop=ALL --cap-add=NET_BIND_SERVICE nginx:1.27
