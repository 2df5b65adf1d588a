#!/usr/bin/env bash
# What `make bench` needs beyond `make setup`: wrk (the load generator), nginx (the REST
# upstream) and valgrind (callgrind counts instructions per request), all from Debian.
# Idempotent: apt runs only when one is missing.
set -euo pipefail

missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v valgrind >/dev/null 2>&1 || missing+=(valgrind)
[[ -x "${NGINX_BIN:-/usr/sbin/nginx}" ]] || missing+=(nginx-light)
((${#missing[@]})) || exit 0

sudo_cmd=(); [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
echo "bench-setup: installing ${missing[*]}"
"${sudo_cmd[@]}" apt-get update -qq
# The nginx package starts a system-wide nginx on port 80 after installing; the bench runs its
# own, so keep the service from starting (policy-rc.d answers "not now" to invoke-rc.d), unless
# the machine already has a policy of its own.
policy=/usr/sbin/policy-rc.d
own_policy=false
if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo_cmd[@]}" tee "$policy" >/dev/null
    "${sudo_cmd[@]}" chmod +x "$policy"
    own_policy=true
fi
status=0
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" || status=$?
if $own_policy; then "${sudo_cmd[@]}" rm -f "$policy"; fi
exit "$status"
