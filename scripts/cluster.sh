#!/usr/bin/env bash
# Runs tally as a timely cluster: N processes × W worker threads, exchanging data over TCP.
#
#   scripts/cluster.sh (--local N | --hostfile FILE) [--workers W] [--supervise] [--logs DIR]
#                      -- run|replay [tally arguments…]
#
#   --local N        N processes on 127.0.0.1, on free ports
#   --hostfile FILE  one HOST:PORT per line (line i = process i; blank lines and # comments are
#                    skipped). PORT is the timely port the process listens on. Processes on other
#                    hosts are started over ssh (see README, "Running across machines").
#   --workers W      worker threads per process (default 1)
#   --supervise      when any process dies, stop the rest and start the whole cluster again
#                    (a Kafka job then recovers from its latest snapshot); at most
#                    --max-restarts times (default 20)
#   --logs DIR       where each process's log goes (default a new directory under /tmp)
#
# Process 0's standard output is this script's standard output (`--stop-at-end` prints the
# final results JSON there); every process's standard error, and the others' standard output,
# go to DIR/process-<i>.log. Process i serves HTTP on the --listen port plus i.
# Ctrl-C (or TERM) stops every process. The exit status is process 0's, or the first failure's.
#
# Environment: TALLY_BIN (the tally binary; default: target/release/tally, built if missing),
# TALLY_REMOTE_BIN (tally on remote hosts; default: tally), TALLY_REMOTE_DIR (working directory
# on remote hosts; default: the remote login directory), TALLY_SSH (default: ssh -o BatchMode=yes),
# TALLY_LOCAL_HOSTS (the host names started without ssh; default: 127.* localhost and this
# machine's names).
set -euo pipefail
# A script's background job (`cluster.sh … &` without job control, or under nohup) starts with
# SIGINT ignored, and bash cannot trap a signal ignored on entry: Ctrl-C (kill -INT) would then
# reach nothing and leave every process running. So start once more with it restored.
if [ -z "${TALLY_CLUSTER_SIGINT_RESTORED:-}" ] && env --default-signal=INT true 2> /dev/null; then
    TALLY_CLUSTER_SIGINT_RESTORED=1 exec env --default-signal=INT "$BASH" "$0" "$@"
fi
here=$(cd "$(dirname "$0")" && pwd)
log() { echo "cluster.sh: $*" >&2; }
usage() { sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

local_count="" hostfile="" workers=1 supervise=0 max_restarts=20 logs=""
while [ $# -gt 0 ]; do
    case $1 in
        --local) local_count=${2:?--local needs a count}; shift 2 ;;
        --hostfile) hostfile=${2:?--hostfile needs a file}; shift 2 ;;
        --workers) workers=${2:?--workers needs a count}; shift 2 ;;
        --supervise) supervise=1; shift ;;
        --max-restarts) max_restarts=${2:?--max-restarts needs a count}; shift 2 ;;
        --logs) logs=${2:?--logs needs a directory}; shift 2 ;;
        --) shift; break ;;
        -h|--help) usage ;;
        *) log "unknown option $1"; usage ;;
    esac
done
[ $# -gt 0 ] || { log "missing the tally command (run or replay) after --"; usage; }
case $1 in run|replay) ;; *) log "the command must be run or replay, not $1"; exit 2 ;; esac
if { [ -n "$local_count" ] && [ -n "$hostfile" ]; } || { [ -z "$local_count" ] && [ -z "$hostfile" ]; }; then
    log "give exactly one of --local N and --hostfile FILE"; exit 2
fi
[[ $workers =~ ^[1-9][0-9]*$ ]] || { log "--workers must be a positive number"; exit 2; }
[[ $max_restarts =~ ^[0-9]+$ ]] || { log "--max-restarts must be a number"; exit 2; }

bin=${TALLY_BIN:-}
if [ -z "$bin" ]; then
    bin=$here/../target/release/tally
    [ -x "$bin" ] || (cd "$here/.." && cargo build --release -q)
fi
ssh_cmd=${TALLY_SSH:-ssh -o BatchMode=yes}
logs=${logs:-$(mktemp -d "${TMPDIR:-/tmp}/tally-cluster.XXXXXX")}
mkdir -p "$logs"

