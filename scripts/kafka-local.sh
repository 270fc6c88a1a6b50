#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# A real single-node Apache Kafka (KRaft, broker+controller in one JVM) for
# development and tests, fetched from Maven Central by scripts/kafka/pom.xml.
#
#   scripts/kafka-local.sh start    fetch jars (once), format storage (once), start,
#                                   return when the broker answers a Metadata request
#   scripts/kafka-local.sh stop     SIGTERM, then SIGKILL after the stop timeout
#   scripts/kafka-local.sh status   exit 0 when running, 3 when not
#   scripts/kafka-local.sh fetch    only fetch the jars (once; scripts/setup.sh runs it)
#
# Environment (defaults in brackets):
#   PODTRAIL_KAFKA_PORT [9092]                 client listener on 127.0.0.1
#   PODTRAIL_KAFKA_CONTROLLER_PORT [PORT+1000] KRaft controller listener on 127.0.0.1
#   PODTRAIL_KAFKA_DIR [.kafka]                data, log, pid file; relative to the repo root
#   PODTRAIL_KAFKA_HEAP [512m]                 JVM -Xmx
#   PODTRAIL_KAFKA_JVM_OPTS []                 more JVM options for the broker (the tests' short-lived
#                                              brokers use -XX:TieredStopAtLevel=1: faster start, less CPU)
#   PODTRAIL_KAFKA_START_TIMEOUT [90]          seconds until start gives up
#   PODTRAIL_KAFKA_STOP_TIMEOUT [30]           seconds between SIGTERM and SIGKILL
#   PODTRAIL_KAFKA_AUTO_CREATE_TOPICS [false]  auto.create.topics.enable
#   PODTRAIL_KAFKA_SECURITY [plaintext]        plaintext, or sasl_ssl: the client listener takes
#                                              TLS (a CA and broker certificate made with openssl
#                                              under DIR/tls) and SCRAM-SHA-512, with the
#                                              StandardAuthorizer and no access without an ACL.
#                                              The super user is admin (password in
#                                              DIR/tls/admin.password; Kafka tools' client
#                                              properties in DIR/admin.properties); the controller
#                                              listener takes only the broker's own certificate.
#   PODTRAIL_KAFKA_USERS_DIR                   sasl_ssl: more SCRAM-SHA-512 users, one file
#                                              <name>.password each, made when the storage is
#                                              formatted (kafka-storage format --add-scram)
#   PODTRAIL_KAFKA_NODES [1]                   1, or 3 (or 5): a KRaft cluster of that many combined
#                                              broker+controller nodes on PORT, PORT+1, ... (controllers
#                                              on CONTROLLER_PORT, +1, ...), data in DIR/node-<i>, with
#                                              default.replication.factor 3 and min.insync.replicas 2.
#                                              start/stop/status act on every node;
#   PODTRAIL_KAFKA_NODE                        with PODTRAIL_KAFKA_NODES: on node <i> only (a test
#                                              restarts one broker of the cluster this way)
#   JAVA_HOME                                  JDK to use (17 or newer), else java on PATH
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KDIR=$ROOT/scripts/kafka
LIBS=$KDIR/libs

die() { echo "kafka-local: $*" >&2; exit 1; }
say() { echo "kafka-local: $*"; }

