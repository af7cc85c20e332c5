#!/usr/bin/env bash
# A single-node Apache Kafka (KRaft: broker and controller in one JVM) on 127.0.0.1, from
# Maven Central jars run on the installed JDK. No tarballs, no Docker.
#
#   scripts/kafka.sh start     fetch the jars (first time), format, start, wait for metadata,
#                              create the topic
#   scripts/kafka.sh stop      stop the broker; no process is left behind
#   scripts/kafka.sh status    exit 0 when the broker answers metadata requests
#   scripts/kafka.sh restart   stop then start, keeping the data (for outage tests)
#   scripts/kafka.sh wipe      stop and delete the broker's data
#   scripts/kafka.sh create-topic NAME PARTITIONS [KEY=VALUE…]   (topic settings, e.g.
#                              max.message.bytes=16777216)
#   scripts/kafka.sh delete-topic NAME
#
# Settings (environment): KAFKA_VERSION (4.1.1), KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT
# (9093), KAFKA_TOPIC (voter_data), KAFKA_PARTITIONS (8), TALLY_CACHE (jars; ~/.cache/tally),
# TALLY_KAFKA_DIR (data and logs; /tmp/tally-kafka).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
version=${KAFKA_VERSION:-4.1.1}
port=${KAFKA_PORT:-9092}
controller_port=${KAFKA_CONTROLLER_PORT:-9093}
topic=${KAFKA_TOPIC:-voter_data}
partitions=${KAFKA_PARTITIONS:-8}
lib=${TALLY_CACHE:-$HOME/.cache/tally}/kafka-$version/lib
state=${TALLY_KAFKA_DIR:-${TMPDIR:-/tmp}/tally-kafka}
bootstrap=127.0.0.1:$port
pidfile=$state/kafka.pid

# shellcheck source=scripts/lib.sh
source "$here/lib.sh"
log() { echo "kafka.sh: $*" >&2; }

fetch() { fetch_jars "Apache Kafka" "$here/kafka/pom.xml" kafka.version "$version" "$lib"; }

admin() { java -Xmx128m -cp "$lib/*" "$here/kafka/KafkaAdmin.java" "$bootstrap" "$@"; }

running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

configure() {
    mkdir -p "$state/data" "$state/logs"
    cat > "$state/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$state/data
num.partitions=$partitions
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
PROPS
}

start() {
    if running && admin ready 2>/dev/null; then
        log "already running on $bootstrap"
    else
        fetch
        configure
        local logging=(-Dlog4j2.configurationFile="$here/kafka/log4j2.properties" -Dkafka.logs.dir="$state/logs")
        if [ ! -f "$state/data/meta.properties" ]; then
            local id
            id=$(java -cp "$lib/*" "${logging[@]}" kafka.tools.StorageTool random-uuid)
            java -cp "$lib/*" "${logging[@]}" kafka.tools.StorageTool format -t "$id" \
                -c "$state/server.properties" --ignore-formatted > "$state/logs/format.log"
        fi
        log "starting broker on $bootstrap (logs: $state/logs/broker.log)"
        # setsid: the broker gets its own process group, so stop can end it and nothing else.
        setsid java -Xms512m -Xmx512m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
            "${logging[@]}" -cp "$lib/*" kafka.Kafka "$state/server.properties" \
            > "$state/logs/broker.log" 2>&1 < /dev/null &
        echo $! > "$pidfile"
        local deadline=$((SECONDS + 90))
        until admin ready 2>/dev/null; do
            if ! running; then
                log "broker exited during start:"; tail -n 30 "$state/logs/broker.log" >&2; exit 1
            fi
            if [ $SECONDS -ge $deadline ]; then
                log "broker did not answer metadata requests within 90 s"; stop; exit 1
            fi
            sleep 0.5
        done
    fi
    admin create "$topic" "$partitions" >&2
    log "ready on $bootstrap"
}

stop() {
    stop_group "$pidfile" && log "stopped"
    return 0
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    restart) stop; start ;;
    status) running && admin ready 2>/dev/null && log "up on $bootstrap" || { log "down"; exit 1; } ;;
    wipe) stop; rm -rf "$state"; log "wiped $state" ;;
    create-topic) shift; admin create "$@" >&2 ;;
    delete-topic) admin delete "$2" && log "deleted topic $2" ;;
    *) echo "usage: $0 start|stop|status|restart|wipe|create-topic|delete-topic" >&2; exit 2 ;;
esac
