# shellcheck shell=bash
# The local Kafka broker: one node in KRaft combined mode (broker + controller), on
# loopback, from Maven Central jars, started with plain java. See the Kafka broker
# reference in the shared docs. Sourced by scripts/stack after common.sh.

KAFKA_VERSION=4.1.1
KAFKA_HEAP_FLAGS=(-Xms256m -Xmx768m)
KAFKA_READY_TIMEOUT=${NOTIFY_KAFKA_READY_TIMEOUT:-90}
KAFKA_STOP_TIMEOUT=20

# kafka_java: print a java binary of version 17 or later ($JAVA, PATH, Debian's JDK 17).
kafka_java() {
	local cand ver major
	for cand in "${JAVA:-}" "$(command -v java 2>/dev/null || true)" /usr/lib/jvm/java-17-openjdk-*/bin/java; do
		[[ -n $cand && -x $cand ]] || continue
		ver=$("$cand" -version 2>&1 | sed -n 's/.*version "\([^"]*\)".*/\1/p' | head -n1)
		major=${ver%%.*}
		[[ $major == 1 ]] && major=$(cut -d. -f2 <<<"$ver")
		if [[ $major =~ ^[0-9]+$ ]] && ((major >= 17)); then
			printf '%s\n' "$cand"
			return 0
		fi
	done
	return 1
}

# kafka_cache_dir: where the broker's jars are kept, outside the work tree.
kafka_cache_dir() {
	local root=${NOTIFY_CACHE_DIR:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/notify-delivery}
	printf '%s/kafka-%s\n' "$root" "$KAFKA_VERSION"
}

# kafka_fetch_jars POM LOGFILE: make sure the cached lib/ is complete; print its path.
# The first run copies the pom's runtime dependencies with maven into lib.tmp.PID, then
# renames it to lib/ and writes lib.complete (holding the pom's checksum). Later runs
# reuse lib/ as long as the marker matches; a half-finished download is redone.
kafka_fetch_jars() {
	local pom=$1 logfile=$2 cache lib marker sum tmp
	cache=$(kafka_cache_dir)
	lib=$cache/lib
	marker=$cache/lib.complete
	[[ -f $pom ]] || die "Kafka pom not found: $pom"
	sum=$(sha256sum -- "$pom" | cut -d' ' -f1)
	if [[ -f $marker && -d $lib && $(cat -- "$marker") == "$sum" ]]; then
		log "Kafka $KAFKA_VERSION jars: cached in $lib"
		printf '%s\n' "$lib"
		return 0
	fi
	mkdir -p -- "$cache" || die "cannot create the jar cache $cache (set NOTIFY_CACHE_DIR)"
	{
		flock -w 900 8 || die "timed out waiting for another download into $cache"
		# Another run may have finished the download while this one waited.
		if [[ -f $marker && -d $lib && $(cat -- "$marker") == "$sum" ]]; then
			log "Kafka $KAFKA_VERSION jars: cached in $lib"
			printf '%s\n' "$lib"
			return 0
		fi
		command -v mvn >/dev/null 2>&1 || die "mvn not found: needed once to download the Kafka jars (run scripts/install-deps)"
		log "Kafka $KAFKA_VERSION jars: downloading with maven into $lib (first run only)"
		rm -f -- "$marker"
		tmp=$cache/lib.tmp.$$
		rm -rf -- "$tmp" "$cache"/lib.tmp.*
		if ! mvn -B -q -f "$pom" \
			org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
			-DoutputDirectory="$tmp" -DincludeScope=runtime >"$logfile" 2>&1; then
			show_log_tail "$logfile" 60
			rm -rf -- "$tmp"
			die "maven could not fetch the Kafka jars (is Maven Central reachable? see $logfile)"
		fi
		[[ -f $tmp/kafka_2.13-$KAFKA_VERSION.jar ]] || die "maven finished but kafka_2.13-$KAFKA_VERSION.jar is missing from $tmp"
		compgen -G "$tmp/log4j-slf4j-impl-*.jar" >/dev/null || die "maven finished but log4j-slf4j-impl is missing from $tmp"
		rm -rf -- "$lib"
		mv -- "$tmp" "$lib"
		printf '%s\n' "$sum" >"$marker"
		log "Kafka $KAFKA_VERSION jars: $(find "$lib" -name '*.jar' | wc -l) jars in $lib"
	} 8>>"$cache/.lock"
	printf '%s\n' "$lib"
}

