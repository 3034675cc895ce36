#!/bin/sh
# A Docker daemon for the engine tier of the tests: tests/engine/dockerd.sh start|stop|status|selftest
#
#   start     use the daemon at $DOCKER_HOST or /var/run/docker.sock if one answers; otherwise (as
#             root) install Debian's docker.io if dockerd is missing and start dockerd in the
#             background on unix:///var/run/docker.sock, wait until it answers, and record that
#             this script started it. Idempotent.
#   stop      stop the daemon only if this script started it; a daemon found running is left alone.
#   status    exit 0 and say which daemon answers, with "(started by this script, pid N)" when this
#             script started it or "(an external daemon)"; exit 1 when none answers.
#   selftest  run a container from the engine tier's base image (tests/engine/images/build.py
#             builds it) that publishes a port on 127.0.0.1 and on the docker0 address and has a
#             healthcheck; exit 0 when it turns healthy and both ports answer.
#
# Exit status: 0 ok; 1 failure; 3 no daemon answers and none can be started here (not root), with a
# one-line reason on stdout that a test can use as its skip reason.
#
# State (pid, log, the "started by us" marker) lives outside the work tree, in $OW_ENGINE_STATE_DIR
# (default /var/run/openwhisk-engine-tier).
#
# Daemon flags, and why (see tests/engine/images/README.md):
#   --bip 172.17.0.1/16   the dev stack (Pulumi.dev.yaml) addresses every service at 172.17.0.1;
#   --iptables=true with the host's default iptables (nft backend on bookworm): both iptables-nft and
#                         iptables-legacy work in this sandbox; OW_ENGINE_IPTABLES=legacy switches the
#                         alternatives to iptables-legacy before starting, =false starts the daemon
#                         with --iptables=false (then published ports rely on docker-proxy only);
#   net.ipv4.ip_forward=1 is set by dockerd itself (containers reach the host and each other);
#   userland proxy on (the default), so ports published on 127.0.0.1 answer from the host;
#   --default-runtime owtest-runc, only when this machine's root lacks a capability (this sandbox's
#                         bounding set has no CAP_SYS_RESOURCE): a runc wrapper that drops from each
#                         container's config the capabilities the host cannot grant, since Debian's
#                         dockerd 20.10 asks for every capability for --privileged containers (the
#                         plan's invoker is privileged) and runc then fails "unable to apply caps".
#                         Without CAP_SYS_RESOURCE no rlimit can be raised above the daemon's own
#                         hard limit either (nofile is 20000 here; the plan's ElasticSearch asks for
#                         65536), so the wrapper also lowers such rlimits to the host's hard limit.

set -eu

STATE_DIR=${OW_ENGINE_STATE_DIR:-/var/run/openwhisk-engine-tier}
SOCK=/var/run/docker.sock
BRIDGE_IP=${OW_ENGINE_BRIDGE_IP:-172.17.0.1}
BASE_IMAGE=${OW_ENGINE_BASE_IMAGE:-owtest/debian-base:bookworm}
PIDFILE=$STATE_DIR/dockerd.pid
LOG=$STATE_DIR/dockerd.log
OURS=$STATE_DIR/started-by-engine-tier
START_TIMEOUT=${OW_ENGINE_DOCKERD_TIMEOUT:-60}
RUNC_WRAPPER=$STATE_DIR/runc-capfilter

say() { printf 'dockerd.sh: %s\n' "$*"; }
die() { printf 'dockerd.sh: %s\n' "$*" >&2; exit 1; }

# The client: the one on PATH (the image ships /usr/local/bin/docker; Debian's docker.io adds
# /usr/bin/docker, which comes later on PATH and is only used when no other exists).
docker_bin() { command -v docker 2>/dev/null || echo /usr/bin/docker; }

# answers ENDPOINT: the daemon at ENDPOINT answers `docker info`
answers() { DOCKER_HOST=$1 timeout 10 "$(docker_bin)" info >/dev/null 2>&1; }

# endpoint: the endpoint of a daemon that answers, empty when none does
endpoint() {
    if [ -n "${DOCKER_HOST:-}" ] && answers "$DOCKER_HOST"; then
        echo "$DOCKER_HOST"
    elif answers "unix://$SOCK"; then
        echo "unix://$SOCK"
    fi
}

our_pid() {
    [ -f "$OURS" ] && [ -f "$PIDFILE" ] || return 1
    _pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
    [ -n "$_pid" ] && kill -0 "$_pid" 2>/dev/null || return 1
    # The pid must still be a dockerd (not a reused pid).
    case $(cat "/proc/$_pid/comm" 2>/dev/null) in dockerd) echo "$_pid" ;; *) return 1 ;; esac
}

