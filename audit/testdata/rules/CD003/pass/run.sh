#!/bin/sh
docker run --cap-drop=ALL --cap-add=NET_BIND_SERVICE app:1