is_port() { [[ $1 =~ ^[0-9]+$ ]] && ((10#$1 >= 1 && 10#$1 <= 65535)); }
is_uint() { [[ $1 =~ ^[0-9]+$ ]] && ((10#$1 > 0)); }

PORT=${PODTRAIL_KAFKA_PORT:-9092}
is_port "$PORT" || die "PODTRAIL_KAFKA_PORT must be a port number (1-65535), got '$PORT'"
PORT=$((10#$PORT))
if [[ -n ${PODTRAIL_KAFKA_CONTROLLER_PORT:-} ]]; then
  CPORT=$PODTRAIL_KAFKA_CONTROLLER_PORT
  is_port "$CPORT" || die "PODTRAIL_KAFKA_CONTROLLER_PORT must be a port number (1-65535), got '$CPORT'"
  CPORT=$((10#$CPORT))
else
  CPORT=$((PORT + 1000))
  is_port "$CPORT" || die "PODTRAIL_KAFKA_PORT+1000 is no port; set PODTRAIL_KAFKA_CONTROLLER_PORT"
fi
((PORT != CPORT)) || die "the client port and the controller port must differ (both $PORT)"
HEAP=${PODTRAIL_KAFKA_HEAP:-512m}
[[ $HEAP =~ ^[0-9]+[kKmMgG]?$ ]] || die "PODTRAIL_KAFKA_HEAP must look like 512m, got '$HEAP'"
START_TIMEOUT=${PODTRAIL_KAFKA_START_TIMEOUT:-90}
is_uint "$START_TIMEOUT" || die "PODTRAIL_KAFKA_START_TIMEOUT must be a positive number of seconds"
STOP_TIMEOUT=${PODTRAIL_KAFKA_STOP_TIMEOUT:-30}
is_uint "$STOP_TIMEOUT" || die "PODTRAIL_KAFKA_STOP_TIMEOUT must be a positive number of seconds"
AUTO_CREATE=${PODTRAIL_KAFKA_AUTO_CREATE_TOPICS:-false}
[[ $AUTO_CREATE == true || $AUTO_CREATE == false ]] ||
  die "PODTRAIL_KAFKA_AUTO_CREATE_TOPICS must be true or false, got '$AUTO_CREATE'"

NODES=${PODTRAIL_KAFKA_NODES:-1}
[[ $NODES =~ ^[135]$ ]] || die "PODTRAIL_KAFKA_NODES must be 1, 3 or 5, got '$NODES'"
NODE=${PODTRAIL_KAFKA_NODE:-}
[[ -z $NODE || ($NODE =~ ^[1-5]$ && $NODE -le $NODES) ]] || die "PODTRAIL_KAFKA_NODE must be 1..$NODES, got '$NODE'"
BASE_PORT=$PORT
BASE_CPORT=$CPORT
# One node of a cluster: its own ports and directory; every node knows all the voters.
VOTERS=
if ((NODES > 1)); then
  for ((i = 1; i <= NODES; i++)); do VOTERS+="${VOTERS:+,}$i@127.0.0.1:$((BASE_CPORT + i - 1))"; done
  if [[ -n $NODE ]]; then
    PORT=$((BASE_PORT + NODE - 1))
    CPORT=$((BASE_CPORT + NODE - 1))
  fi
fi

SECURITY=${PODTRAIL_KAFKA_SECURITY:-plaintext}
[[ $SECURITY == plaintext || $SECURITY == sasl_ssl ]] ||
  die "PODTRAIL_KAFKA_SECURITY must be plaintext or sasl_ssl, got '$SECURITY'"
USERS_DIR=${PODTRAIL_KAFKA_USERS_DIR:-}

DIR=${PODTRAIL_KAFKA_DIR:-.kafka}
[[ $DIR == /* ]] || DIR=$ROOT/$DIR
CLUSTER_DIR=$DIR
[[ -n $NODE ]] && DIR=$CLUSTER_DIR/node-$NODE
PIDFILE=$DIR/kafka.pid
LOG=$DIR/kafka.log
PROPS=$DIR/server.properties
DATA=$DIR/data
# What the running broker was started with, for status and for a start with other ports.
RUNINFO=$DIR/kafka.run
# Which version and ports the data dir was formatted for; a change means reformat.
FORMATSTAMP=$DIR/format.stamp
LIBSTAMP=$LIBS/.pom.sha256

java_bin() {
  local j=java
  [[ -n ${JAVA_HOME:-} ]] && j=$JAVA_HOME/bin/java
  command -v "$j" >/dev/null || die "java not found (JAVA_HOME='${JAVA_HOME:-}'); Kafka 4 needs Java 17 or newer"
  local v
  v=$("$j" -version 2>&1 | sed -n '1s/.*version "\([0-9][0-9]*\).*/\1/p')
  [[ -n $v && $v -ge 17 ]] || die "$j is Java '${v:-unknown}'; the Kafka 4 broker needs Java 17 or newer"
  echo "$j"
}

kafka_version() {
  local jar
  jar=$(find "$LIBS" -maxdepth 1 -name 'kafka_2.13-*.jar' -print -quit 2>/dev/null)
  [[ -n $jar ]] || { echo unknown; return; }
  jar=${jar##*/kafka_2.13-}
  echo "${jar%.jar}"
}

# Jars come from Maven only when libs/ is missing or was made from another pom.
libs_current() {
  [[ -f $LIBSTAMP && $(<"$LIBSTAMP") == "$1" ]] && compgen -G "$LIBS/kafka_2.13-*.jar" >/dev/null
}

ensure_libs() {
  local want
  want=$(sha256sum "$KDIR/pom.xml" | cut -d' ' -f1)
  libs_current "$want" && return
  # Brokers with other data dirs may fetch at the same time; target/ is git-ignored.
  mkdir -p "$KDIR/target"
  exec 8>"$KDIR/target/libs.lock"
  flock -w 900 8 || die "timed out waiting for $KDIR/target/libs.lock"
  libs_current "$want" && { exec 8>&-; return; }
  command -v mvn >/dev/null || die "mvn not found: Maven is needed once to fetch the Kafka jars"
  local ver
  ver=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$KDIR/pom.xml")
  say "fetching Kafka ${ver:-?} jars with Maven into scripts/kafka/libs, ~45 MB (first run only, ~1 min)"
  local tmp=$KDIR/target/libs.tmp mlog=$KDIR/target/mvn.log
  rm -rf "$tmp"
  if ! mvn -B -q -Dstyle.color=never -f "$KDIR/pom.xml" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$tmp" </dev/null >"$mlog" 2>&1; then
    rm -rf "$tmp"
    tail -n 30 "$mlog" >&2
    die "mvn dependency:copy-dependencies failed (full output: $mlog)"
  fi
  rm -rf "$LIBS"
  mv "$tmp" "$LIBS"
  echo "$want" >"$LIBSTAMP"
  exec 8>&-
}

# The pid alone could name a reused process; require our broker's command line too.
running_pid() {
  [[ -f $PIDFILE ]] || return 1
  local pid
  pid=$(<"$PIDFILE")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ -r /proc/$pid/cmdline ]] || return 1
  [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) != Z ]] || return 1
  local cmd
  cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ $cmd == *"kafka.Kafka $PROPS"* ]] || return 1
  echo "$pid"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Prefer the kafkajs probe (fast, and the client podtrail uses); without node_modules
# fall back to Kafka's own admin tool so start still works before `npm ci`.
probe() {
  local timeout=$1 pid=$2
  if command -v node >/dev/null && (cd "$KDIR" && node -e "import('kafkajs')" >/dev/null 2>&1); then
    KAFKA_LOCAL_TLS=$([[ $SECURITY == sasl_ssl ]] && echo "$TLS") node "$KDIR/probe.mjs" "$PORT" "$((timeout * 1000))" "$pid"
    return
  fi
  local deadline=$((SECONDS + timeout)) java
  java=$(java_bin)
  while ((SECONDS < deadline)); do
    [[ -d /proc/$pid ]] || { echo "broker process $pid exited during startup" >&2; return 1; }
    if "$java" -Xmx128m -cp "$LIBS/*" -Dlog4j2.configurationFile="file:$KDIR/log4j2.properties" \
        org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$PORT" --list \
        --command-config <(printf 'default.api.timeout.ms=5000\nrequest.timeout.ms=3000\n'; [[ $SECURITY == sasl_ssl ]] && cat "$DIR/admin.properties") \
        >/dev/null 2>&1; then
      echo "broker at 127.0.0.1:$PORT answers (kafka-topics --list)"
      return 0
    fi
    sleep 1
  done
  echo "no metadata answer from 127.0.0.1:$PORT within ${timeout}s" >&2
  return 2
}

TLS=$DIR/tls

# sasl_ssl: a CA and a broker certificate (SAN 127.0.0.1 and localhost), made once; the key in
# PKCS#8 PEM beside its chain, as Kafka's PEM keystore wants it. And the admin's password.
ensure_tls() {
  [[ -f $TLS/broker.pem && -f $TLS/ca.crt && -f $TLS/admin.password ]] && return
  command -v openssl >/dev/null || die "openssl not found: PODTRAIL_KAFKA_SECURITY=sasl_ssl makes its certificates with it"
  mkdir -p "$TLS"
  chmod 700 "$TLS"
  local days=3650
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TLS/ca.key" -out "$TLS/ca.crt" -days $days \
    -subj "/CN=podtrail-local-ca" >/dev/null 2>&1 || die "openssl: making the CA failed"
  openssl req -newkey rsa:2048 -nodes -keyout "$TLS/broker.key" -out "$TLS/broker.csr" \
    -subj "/CN=podtrail-broker" >/dev/null 2>&1 || die "openssl: making the broker key failed"
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n' >"$TLS/broker.ext"
  openssl x509 -req -in "$TLS/broker.csr" -CA "$TLS/ca.crt" -CAkey "$TLS/ca.key" -CAcreateserial \
    -out "$TLS/broker.crt" -days $days -extfile "$TLS/broker.ext" >/dev/null 2>&1 || die "openssl: signing the broker certificate failed"
  openssl pkcs8 -topk8 -nocrypt -in "$TLS/broker.key" -out "$TLS/broker.p8" || die "openssl: PKCS#8 conversion failed"
  cat "$TLS/broker.crt" "$TLS/broker.p8" >"$TLS/broker.pem"
  head -c 24 /dev/urandom | base64 | tr -d '/+=\n' >"$TLS/admin.password"
  chmod 600 "$TLS"/*
}

render_props() {
  sed -e "s|@PORT@|$PORT|g" -e "s|@CONTROLLER_PORT@|$CPORT|g" -e "s|@DATA_DIR@|$DATA|g" \
    -e "s|@AUTO_CREATE@|$AUTO_CREATE|g" "$KDIR/server.properties.in" >"$PROPS.tmp"
  if [[ -n $NODE ]]; then
    # Later keys win when Java loads a properties file.
    cat >>"$PROPS.tmp" <<PROPS

# PODTRAIL_KAFKA_NODES=$NODES, this is node $NODE
node.id=$NODE
controller.quorum.voters=$VOTERS
controller.quorum.bootstrap.servers=
default.replication.factor=3
min.insync.replicas=2
offsets.topic.replication.factor=3
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
share.coordinator.state.topic.replication.factor=3
share.coordinator.state.topic.min.isr=2
# A node killed and started again leads its partitions again once it has caught up.
auto.leader.rebalance.enable=true
PROPS
  fi
  if [[ $SECURITY == sasl_ssl ]]; then
    ((NODES == 1)) || die "PODTRAIL_KAFKA_SECURITY=sasl_ssl is for a single node"
    ensure_tls
    local pw
    pw=$(<"$TLS/admin.password")
    # Later keys win when Java loads a properties file: these replace the template's listeners.
    cat >>"$PROPS.tmp" <<PROPS

# PODTRAIL_KAFKA_SECURITY=sasl_ssl
listeners=SASL_SSL://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CPORT
advertised.listeners=SASL_SSL://127.0.0.1:$PORT
listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:SSL
inter.broker.listener.name=SASL_SSL
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$pw";
ssl.keystore.type=PEM
ssl.keystore.location=$TLS/broker.pem
ssl.truststore.type=PEM
ssl.truststore.location=$TLS/ca.crt
listener.name.controller.ssl.client.auth=required
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:admin;User:CN=podtrail-broker
PROPS
    cat >"$DIR/admin.properties.tmp" <<PROPS
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$pw";
ssl.truststore.type=PEM
ssl.truststore.location=$TLS/ca.crt
PROPS
    chmod 600 "$DIR/admin.properties.tmp"
    mv "$DIR/admin.properties.tmp" "$DIR/admin.properties"
  fi
  chmod 600 "$PROPS.tmp"
  mv "$PROPS.tmp" "$PROPS"
}

# kafka-storage format's --add-scram arguments: admin, and each <name>.password in the users dir.
scram_args() {
  [[ $SECURITY == sasl_ssl ]] || return 0
  printf '%s\0' --add-scram "SCRAM-SHA-512=[name=admin,password=$(<"$TLS/admin.password")]"
  [[ -n $USERS_DIR ]] || return 0
  local f name
  for f in "$USERS_DIR"/*.password; do
    [[ -e $f ]] || continue
    name=$(basename "$f" .password)
    [[ $name =~ ^[A-Za-z0-9._-]+$ ]] || die "user file $f: the name must be letters, digits, ., _ or -"
    printf '%s\0' --add-scram "SCRAM-SHA-512=[name=$name,password=$(tr -d '\n' <"$f")]"
  done
}

# The KRaft voter set records the controller's endpoint and the metadata log its
# version, so storage formatted for other ports or another Kafka is started afresh.
ensure_formatted() {
  local java=$1 want
  want="kafka=$(kafka_version) port=$PORT controller=$CPORT security=$SECURITY users=$({ ls "${USERS_DIR:-/nonexistent}" 2>/dev/null || true; } | sha256sum | cut -c1-12)"
  if [[ -f $DATA/meta.properties && -f $FORMATSTAMP && $(<"$FORMATSTAMP") == "$want" ]]; then
    return
  fi
  [[ -d $DATA ]] && say "storage was formatted for another version or ports; wiping $DATA"
  rm -rf "$DATA" "$FORMATSTAMP"
  local cid scram=()
  # The users' passwords go to the tool as arguments, never into the log.
  mapfile -d '' -t scram < <(scram_args)
  # A cluster id is 16 random bytes in URL-safe base64 without padding (22 chars).
  cid=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
  # A cluster's nodes share one id (the cluster start picks it); a single node is its own voter.
  local quorum=(--standalone)
  if [[ -n $NODE ]]; then
    quorum=()
    cid=${PODTRAIL_KAFKA_CLUSTER_ID:-}
    [[ -n $cid ]] || cid=$(<"$CLUSTER_DIR/cluster.id")
  fi
  # A one-shot tool: the C1 compiler alone starts it in about half the CPU time.
  if ! "$java" -Xmx256m -XX:TieredStopAtLevel=1 -cp "$LIBS/*" -Dlog4j2.configurationFile="file:$KDIR/log4j2.properties" \
      kafka.tools.StorageTool format "${quorum[@]}" --cluster-id="$cid" --config "$PROPS" \
      "${scram[@]}" </dev/null >>"$LOG" 2>&1; then
    tail -n 20 "$LOG" >&2
    die "formatting KRaft storage failed (log: $LOG)"
  fi
  echo "$want" >"$FORMATSTAMP"
}

# A killed JVM lingers as a zombie until something reaps it (the starting shell is
# gone, so that is init); once its sockets are closed its files are too.
wait_gone() {
  local pid=$1 deadline=$((SECONDS + $2)) port ctl
  port=$(sed -n 's/^port=//p' "$RUNINFO" 2>/dev/null || true)
  ctl=$(sed -n 's/^controller=//p' "$RUNINFO" 2>/dev/null || true)
  while [[ -d /proc/$pid ]]; do
    if [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) == Z ]] &&
      ! port_open "${port:-$PORT}" && ! port_open "${ctl:-$CPORT}"; then
      return 0
    fi
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}

kill_broker() {
  local pid=$1
  kill -TERM "$pid" 2>/dev/null || true
  if ! wait_gone "$pid" "$STOP_TIMEOUT"; then
    say "broker $pid still up after ${STOP_TIMEOUT}s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    wait_gone "$pid" 30 || die "broker $pid survived SIGKILL for 30s"
  fi
  rm -f "$PIDFILE" "$RUNINFO"
}

lock() {
  mkdir -p "$DIR"
  exec 9>"$DIR/.lock"
  # Parallel test files may all call start; the first one starts, the rest wait and reuse.
  flock -w $((START_TIMEOUT + STOP_TIMEOUT + 300)) 9 || die "timed out waiting for $DIR/.lock"
}

cmd_start() {
  lock
  local pid
  if pid=$(running_pid); then
    local was
    was=$(sed -n 's/^port=//p' "$RUNINFO" 2>/dev/null || true)
    [[ -z $was || $was == "$PORT" ]] ||
      die "a broker from $DIR already runs on port $was (pid $pid); stop it before using port $PORT"
    probe "$START_TIMEOUT" "$pid" >/dev/null || die "broker pid $pid runs but does not answer; see $LOG"
    say "already running: pid $pid on 127.0.0.1:$PORT"
    return 0
  fi
  rm -f "$PIDFILE" "$RUNINFO"
  port_open "$PORT" && die "127.0.0.1:$PORT is in use by another process; set PODTRAIL_KAFKA_PORT"
  port_open "$CPORT" && die "127.0.0.1:$CPORT is in use by another process; set PODTRAIL_KAFKA_CONTROLLER_PORT"
  ensure_libs
  local java
  java=$(java_bin)
  render_props
  ensure_formatted "$java"
  echo "=== $(date -u +%FT%TZ) kafka-local start (Kafka $(kafka_version), port $PORT) ===" >>"$LOG"
  # setsid: the broker outlives the shell or test runner that started it, and a
  # Ctrl-C there does not reach it; stop is the way to end it. It must not inherit
  # the lock fds, or it would hold the lock for its whole life.
  # shellcheck disable=SC2086 # word splitting of the options is meant
  setsid "$java" ${PODTRAIL_KAFKA_JVM_OPTS:-} -Xms128m -Xmx"$HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="file:$KDIR/log4j2.properties" -Dlog4j2.shutdownHookEnabled=false \
    -cp "$LIBS/*" kafka.Kafka "$PROPS" </dev/null >>"$LOG" 2>&1 8>&- 9>&- &
  pid=$!
  echo "$pid" >"$PIDFILE"
  printf 'pid=%s\nport=%s\ncontroller=%s\nversion=%s\n' "$pid" "$PORT" "$CPORT" "$(kafka_version)" >"$RUNINFO"
  if ! probe "$START_TIMEOUT" "$pid"; then
    echo "---- last lines of $LOG ----" >&2
    tail -n 40 "$LOG" >&2
    kill_broker "$pid"
    die "broker did not come up on 127.0.0.1:$PORT within ${START_TIMEOUT}s"
  fi
  say "started Kafka $(kafka_version): pid $pid, 127.0.0.1:$PORT (controller $CPORT), data $DIR"
}

cmd_stop() {
  [[ -d $DIR ]] || { say "not running"; return 0; }
  lock
  local pid
  if ! pid=$(running_pid); then
    rm -f "$PIDFILE" "$RUNINFO"
    say "not running"
    return 0
  fi
  kill_broker "$pid"
  say "stopped (pid $pid)"
}

cmd_status() {
  local pid
  if pid=$(running_pid); then
    local port ctl ver listening=no
    port=$(sed -n 's/^port=//p' "$RUNINFO" 2>/dev/null || true)
    ctl=$(sed -n 's/^controller=//p' "$RUNINFO" 2>/dev/null || true)
    ver=$(sed -n 's/^version=//p' "$RUNINFO" 2>/dev/null || true)
    port_open "${port:-$PORT}" && listening=yes
    echo "running: pid $pid, Kafka ${ver:-$(kafka_version)}, 127.0.0.1:${port:-$PORT} (listening: $listening)," \
      "controller 127.0.0.1:${ctl:-$CPORT}, data $DIR, log $LOG"
    return 0
  fi
  echo "not running (would use 127.0.0.1:$PORT, controller $CPORT, data $DIR, Kafka $(kafka_version))"
  return 3
}

# A cluster without PODTRAIL_KAFKA_NODE: each node by itself, through this script. The nodes
# start together (a node answers only once a majority of the voters is up).
cluster() {
  local cmd=$1 i rc=0 pids=()
  mkdir -p "$CLUSTER_DIR"
  if [[ $cmd == start && ! -s $CLUSTER_DIR/cluster.id ]]; then
    head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' | sed 's/^-/A/' >"$CLUSTER_DIR/cluster.id"
  fi
  for ((i = 1; i <= NODES; i++)); do
    if [[ $cmd == start ]]; then
      PODTRAIL_KAFKA_NODE=$i "$0" start & pids+=($!)
    else
      PODTRAIL_KAFKA_NODE=$i "$0" "$cmd" || rc=$?
    fi
  done
  for p in "${pids[@]}"; do wait "$p" || rc=$?; done
  if [[ $cmd == start ]]; then
    ((rc == 0)) || die "a node of the cluster did not start (logs: $CLUSTER_DIR/node-*/kafka.log)"
    local list=
    for ((i = 1; i <= NODES; i++)); do list+="${list:+,}127.0.0.1:$((BASE_PORT + i - 1))"; done
    say "cluster of $NODES up: brokers $list"
  fi
  return "$rc"
}

if ((NODES > 1)) && [[ -z $NODE ]]; then
  case ${1:-} in
    start | stop | status) cluster "$1"; exit ;;
  esac
fi

case ${1:-} in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  fetch) ensure_libs ;;
  *) echo "usage: $0 start|stop|status|fetch" >&2; exit 64 ;;
esac
