#!/usr/bin/env bash
# A real local OpenSearch (the integ-test zip from Maven Central) for tests and benchmarks.
#
#   bash scripts/opensearch.sh start [--nodes N] [--port P]
#       Fetches org.opensearch.distribution.integ-test-zip:opensearch:$IHUB_OPENSEARCH_VERSION
#       (default 2.19.6) with mvn once and unpacks it once, both cached under
#       ${IHUB_ENGINE_CACHE:-$HOME/.cache/imaging-hub/engines}; starts N nodes (default 1) on
#       127.0.0.1 with HTTP ports P..P+N-1 (default P=9200) and transport ports P+100..P+100+N-1;
#       waits until all N nodes joined and health is yellow or green; the LAST line of stdout is
#       OPENSEARCH_URL=http://127.0.0.1:P (messages go to stderr).
#       Already running: says so and prints the URL line again (exit 0); running with another
#       --nodes/--port, or a port taken by another process: a clear error, exit 1.
#       A stopped cluster restarts with its own layout when --nodes/--port are not given.
#   bash scripts/opensearch.sh stop        SIGTERM to each node's PID, SIGKILL after
#                                          $IHUB_ENGINE_STOP_TIMEOUT s (60); waits until gone;
#                                          removes nothing but stale pid files
#   bash scripts/opensearch.sh status      nodes, PIDs, ports, health (exit 0 all up, 3 if not)
#   bash scripts/opensearch.sh start-node I   re-launch node I with its settings (after a kill)
#
# Data, logs, config and pid file of node i: $IHUB_HOME/opensearch/node-<i>/
# (IHUB_HOME defaults to <project>/.ihub-home, as scripts/up.sh). Environment:
#   IHUB_ENGINE_HEAP           heap per node (default 1g for one node, 512m each for more)
#   IHUB_OPENSEARCH_VERSION    engine version (2.x runs on Java 11..23, 3.x on 21+)
#   IHUB_ENGINE_JAVA_HOME      Java to use (default: the lowest suitable one found)
#   IHUB_ENGINE_USER           user the nodes run as when started by root (default ihub-search,
#                              created as a system user; OpenSearch refuses to run as root)
#   IHUB_ENGINE_START_TIMEOUT  seconds to wait for the cluster (default 240)
#   IHUB_MAVEN_ARGS            extra mvn arguments (e.g. -s settings.xml, -Dmaven.repo.local=...)
# Missing mvn, unzip, curl or Java are installed with apt when run as root; otherwise the
# script names the Debian packages to install. If the artifact cannot be fetched it prints
# mvn's error and exits 1; there is no other download source.
# Bound to 127.0.0.1 only, no security plugin: for tests and local benchmarks, not production
# (see deploy/). The integ-test zip carries only the transport module: no analysis-common,
# painless, reindex or mapper-extras.
set -euo pipefail
E_KIND=opensearch
E_LABEL=OpenSearch
E_VERSION=${IHUB_OPENSEARCH_VERSION:-2.19.6}
E_ARTIFACT=org.opensearch.distribution.integ-test-zip:opensearch
E_BIN=opensearch
E_YML=opensearch.yml
E_ENV_CONF=OPENSEARCH_PATH_CONF
E_ENV_TMP=OPENSEARCH_TMPDIR
E_ENV_JAVA=OPENSEARCH_JAVA_HOME
E_MANAGER_SETTING=cluster.initial_cluster_manager_nodes
E_EXTRA_YML=''
E_DEFAULT_PORT=9200
E_URL_VAR=OPENSEARCH_URL

engine_java_range() {
  # 2.x installs a Security Manager, which Java 24+ refuses (checked: 2.19.6 on Java 25 fails
  # at VM start); 3.x needs Java 21.
  if [ "${E_VERSION%%.*}" -ge 3 ]; then
    E_JAVA_MIN=21 E_JAVA_MAX=99 E_JAVA_PKG=openjdk-21-jre-headless
  else
    E_JAVA_MIN=11 E_JAVA_MAX=23 E_JAVA_PKG=openjdk-17-jre-headless
  fi
}

# shellcheck source=engine-common.sh
source "$(dirname "${BASH_SOURCE[0]}")/engine-common.sh"
engine_main "$@"