install_docker() {
    command -v dockerd >/dev/null 2>&1 && return 0
    say "dockerd not found: installing Debian's docker.io"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >"$STATE_DIR/apt.log" 2>&1 || die "apt-get update failed, see $STATE_DIR/apt.log"
    apt-get install -y -q docker.io >>"$STATE_DIR/apt.log" 2>&1 \
        || die "apt-get install docker.io failed, see $STATE_DIR/apt.log"
    command -v dockerd >/dev/null 2>&1 || die "docker.io installed but dockerd is not on PATH"
}

# caps_missing: true when the bounding set of this shell lacks a capability the kernel knows
caps_missing() {
    _last=$(cat /proc/sys/kernel/cap_last_cap 2>/dev/null) || return 1
    _bnd=$(sed -n 's/^CapBnd:[[:space:]]*//p' /proc/self/status)
    [ "$((0x$_bnd))" != "$(((1 << (_last + 1)) - 1))" ]
}

# write_runc_wrapper: a runc that first removes, from the OCI bundle's config.json (create/run) or
# the process file (exec), the capabilities outside this machine's bounding set.
write_runc_wrapper() {
    cat >"$RUNC_WRAPPER" <<'EOF_WRAPPER'
#!/usr/bin/python3
"""runc wrapper of tests/engine/dockerd.sh: drop capabilities the host cannot grant and lower
rlimits above the host's hard limits (raising them needs CAP_SYS_RESOURCE), then exec runc."""
import json, os, resource, sys

NAMES = ("CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP "
         "LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER "
         "SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE "
         "SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP "
         "MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF "
         "CHECKPOINT_RESTORE").split()
bnd = int(next(l.split()[1] for l in open("/proc/self/status") if l.startswith("CapBnd:")), 16)
allowed = {"CAP_" + n for i, n in enumerate(NAMES) if bnd >> i & 1}


def strip(caps):
    for key, value in list(caps.items()):
        if isinstance(value, list):
            caps[key] = [c for c in value if c in allowed or not c.startswith("CAP_")]


def clamp(rlimits):
    for rl in rlimits:
        which = getattr(resource, str(rl.get("type")), None)
        if which is None:
            continue
        hard = resource.getrlimit(which)[1]
        if hard != resource.RLIM_INFINITY and rl.get("hard", 0) > hard:
            rl["hard"] = hard
            rl["soft"] = min(rl.get("soft", hard), hard)


args = sys.argv[1:]
for flag, inner in (("--bundle", "config.json"), ("-b", "config.json"), ("--process", None), ("-p", None)):
    if flag in args and args.index(flag) + 1 < len(args):
        path = args[args.index(flag) + 1]
        path = os.path.join(path, inner) if inner else path
        if os.path.isfile(path):
            with open(path) as f:
                doc = json.load(f)
            proc = doc.get("process") or {} if inner else doc
            if isinstance(proc.get("capabilities"), dict):
                strip(proc["capabilities"])
            if isinstance(proc.get("rlimits"), list):
                clamp(proc["rlimits"])
            with open(path, "w") as f:
                json.dump(doc, f)
os.execvp("runc", ["runc"] + args)
EOF_WRAPPER
    chmod 755 "$RUNC_WRAPPER"
}

