#!/bin/sh
# Every rule a docker run line can express, one line per case.
docker run -d --name privileged --privileged --cap-add=NET_ADMIN app:1
docker run -d --name defaults app:1
docker run -d --name sysadmin --cap-drop=ALL --cap-add=SYS_ADMIN --security-opt no-new-privileges app:1
docker run -d --name addall --cap-add=ALL --cap-drop=NET_RAW app:1
docker run -d --name both --cap-add NET_ADMIN --cap-drop NET_ADMIN app:1
docker run -d --name typo --cap-drop=ALL --cap-add=NET_ADMN app:1
docker run -d --name nonroot --user 1000 --cap-drop=ALL --cap-add=NET_BIND_SERVICE --security-opt=no-new-privileges app:1
docker run -d --name host --cap-drop=ALL --pid=host --net host --ipc=host --uts=host --userns=host --cgroupns=host --device /dev/kmsg --security-opt seccomp=unconfined --security-opt apparmor=unconfined --security-opt label=disable --security-opt systempaths=unconfined -v /var/run/docker.sock:/var/run/docker.sock:ro --mount type=bind,source=/etc,target=/host/etc -v /:/rootfs:ro -v /srv/data:/data -v /srv/config:/config:ro -v /root/.ssh:/ssh:ro app:1
podman run -d --name podhost --cap-drop=ALL --security-opt unmask=ALL app:1
