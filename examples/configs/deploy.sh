#!/bin/sh
set -e
IMG=registry.example/web:1.2

docker run -d --name web \
  --cap-drop=ALL --cap-add NET_BIND_SERVICE \
  -e MODE=prod -v /srv/web:/data -p 8080:80 \
  --security-opt no-new-privileges \
  --user 1000:1000 "$IMG" serve --port 80

sudo -E docker container run --rm -it --privileged --network host -u root busybox:1.36 sh
if true; then
  podman run --cap-add=sys_admin,net_admin --security-opt=no-new-privileges=false quay.io/x/y
fi
nerdctl --namespace k8s.io create --entrypoint /bin/true -itu 0 alpine
echo docker run --privileged not-a-command
docker ps -a