# kafka_cluster_id: a random Kafka Uuid (16 bytes, URL-safe base64, no padding, not
# starting with '-'), made here to save a JVM start for `StorageTool random-uuid`.
kafka_cluster_id() {
	local id
	while :; do
		id=$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
		[[ ${#id} == 22 && $id != -* ]] && break
	done
	printf '%s\n' "$id"
}

# kafka_configure DIR PORT CONTROLLER_PORT: write DIR/kafka/server.properties.
kafka_configure() {
	local dir=$1 port=$2 cport=$3
	mkdir -p -- "$dir/kafka/data" "$dir/kafka/tmp"
	cat >"$dir/kafka/server.properties" <<PROPS
# Written by scripts/stack: one node, KRaft combined mode, loopback only.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/kafka/data
auto.create.topics.enable=true
num.partitions=4
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
PROPS
}

# kafka_format DIR LIB JAVA LOG4J_CONF: format the data dir with a fresh cluster id.
kafka_format() {
	local dir=$1 lib=$2 java=$3 log4j=$4 id
	id=$(kafka_cluster_id)
	printf '%s\n' "$id" >"$dir/kafka/cluster.id"
	log "Kafka: formatting $dir/kafka/data (cluster id $id)"
	if ! "$java" -Djava.awt.headless=true -Djava.io.tmpdir="$dir/kafka/tmp" \
		-Dlog4j2.configurationFile="$log4j" -Dnotify.log.level=WARN -Dnotify.log.target=SYSTEM_ERR \
		-cp "$lib/*" kafka.tools.StorageTool format -t "$id" -c "$dir/kafka/server.properties" \
		>"$dir/kafka-format.log" 2>&1; then
		show_log_tail "$dir/kafka-format.log"
		die "Kafka: formatting the storage failed (see $dir/kafka-format.log)"
	fi
}

# kafka_start DIR LIB JAVA LOG4J_CONF: start the broker detached; pid in DIR/kafka.pid.
kafka_start() {
	local dir=$1 lib=$2 java=$3 log4j=$4 pidfile=$1/kafka.pid i
	rm -f -- "$pidfile"
	# setsid: own session, survives this script and its terminal; HUP ignored (nohup).
	# The inner shell records its own pid and execs java, so the pid is java's.
	# shellcheck disable=SC2016 # expanded by the inner shell
	setsid -f bash -c 'trap "" HUP; echo "$$" >"$0.tmp" && mv -f -- "$0.tmp" "$0" && exec "$@"' \
		"$pidfile" "$java" "${KAFKA_HEAP_FLAGS[@]}" -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError \
		-Djava.awt.headless=true -Djava.io.tmpdir="$dir/kafka/tmp" \
		-Dlog4j2.configurationFile="$log4j" \
		-cp "$lib/*" kafka.Kafka "$dir/kafka/server.properties" \
		</dev/null >"$dir/kafka.log" 2>&1 7>&- ||
		die "Kafka: could not launch java"
	for ((i = 0; i < 50; i++)); do
		[[ -s $pidfile ]] && break
		sleep 0.1
	done
	[[ -s $pidfile ]] || die "Kafka: the broker did not record its pid in $pidfile"
	log "Kafka: started (pid $(cat -- "$pidfile"), log $dir/kafka.log)"
}

# kafka_wait_ready DIR PORT: wait until the broker answers on 127.0.0.1:PORT.
kafka_wait_ready() {
	local dir=$1 port=$2 pid deadline=$((SECONDS + KAFKA_READY_TIMEOUT)) started=0
	pid=$(cat -- "$dir/kafka.pid")
	log "Kafka: waiting for the broker on 127.0.0.1:$port (up to ${KAFKA_READY_TIMEOUT}s)"
	while :; do
		if ! pid_alive "$pid"; then
			show_log_tail "$dir/kafka.log" 60
			die "Kafka: the broker exited during start-up (see $dir/kafka.log)"
		fi
		if ((!started)) && grep -q 'Kafka Server started' "$dir/kafka.log" 2>/dev/null; then
			started=1
		fi
		if command -v kcat >/dev/null 2>&1; then
			# kcat answering with this broker listed is the real test.
			if kcat -b "127.0.0.1:$port" -L -m 3 -J 2>/dev/null | grep -q '"brokers":\[{'; then
				break
			fi
		elif ((started)); then
			break
		fi
		if ((SECONDS >= deadline)); then
			show_log_tail "$dir/kafka.log" 60
			die "Kafka: not ready after ${KAFKA_READY_TIMEOUT}s (see $dir/kafka.log)"
		fi
		sleep 0.5
	done
	log "Kafka: ready on 127.0.0.1:$port"
}

# kafka_stop DIR: stop the broker recorded in DIR/kafka.pid, if it is still ours.
kafka_stop() {
	local dir=$1 pidfile=$1/kafka.pid pid
	[[ -f $pidfile ]] || return 0
	pid=$(cat -- "$pidfile" 2>/dev/null || true)
	if [[ $pid =~ ^[0-9]+$ ]] && pid_matches "$pid" kafka.Kafka "$dir/kafka/server.properties"; then
		log "Kafka: stopping pid $pid (SIGTERM)"
		kill -TERM "$pid" 2>/dev/null || true
		if ! wait_pid_gone "$pid" "$KAFKA_STOP_TIMEOUT"; then
			warn "Kafka: pid $pid still running after ${KAFKA_STOP_TIMEOUT}s, sending SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
			wait_pid_gone "$pid" 10 || die "Kafka: pid $pid survived SIGKILL"
		fi
		log "Kafka: stopped"
	elif [[ -n $pid ]]; then
		log "Kafka: pid $pid is not running (or is not this stack's broker); nothing to stop"
	fi
	rm -f -- "$pidfile"
}
