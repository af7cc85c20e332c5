# Helpers shared by tally's scripts (sourced, not run).

# Stops the process group led by the process in PIDFILE (started with setsid): TERM, up to 30 s
# to exit, then KILL; removes PIDFILE. Returns 1 if there was no PIDFILE.
stop_group() {
    local pidfile=$1 pid
    [ -f "$pidfile" ] || return 1
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
}

# Copies the runtime jars of the Maven project POM (with -DPROPERTY=VERSION) into LIB, once:
# LIB/.complete marks a finished download.
fetch_jars() {
    local what=$1 pom=$2 property=$3 version=$4 lib=$5
    [ -f "$lib/.complete" ] && return
    echo "$(basename "$0"): fetching $what $version jars from Maven Central into $lib" >&2
    mkdir -p "$lib"
    mvn -B -q -f "$pom" -D"$property=$version" \
        org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$lib"
    touch "$lib/.complete"
}

# The median of the numbers on standard input, one per line.
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# Seconds since the epoch, with nanoseconds.
now() { date +%s.%N; }

# For the benchmarks (run from the repository root): starts scripts/SERVICE.sh unless it is
# already up; stop_started stops only the services started that way.
started_services=()
start_if_down() {
    scripts/"$1".sh status 2>/dev/null && return
    scripts/"$1".sh start
    started_services+=("$1")
}
stop_started() {
    local service
    for service in "${started_services[@]}"; do scripts/"$service".sh stop || true; done
}

# The tally binary a benchmark measures: $TALLY_BIN when set (to compare two builds), else this
# checkout's release build, built now. Every bench script takes it this way.
tally_binary() {
    if [ -n "${TALLY_BIN:-}" ]; then
        echo "$TALLY_BIN"
    else
        cargo build --release -q >&2
        echo target/release/tally
    fi
}

# Topics a benchmark created, deleted by delete_created_topics (call it from the EXIT trap):
# a benchmark leaves no data behind.
created_topics=()
created_topic() { created_topics+=("$1"); }
delete_created_topics() {
    local topic
    for topic in "${created_topics[@]}"; do scripts/kafka.sh delete-topic "$topic" > /dev/null 2>&1 || true; done
}

# Every bench script's arguments: positional, each with its default, as its header comment says.
# `-h`/`--help` prints that header; any other option is an error (not a silent default).
bench_args() {
    local arg
    for arg in "$@"; do
        case $arg in
            -h | --help)
                sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"
                exit 0
                ;;
            -*)
                echo "$(basename "$0"): unknown option $arg (try --help)" >&2
                exit 2
                ;;
        esac
    done
}