# The processes' timely addresses, in process order.
free_ports() {
    python3 - "$1" <<'PY'
import socket, sys
sockets = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in sockets:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in sockets))
PY
}
addresses=()
plan() {
    addresses=()
    if [ -n "$local_count" ]; then
        [[ $local_count =~ ^[1-9][0-9]*$ ]] || { log "--local must be a positive number"; exit 2; }
        for port in $(free_ports "$local_count"); do addresses+=("127.0.0.1:$port"); done
    else
        while IFS= read -r line || [ -n "$line" ]; do
            line=${line%%#*}; line=${line//[[:space:]]/}
            [ -n "$line" ] && addresses+=("$line")
        done < "$hostfile"
        [ ${#addresses[@]} -gt 0 ] || { log "$hostfile lists no processes"; exit 2; }
    fi
}

local_hosts=${TALLY_LOCAL_HOSTS-127.* localhost \\[::1\\] $(hostname) $(hostname -f 2>/dev/null || true)}
read -ra local_patterns <<< "$local_hosts"
is_local() {
    local host=${1%:*} pattern
    for pattern in "${local_patterns[@]}"; do
        # shellcheck disable=SC2053
        [[ $host == $pattern ]] && return 0
    done
    return 1
}

# Runs a command on HOST over ssh (the arguments are quoted for the remote shell).
remote() {
    local host=$1; shift
    # shellcheck disable=SC2086
    $ssh_cmd "$host" "$(printf '%q ' "$@")"
}

pids=()
peers=""
start_all() {
    plan
    peers=$(IFS=,; echo "${addresses[*]}")
    pids=()
    local i address args out
    for i in "${!addresses[@]}"; do
        address=${addresses[$i]}
        args=("$@" --workers "$workers" --peers "$peers" --process "$i")
        out=$logs/process-$i.log
        echo "=== $(date -u +%FT%TZ) start: tally ${args[*]}" >> "$out"
        if is_local "$address"; then
            if [ "$i" = 0 ]; then "$bin" "${args[@]}" 2>> "$out" & else "$bin" "${args[@]}" >> "$out" 2>&1 & fi
        else
            local start=(sh -c 'cd "$1" && shift && exec "$@"' sh "${TALLY_REMOTE_DIR:-.}" "${TALLY_REMOTE_BIN:-tally}" "${args[@]}")
            if [ "$i" = 0 ]; then remote "${address%:*}" "${start[@]}" 2>> "$out" < /dev/null &
            else remote "${address%:*}" "${start[@]}" >> "$out" 2>&1 < /dev/null & fi
        fi
        pids+=($!)
        log "process $i at $address (pid $!) logs to $out"
    done
}

# Stops every process still running: SIGNAL (INT lets tally finish cleanly), up to GRACE
# seconds, then KILL. Remote processes are signalled over ssh.
stop_all() {
    local signal=$1 grace=$2 i
    for i in "${!pids[@]}"; do
        kill -0 "${pids[$i]}" 2>/dev/null || continue
        if is_local "${addresses[$i]}"; then
            kill "-$signal" "${pids[$i]}" 2>/dev/null || true
        else
            remote "${addresses[$i]%:*}" pkill "-$signal" -f -- "--peers $peers --process $i" || true
        fi
    done
    for _ in $(seq 1 $((grace * 10))); do
        local alive=0
        for i in "${!pids[@]}"; do kill -0 "${pids[$i]}" 2>/dev/null && alive=1; done
        [ $alive = 0 ] && break
        sleep 0.1
    done
    for i in "${!pids[@]}"; do
        if kill -0 "${pids[$i]}" 2>/dev/null; then
            is_local "${addresses[$i]}" || remote "${addresses[$i]%:*}" pkill -KILL -f -- "--peers $peers --process $i" || true
            kill -KILL "${pids[$i]}" 2>/dev/null || true
        fi
        wait "${pids[$i]}" 2>/dev/null || true
    done
}

interrupted() {
    log "stopping every process"
    stop_all INT 30
    exit 130
}
trap interrupted INT TERM

# Waits until process 0 ends well (0) or any process ends badly (its status).
watch_cluster() {
    local -A running=()
    local i pid status
    for i in "${!pids[@]}"; do running[${pids[$i]}]=$i; done
    while [ ${#running[@]} -gt 0 ]; do
        status=0
        wait -n -p pid "${!running[@]}" || status=$?
        i=${running[$pid]}
        unset "running[$pid]"
        if [ "$status" != 0 ]; then
            log "process $i exited with status $status"
            return "$status"
        fi
        if [ "$i" = 0 ]; then
            return 0
        fi
    done
    return 0
}

restarts=0
while true; do
    start_all "$@"
    status=0
    watch_cluster || status=$?
    if [ "$status" = 0 ]; then
        # Process 0 is done, and the others end with it; any still running are told to stop.
        stop_all INT 30
        exit 0
    fi
    stop_all KILL 5
    if [ $supervise = 0 ]; then
        exit "$status"
    fi
    restarts=$((restarts + 1))
    if [ $restarts -gt "$max_restarts" ]; then
        log "giving up after $max_restarts restarts"
        exit "$status"
    fi
    log "restarting the cluster (restart $restarts of at most $max_restarts)"
done