cmd_start() {
    _ep=$(endpoint)
    if [ -n "$_ep" ]; then
        if _pid=$(our_pid); then say "daemon running at $_ep (started by this script, pid $_pid)"
        else say "daemon running at $_ep (an external daemon; stop leaves it alone)"; fi
        return 0
    fi
    if [ "$(id -u)" != 0 ]; then
        echo "no Docker daemon answers at ${DOCKER_HOST:-unix://$SOCK} and starting one needs root"
        exit 3
    fi
    mkdir -p "$STATE_DIR"
    if ! _pid=$(our_pid); then
        install_docker
        case ${OW_ENGINE_IPTABLES:-default} in
            legacy) update-alternatives --set iptables /usr/sbin/iptables-legacy >/dev/null
                    update-alternatives --set ip6tables /usr/sbin/ip6tables-legacy >/dev/null ;;
            nft) update-alternatives --set iptables /usr/sbin/iptables-nft >/dev/null
                 update-alternatives --set ip6tables /usr/sbin/ip6tables-nft >/dev/null ;;
        esac
        _iptables=true
        [ "${OW_ENGINE_IPTABLES:-}" != false ] || _iptables=false
        # A stale socket or pid file of a dead daemon would stop dockerd from starting.
        [ -S "$SOCK" ] && rm -f "$SOCK"
        rm -f /var/run/docker.pid "$PIDFILE"
        set -- --host "unix://$SOCK" --pidfile "$PIDFILE" --bip "$BRIDGE_IP/16" \
            --iptables="$_iptables" --log-level warn
        if caps_missing; then
            write_runc_wrapper
            set -- "$@" --add-runtime "owtest-runc=$RUNC_WRAPPER" --default-runtime owtest-runc
            say "this machine's root lacks capabilities: containers run through $RUNC_WRAPPER"
        fi
        # setsid: the daemon outlives the shell (and the job group) that started it.
        setsid dockerd "$@" >>"$LOG" 2>&1 </dev/null &
        echo "$!" >"$STATE_DIR/dockerd.launcher.pid"
        : >"$OURS"
        say "starting dockerd (log: $LOG)"
    fi
    _deadline=$(($(date +%s) + START_TIMEOUT))
    until answers "unix://$SOCK"; do
        if [ "$(date +%s)" -ge "$_deadline" ]; then
            tail -n 20 "$LOG" >&2 2>/dev/null || true
            die "dockerd did not answer within ${START_TIMEOUT}s; see $LOG"
        fi
        if ! kill -0 "$(cat "$STATE_DIR/dockerd.launcher.pid" 2>/dev/null || echo 0)" 2>/dev/null \
            && ! our_pid >/dev/null; then
            rm -f "$OURS"
            tail -n 20 "$LOG" >&2 2>/dev/null || true
            die "dockerd exited at startup; see $LOG"
        fi
        sleep 0.5
    done
    say "daemon running at unix://$SOCK (started by this script, pid $(our_pid || echo '?'))"
    if [ -n "${DOCKER_HOST:-}" ] && [ "$DOCKER_HOST" != "unix://$SOCK" ]; then
        say "note: DOCKER_HOST=$DOCKER_HOST does not answer; use DOCKER_HOST=unix://$SOCK"
    fi
}

cmd_stop() {
    if ! _pid=$(our_pid); then
        rm -f "$OURS"
        say "no daemon started by this script is running; nothing stopped"
        return 0
    fi
    kill -TERM "$_pid"
    _deadline=$(($(date +%s) + 30))
    while kill -0 "$_pid" 2>/dev/null; do
        [ "$(date +%s)" -lt "$_deadline" ] || { kill -KILL "$_pid" 2>/dev/null || true; break; }
        sleep 0.5
    done
    rm -f "$OURS" "$PIDFILE" "$STATE_DIR/dockerd.launcher.pid"
    say "stopped dockerd (pid $_pid)"
}

cmd_status() {
    _ep=$(endpoint)
    if [ -z "$_ep" ]; then
        echo "no Docker daemon answers at ${DOCKER_HOST:-unix://$SOCK}"
        return 1
    fi
    if _pid=$(our_pid); then echo "running at $_ep (started by this script, pid $_pid)"
    else echo "running at $_ep (an external daemon)"; fi
}

cmd_selftest() {
    _ep=$(endpoint)
    [ -n "$_ep" ] || { echo "no Docker daemon answers; run $0 start"; exit 3; }
    export DOCKER_HOST=$_ep
    _docker=$(docker_bin)
    "$_docker" image inspect "$BASE_IMAGE" >/dev/null 2>&1 \
        || die "image $BASE_IMAGE missing; build it: python -m tests.engine.images.build"
    _name=owtest-selftest-$$
    # shellcheck disable=SC2064
    trap "$_docker rm -f $_name >/dev/null 2>&1 || true" EXIT
    "$_docker" run -d --name "$_name" -p "127.0.0.1:18765:8000" -p "$BRIDGE_IP:18766:8000" \
        --health-cmd 'curl -fsS http://127.0.0.1:8000/ >/dev/null' --health-interval 1s \
        --health-start-period 10s "$BASE_IMAGE" python3 -m http.server 8000 >/dev/null
    _deadline=$(($(date +%s) + 60))
    while :; do
        _h=$("$_docker" inspect --format '{{.State.Health.Status}}' "$_name")
        [ "$_h" = healthy ] && break
        [ "$(date +%s)" -lt "$_deadline" ] || die "selftest: container health is '$_h' after 60s"
        sleep 1
    done
    for _addr in 127.0.0.1:18765 "$BRIDGE_IP:18766"; do
        curl -fsS -o /dev/null --max-time 5 "http://$_addr/" || die "selftest: published port $_addr does not answer"
    done
    # A container reaches a port published on the bridge address.
    "$_docker" run --rm "$BASE_IMAGE" curl -fsS -o /dev/null --max-time 5 "http://$BRIDGE_IP:18766/" \
        || die "selftest: a container cannot reach $BRIDGE_IP:18766"
    say "selftest passed: container healthy, ports published on 127.0.0.1 and $BRIDGE_IP, bridge reachable from containers"
}

case ${1:-} in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    selftest) cmd_selftest ;;
    *) echo "usage: $0 start|stop|status|selftest" >&2; exit 2 ;;
esac
