#!/usr/bin/env bash
# A real local Elasticsearch (the integ-test zip from Maven Central) for tests and benchmarks.
#
#   bash scripts/elasticsearch.sh start [--nodes N] [--port P]
#       Fetches org.elasticsearch.distribution.integ-test-zip:elasticsearch:$IHUB_ELASTICSEARCH_VERSION
#       (default 8.19.21) with mvn once and unpacks it once, both cached under
#       ${IHUB_ENGINE_CACHE:-$HOME/.cache/imaging-hub/engines}; starts N nodes (default 1) on
#       127.0.0.1 with HTTP ports P..P+N-1 (default P=9400, so it runs beside OpenSearch's 9200)
#       and transport ports P+100..P+100+N-1; waits until all N nodes joined and health is yellow
#       or green; the LAST line of stdout is ELASTICSEARCH_URL=http://127.0.0.1:P.
#       Already running: says so and prints the URL line again (exit 0); running with another
#       --nodes/--port, or a port taken by another process: a clear error, exit 1.
#       A stopped cluster restarts with its own layout when --nodes/--port are not given.
#   bash scripts/elasticsearch.sh stop        SIGTERM to each node's PID, SIGKILL after
#                                             $IHUB_ENGINE_STOP_TIMEOUT s (60); waits until gone
#   bash scripts/elasticsearch.sh status      nodes, PIDs, ports, health (exit 0 all up, 3 if not)
#   bash scripts/elasticsearch.sh start-node I   re-launch node I with its settings
#
# Data, logs, config and pid file of node i: $IHUB_HOME/elasticsearch/node-<i>/
# (IHUB_HOME defaults to <project>/.ihub-home). Environment: IHUB_ENGINE_HEAP (default 1g for
# one node, 512m each for more), IHUB_ELASTICSEARCH_VERSION, IHUB_ENGINE_JAVA_HOME,
# IHUB_ENGINE_USER (default ihub-search, used when run as root), IHUB_ENGINE_START_TIMEOUT,
# IHUB_MAVEN_ARGS; see scripts/opensearch.sh for their meaning.
# Security is disabled (xpack.security.enabled: false) and the nodes bind 127.0.0.1 only: for
# tests and local benchmarks. The integ-test zip carries only the transport-netty4,
# x-pack-core, x-pack-security and apm modules: no `GET /` (rest-root module; so the Python
# client's info() and ping() fail with 405), no painless, analysis-common, reindex or
# mapper-extras. Use the Python client of the same major (elasticsearch>=8.13,<9).
set -euo pipefail
E_KIND=elasticsearch
E_LABEL=Elasticsearch
E_VERSION=${IHUB_ELASTICSEARCH_VERSION:-8.19.21}
E_ARTIFACT=org.elasticsearch.distribution.integ-test-zip:elasticsearch
E_BIN=elasticsearch
E_YML=elasticsearch.yml
E_ENV_CONF=ES_PATH_CONF
E_ENV_TMP=ES_TMPDIR
E_ENV_JAVA=ES_JAVA_HOME
E_MANAGER_SETTING=cluster.initial_master_nodes
# Security on would auto-configure TLS and passwords at first start.
E_EXTRA_YML='xpack.security.enabled: false'
E_DEFAULT_PORT=9400
E_URL_VAR=ELASTICSEARCH_URL

engine_java_range() {
  # 8.x runs on Java 17 and later (checked: 8.19 on 17); 9.x needs Java 21.
  if [ "${E_VERSION%%.*}" -ge 9 ]; then
    E_JAVA_MIN=21 E_JAVA_MAX=99 E_JAVA_PKG=openjdk-21-jre-headless
  else
    E_JAVA_MIN=17 E_JAVA_MAX=99 E_JAVA_PKG=openjdk-17-jre-headless
  fi
}

# shellcheck source=engine-common.sh
source "$(dirname "${BASH_SOURCE[0]}")/engine-common.sh"
engine_main "$@"
