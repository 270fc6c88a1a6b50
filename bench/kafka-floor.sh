#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The broker's own produce and consume rate on this machine, with Kafka's perf tools from the
# same jars as the broker (scripts/kafka/libs): the floor under capture's publish and enrich's
# consume-and-produce. Per round, on a new 6-partition topic (as podtrail's raw and audit topics):
#   produce    ProducerPerformance, RECORDS records of SIZE bytes, acks=all, idempotent (the Java
#              client's defaults otherwise: linger.ms 5, batch.size 16 KiB, no compression)
#   produce-tx the same inside transactions of TXN_MS ms (as enrich writes)
#   consume    ConsumerPerformance reading the produce arm's records back
#
#   bench/kafka-floor.sh [ROUNDS] [RECORDS] [SIZE] [TXN_MS]   (PODTRAIL_BROKERS, default 127.0.0.1:9092)
set -euo pipefail
rounds=${1:-3}
records=${2:-200000}
size=${3:-480}
txn_ms=${4:-200}
root=$(cd "$(dirname "$0")/.." && pwd)
broker=${PODTRAIL_BROKERS:-127.0.0.1:9092}
broker=${broker%%,*}
cp="$root/scripts/kafka/libs/*"
[ -d "$root/scripts/kafka/libs" ] || { echo "kafka-floor: no scripts/kafka/libs (scripts/kafka-local.sh fetch)" >&2; exit 1; }
tool() { java -Xmx512m -cp "$cp" "org.apache.kafka.tools.$@" 2>&1; }
topics=()
cleanup() { for t in "${topics[@]}"; do tool TopicCommand --bootstrap-server "$broker" --delete --topic "$t" >/dev/null || true; done; }
trap cleanup EXIT
echo "kafka floor: $(nproc) CPUs, broker $broker, load average $(cut -d' ' -f1-3 /proc/loadavg), $rounds rounds, $records records of $size B, transactions of $txn_ms ms"
run=$(date +%s)
for r in $(seq "$rounds"); do
  for arm in produce produce-tx; do
    t="floor.$run.$arm.$r"
    topics+=("$t")
    tool TopicCommand --bootstrap-server "$broker" --create --topic "$t" --partitions 6 --replication-factor 1 >/dev/null
    extra=()
    [ "$arm" = produce-tx ] && extra=(--transactional-id "floor-$run-$r" --transaction-duration-ms "$txn_ms")
    out=$(tool ProducerPerformance --bootstrap-server "$broker" --topic "$t" --num-records "$records" --record-size "$size" --throughput -1 --command-property acks=all enable.idempotence=true "${extra[@]}" | tail -1)
    echo "round $r  $arm  $out"
  done
  t="floor.$run.produce.$r"
  out=$(tool ConsumerPerformance --bootstrap-server "$broker" --topic "$t" --messages "$records" --timeout 60000 --hide-header | tail -1)
  echo "round $r  consume  $out  (start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec)"
done
