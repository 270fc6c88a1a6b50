#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Least-privilege ACLs for podtrail, one principal per stage, with Kafka's own kafka-acls: one
# command per line of deploy/kafka/acls.tsv (the table is the one list). Each stage gets only
# what it does:
#
#   capture  writes raw and containers (and may create them)
#   enrich   reads raw and containers; writes audit and dlq (and may create them);
#            its group; the throwaway podtrail-meta-* groups of its metadata table;
#            transactional ids podtrail-enrich-*
#   export   reads audit; writes its target topic (and may create it) and dlq;
#            its podtrail-export-* group; transactional ids podtrail-export-*
#   reader   podtrail tail and podtrail replay --stdout: reads raw, audit and containers
#            through throwaway podtrail-tail-*, podtrail-replay-*, podtrail-meta-* groups,
#            which it deletes when it exits
#
# Nothing may write the audit topic but enrich: a node's credential cannot forge audit records.
#
#   deploy/kafka/acls.sh --bootstrap-server HOST:PORT --command-config ADMIN.properties [--dry-run]
#
# Environment (defaults in brackets): CAPTURE_USER [capture], ENRICH_USER [enrich],
# EXPORT_USER [export], READER_USER [reader], RAW_TOPIC [podtrail.raw.v1],
# AUDIT_TOPIC [podtrail.audit.v1], CONTAINERS_TOPIC [podtrail.containers.v1],
# DLQ_TOPIC [podtrail.dlq.v1], EXPORT_TOPIC [podtrail.export.v1], ENRICH_GROUP [podtrail-enrich],
# KAFKA_ACLS [kafka-acls.sh]: how to run Kafka's ACL tool (a command line, split on spaces).
# With --dry-run it prints the commands instead of running them.
#
# Principals are SASL users (User:<name>). With mutual TLS instead, set the *_USER variables to
# the certificates' distinguished names as the broker's ssl.principal.mapping.rules map them.
set -euo pipefail

BOOTSTRAP= CONFIG= DRY=0
while (($#)); do
  case $1 in
    --bootstrap-server) BOOTSTRAP=$2; shift 2 ;;
    --command-config) CONFIG=$2; shift 2 ;;
    --dry-run) DRY=1; shift ;;
    *) echo "acls.sh: unknown argument $1" >&2; exit 64 ;;
  esac
done
[[ -n $BOOTSTRAP ]] || { echo "acls.sh: --bootstrap-server HOST:PORT is required" >&2; exit 64; }

export CAPTURE_USER=${CAPTURE_USER:-capture} ENRICH_USER=${ENRICH_USER:-enrich}
export EXPORT_USER=${EXPORT_USER:-export} READER_USER=${READER_USER:-reader}
export RAW_TOPIC=${RAW_TOPIC:-podtrail.raw.v1} AUDIT_TOPIC=${AUDIT_TOPIC:-podtrail.audit.v1}
export CONTAINERS_TOPIC=${CONTAINERS_TOPIC:-podtrail.containers.v1} DLQ_TOPIC=${DLQ_TOPIC:-podtrail.dlq.v1}
export EXPORT_TOPIC=${EXPORT_TOPIC:-podtrail.export.v1} ENRICH_GROUP=${ENRICH_GROUP:-podtrail-enrich}
read -r -a TOOL <<<"${KAFKA_ACLS:-kafka-acls.sh}"
TABLE=$(dirname "${BASH_SOURCE[0]}")/acls.tsv

# ${NAME} in the table -> the variable's value (only the ones exported above).
expand() {
  local s=$1 out='' v
  while [[ $s =~ ^([^$]*)\$\{([A-Z_]+)\}(.*)$ ]]; do
    v=${BASH_REMATCH[2]}
    [[ -v $v ]] || { echo "acls.sh: unknown variable \${$v} in $TABLE" >&2; exit 65; }
    out+=${BASH_REMATCH[1]}${!v}
    s=${BASH_REMATCH[3]}
  done
  printf '%s' "$out$s"
}

# One kafka-acls --add per line of the table.
while IFS=$'\t' read -r principal pattern resource name ops; do
  [[ -z $principal || $principal == \#* ]] && continue
  principal=$(expand "$principal")
  name=$(expand "$name")
  args=(--allow-principal "User:$principal" --resource-pattern-type "$pattern")
  IFS=, read -r -a opl <<<"$ops"
  for o in "${opl[@]}"; do args+=(--operation "$o"); done
  args+=("--$resource" "$name")
  cmd=("${TOOL[@]}" --bootstrap-server "$BOOTSTRAP" ${CONFIG:+--command-config "$CONFIG"} --add --force "${args[@]}")
  if ((DRY)); then printf '%q ' "${cmd[@]}"; echo; else "${cmd[@]}" >/dev/null; fi
done <"$TABLE"
