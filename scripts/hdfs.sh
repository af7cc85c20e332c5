#!/usr/bin/env bash
# A one-node HDFS (a NameNode and a DataNode, real daemons) on 127.0.0.1:9000, from Maven
# Central jars run on the installed JDK. No tarballs, no Docker. Data survives stop/start.
#
#   scripts/hdfs.sh start     fetch the jars (first time), format (first time), start both
#                             daemons, return once a file can be written
#   scripts/hdfs.sh stop      stop both daemons; no process is left behind
#   scripts/hdfs.sh status    exit 0 when a file can be written
#   scripts/hdfs.sh restart   stop then start, keeping the data (for outage tests)
#   scripts/hdfs.sh wipe      stop and delete all data
#   scripts/hdfs.sh dfs ARGS  the Hadoop shell client (hdfs dfs), e.g. dfs -text /tally/raw/… (snappy and gzip too)
#
# Settings (environment): HADOOP_VERSION (3.4.2), HDFS_PORT (9000), TALLY_CACHE (jars;
# ~/.cache/tally), TALLY_HDFS_DIR (data, config and logs; /tmp/tally-hdfs).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
version=${HADOOP_VERSION:-3.4.2}
port=${HDFS_PORT:-9000}
lib=${TALLY_CACHE:-$HOME/.cache/tally}/hadoop-$version/lib
state=${TALLY_HDFS_DIR:-${TMPDIR:-/tmp}/tally-hdfs}
conf=$state/conf
export HADOOP_USER_NAME=${HADOOP_USER_NAME:-tally}

# shellcheck source=scripts/lib.sh
source "$here/lib.sh"
log() { echo "hdfs.sh: $*" >&2; }

# Hadoop's own Java 17 module flags (hadoop_finalize_jpms_opts).
jpms=(-XX:+IgnoreUnrecognizedVMOptions -Djava.net.preferIPv4Stack=true)
for package in java.io java.lang java.lang.reflect java.math java.net java.text java.util \
    java.util.concurrent java.util.zip sun.security.util sun.security.x509; do
    jpms+=("--add-opens=java.base/$package=ALL-UNNAMED")
done

fetch() { fetch_jars "Hadoop" "$here/hdfs/pom.xml" hadoop.version "$version" "$lib"; }

hadoop() { local heap=$1; shift; java "${jpms[@]}" "-Xmx$heap" -Dhadoop.log.dir="$state/logs" -cp "$conf:$lib/*" "$@"; }

configure() {
    mkdir -p "$conf" "$state/logs"
    # The daemons' web UIs look their resources up under webapps/ on the classpath; those ship
    # in Hadoop's tarball, not its jars. Empty directories satisfy the lookup (no web UI).
    mkdir -p "$conf/webapps/hdfs" "$conf/webapps/datanode" "$conf/webapps/static"
    cp "$here/hdfs/log4j.properties" "$conf/"
    cat > "$conf/core-site.xml" <<XML
<configuration>
  <property><name>fs.defaultFS</name><value>hdfs://127.0.0.1:$port</value></property>
  <property><name>hadoop.tmp.dir</name><value>$state/tmp</value></property>
</configuration>
XML
    cat > "$conf/hdfs-site.xml" <<XML
<configuration>
  <property><name>dfs.replication</name><value>1</value></property>
  <property><name>dfs.namenode.name.dir</name><value>file://$state/name</value></property>
  <property><name>dfs.datanode.data.dir</name><value>file://$state/data</value></property>
  <property><name>dfs.namenode.rpc-address</name><value>127.0.0.1:$port</value></property>
  <property><name>dfs.namenode.http-address</name><value>127.0.0.1:$((port + 870))</value></property>
  <property><name>dfs.datanode.address</name><value>127.0.0.1:$((port + 866))</value></property>
  <property><name>dfs.datanode.http.address</name><value>127.0.0.1:$((port + 864))</value></property>
  <property><name>dfs.datanode.ipc.address</name><value>127.0.0.1:$((port + 867))</value></property>
  <property><name>dfs.datanode.hostname</name><value>127.0.0.1</value></property>
  <property><name>dfs.namenode.datanode.registration.ip-hostname-check</name><value>false</value></property>
  <property><name>dfs.permissions.enabled</name><value>false</value></property>
  <property><name>dfs.namenode.safemode.extension</name><value>0</value></property>
  <property><name>dfs.namenode.safemode.min.datanodes</name><value>1</value></property>
  <property><name>dfs.heartbeat.interval</name><value>1</value></property>
  <property><name>dfs.blocksize</name><value>16m</value></property>
  <!-- A file may close once the writer has committed its last block, before the DataNode has
       reported it: fewer closes race the report and wait out the client's 500 ms retry. -->
  <property><name>dfs.namenode.file.close.num-committed-allowed</name><value>1</value></property>
</configuration>
XML
}

