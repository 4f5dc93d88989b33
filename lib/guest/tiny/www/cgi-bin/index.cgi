#!/bin/sh
# Instaclone demo app: read the hostname at request time (it changes after a fork).
h=$(hostname)
read -r up idle < /proc/uptime
printf 'Content-Type: text/plain\r\n\r\n'
printf 'hostname: %s\nuptime: %s s\n' "$h" "$up"
[ -r /etc/machine-id ] && printf 'machine-id: %s\n' "$(cat /etc/machine-id)"