running() {
    local any=1
    for daemon in namenode datanode; do
        [ -f "$state/$daemon.pid" ] && kill -0 "$(cat "$state/$daemon.pid")" 2>/dev/null && any=0
    done
    return $any
}

# Writes, reads back and deletes a file: the only readiness that matters.
writable() {
    local probe=/.tally-probe-$$
    hadoop 256m org.apache.hadoop.fs.FsShell -fs "hdfs://127.0.0.1:$port" -put -f "$conf/core-site.xml" "$probe" \
        > /dev/null 2>&1 && hadoop 256m org.apache.hadoop.fs.FsShell -fs "hdfs://127.0.0.1:$port" -rm -skipTrash "$probe" > /dev/null 2>&1
}

start_daemon() {
    local daemon=$1 class=$2
    # setsid: each daemon has its own process group, so stop ends it and nothing else.
    setsid java "${jpms[@]}" -Xmx384m -Dhadoop.log.dir="$state/logs" -cp "$conf:$lib/*" "$class" \
        > "$state/logs/$daemon.log" 2>&1 < /dev/null &
    echo $! > "$state/$daemon.pid"
}

start() {
    if running && writable; then
        log "already running on hdfs://127.0.0.1:$port"
        return
    fi
    stop > /dev/null 2>&1 || true
    fetch
    configure
    if [ ! -d "$state/name/current" ]; then
        rm -rf "$state/data"
        hadoop 256m org.apache.hadoop.hdfs.server.namenode.NameNode -format -nonInteractive -force \
            > "$state/logs/format.log" 2>&1
    fi
    log "starting NameNode and DataNode on hdfs://127.0.0.1:$port (logs: $state/logs)"
    start_daemon namenode org.apache.hadoop.hdfs.server.namenode.NameNode
    start_daemon datanode org.apache.hadoop.hdfs.server.datanode.DataNode
    local deadline=$((SECONDS + 120))
    until writable; do
        for daemon in namenode datanode; do
            if ! kill -0 "$(cat "$state/$daemon.pid")" 2>/dev/null; then
                log "$daemon exited during start:"; tail -n 30 "$state/logs/$daemon.log" >&2; stop; exit 1
            fi
        done
        if [ $SECONDS -ge $deadline ]; then
            log "no file could be written within 120 s"; stop; exit 1
        fi
        sleep 1
    done
    log "ready on hdfs://127.0.0.1:$port"
}

stop() {
    local stopped=1
    for daemon in datanode namenode; do
        stop_group "$state/$daemon.pid" && stopped=0
    done
    [ $stopped = 0 ] && log "stopped"
    return 0
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    restart) stop; start ;;
    status) running && writable && log "up on hdfs://127.0.0.1:$port" || { log "down"; exit 1; } ;;
    wipe) stop; rm -rf "$state"; log "wiped $state" ;;
    dfs) shift; configure > /dev/null; hadoop 256m org.apache.hadoop.fs.FsShell -fs "hdfs://127.0.0.1:$port" "$@" ;;
    *) echo "usage: $0 start|stop|status|restart|wipe|dfs ARGS…" >&2; exit 2 ;;
esac
