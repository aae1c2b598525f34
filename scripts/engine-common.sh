# Shared part of scripts/opensearch.sh and scripts/elasticsearch.sh (helpers; the commands are
# in engine-commands.sh, sourced at the end); sourced, never run.
#
# The engine script sets these, then calls `engine_main "$@"`:
#   E_KIND         opensearch | elasticsearch (folder under $IHUB_HOME, cluster name)
#   E_LABEL        human name for messages
#   E_VERSION      engine version (pinned in the script, overridable by environment)
#   E_ARTIFACT     Maven coordinates without the version, e.g. GROUP:ARTIFACT
#   E_BIN          launcher under the distribution's bin/
#   E_YML          settings file name in the config folder
#   E_ENV_CONF E_ENV_TMP E_ENV_JAVA   the launcher's environment variable names
#   E_MANAGER_SETTING   initial cluster-manager (master) nodes setting
#   E_EXTRA_YML    extra settings lines (may be empty)
#   E_DEFAULT_PORT E_URL_VAR
# and defines engine_java_range, which sets E_JAVA_MIN E_JAVA_MAX E_JAVA_PKG for $E_VERSION.
#
# Layout: $IHUB_HOME/<kind>/cluster.env (layout of the cluster: nodes, port, heap, version)
# and $IHUB_HOME/<kind>/node-<i>/{config,data,logs,tmp,pid,launcher.log}. Every node process
# carries IHUB_ENGINE_NODE=<its node folder> in its environment: stop and status only ever
# signal a PID whose environment says it is that node (a stale pid file or a reused PID is
# never killed).

ENGINE_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ENGINE_DEP_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.8.1

engine_msg() { echo "$E_KIND: $*" >&2; }
engine_die() { echo "$E_KIND: error: $*" >&2; exit 1; }

engine_usage() {
  cat >&2 <<EOF
usage: $(basename "$0") start [--nodes N] [--port P] | stop | status | start-node I
  start       start N nodes (default 1) on 127.0.0.1, HTTP ports P..P+N-1 (default P=$E_DEFAULT_PORT),
              transport ports P+100..; last line of stdout: $E_URL_VAR=http://127.0.0.1:P
  stop        stop the nodes started under \$IHUB_HOME/$E_KIND (SIGTERM, SIGKILL after a timeout)
  status      nodes, PIDs, ports and cluster health (exit 0 all running, 3 otherwise)
  start-node  re-launch node I of the existing cluster with its settings
EOF
}

# --- paths, state ---------------------------------------------------------------------------

engine_paths() {
  local home=${IHUB_HOME:-$ENGINE_ROOT/.ihub-home}
  E_HOME=$(realpath -m -- "$home")
  E_BASE=$E_HOME/$E_KIND
  E_CACHE=$(realpath -m -- "${IHUB_ENGINE_CACHE:-${HOME:?HOME is not set}/.cache/imaging-hub/engines}")
  # These paths go into YAML, sed expressions, -Xlog:...:file=PATH:... (colon-separated) and
  # the launchers' unquoted JVM option lists: refuse what would break any of them.
  local p
  for p in "$E_BASE" "$E_CACHE"; do
    if [[ $p =~ [\"\#\\:[:space:][:cntrl:]] ]]; then
      engine_die "unsupported character (quote, #, backslash, colon or space) in path '$p'"
    fi
  done
  if [ "$(id -u)" -eq 0 ]; then E_USER=${IHUB_ENGINE_USER:-ihub-search}; else E_USER=$(id -un); fi
  [ "$E_USER" != root ] || engine_die "IHUB_ENGINE_USER must not be root (the engines refuse it)"
  return 0
}

engine_node_dir() { echo "$E_BASE/node-$1"; }

engine_read_state() {  # sets S_NODES S_PORT S_HEAP S_VERSION from cluster.env; 1 if absent
  S_NODES='' S_PORT='' S_HEAP='' S_VERSION=''
  [ -r "$E_BASE/cluster.env" ] || return 1
  local k v
  while IFS='=' read -r k v; do
    case $k in
      NODES) S_NODES=$v ;; PORT) S_PORT=$v ;; HEAP) S_HEAP=$v ;; VERSION) S_VERSION=$v ;;
    esac
  done < "$E_BASE/cluster.env"
  [[ $S_NODES =~ ^[0-9]+$ && $S_PORT =~ ^[0-9]+$ ]] \
    || engine_die "$E_BASE/cluster.env is damaged (NODES/PORT missing)"
}

engine_write_state() {  # $1 nodes $2 port $3 heap
  printf 'NODES=%s\nPORT=%s\nHEAP=%s\nVERSION=%s\n' "$1" "$2" "$3" "$E_VERSION" \
    > "$E_BASE/cluster.env.tmp"
  mv -f "$E_BASE/cluster.env.tmp" "$E_BASE/cluster.env"
}

engine_lock() {  # serialise start/stop/start-node on one cluster folder
  mkdir -p "$E_BASE"
  exec {E_LOCK_FD}>"$E_BASE/.lock"
  flock -w 600 "$E_LOCK_FD" || engine_die "another $E_KIND command holds $E_BASE/.lock"
}

# --- processes ------------------------------------------------------------------------------

engine_pid_is_node() {  # $1 pid, $2 node dir: is that process this node? (zombies are not)
  # The process may vanish between test and read: that is "not this node" too.
  { tr '\0' '\n' < "/proc/$1/environ"; } 2>/dev/null | grep -qxF "IHUB_ENGINE_NODE=$2"
}

engine_node_pids() {  # $1 index: PIDs of node $1 that are alive (pid file, else environment mark)
  local dir pid f
  dir=$(engine_node_dir "$1")
  if [ -r "$dir/pid" ]; then
    pid=$(tr -dc '0-9' < "$dir/pid")
    if [ -n "$pid" ] && engine_pid_is_node "$pid" "$dir"; then echo "$pid"; return 0; fi
  fi
  # Before the node writes its pid file (a few seconds into start-up) it is found by its mark.
  for f in $(grep -lzxF "IHUB_ENGINE_NODE=$dir" /proc/[0-9]*/environ 2>/dev/null); do
    pid=${f#/proc/}; echo "${pid%/environ}"
  done | grep . || return 1
}

engine_port_busy() {  # $1 port: does anything accept connections on 127.0.0.1:$1?
  timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

engine_port_owner() {  # $1 port: the listening process, as far as ss can tell
  command -v ss >/dev/null && ss -Hltnp "sport = :$1" 2>/dev/null | sed -n 's/.*users:((\(.*\)))/\1/p' | head -1
}

engine_check_ports() {  # $1 port $2.. node indexes: fail if a port of those nodes is taken
  local port=$1 i p
  shift
  for i in "$@"; do
    for p in $((port + i - 1)) $((port + 100 + i - 1)); do
      if engine_port_busy "$p"; then
        engine_die "port $p (node-$i) is in use by another process ($(engine_port_owner "$p" || true)), not by a node of the $E_LABEL cluster under $E_BASE; stop it or choose another --port"
      fi
    done
  done
}

# --- tools, Java, distribution ------------------------------------------------------------------

engine_apt_install() {  # Debian packages; root only, else say exactly what to install
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    engine_die "missing tools; please install the Debian packages: $* (apt-get install $*)"
  fi
  engine_msg "installing Debian packages: $*"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "$@" >/dev/null \
    || engine_die "apt-get install $* failed"
}

engine_java_major() {  # $1 JAVA_HOME: print its major version
  local v=''
  [ -x "$1/bin/java" ] || return 1
  [ -r "$1/release" ] && v=$(sed -n 's/^JAVA_VERSION="\([0-9.]*\).*/\1/p' "$1/release")
  [ -n "$v" ] || v=$("$1/bin/java" -XshowSettings:properties -version 2>&1 \
    | sed -n 's/^ *java.specification.version = //p')
  v=${v#1.}
  [[ ${v%%.*} =~ ^[0-9]+$ ]] && echo "${v%%.*}"
}

engine_find_java() {  # sets E_JAVA: the lowest Java within [E_JAVA_MIN, E_JAVA_MAX]
  local c m best='' bestm=0 cands=()
  if [ -n "${IHUB_ENGINE_JAVA_HOME:-}" ]; then
    m=$(engine_java_major "$IHUB_ENGINE_JAVA_HOME") \
      || engine_die "IHUB_ENGINE_JAVA_HOME=$IHUB_ENGINE_JAVA_HOME has no bin/java"
    (( m >= E_JAVA_MIN && m <= E_JAVA_MAX )) \
      || engine_die "IHUB_ENGINE_JAVA_HOME is Java $m; $E_LABEL $E_VERSION needs Java $E_JAVA_MIN..$E_JAVA_MAX"
    E_JAVA=$IHUB_ENGINE_JAVA_HOME; return 0
  fi
  [ -n "${JAVA_HOME:-}" ] && cands+=("$JAVA_HOME")
  command -v java >/dev/null && cands+=("$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")")
  for c in /usr/lib/jvm/*/; do cands+=("${c%/}"); done
  for c in "${cands[@]}"; do
    m=$(engine_java_major "$c") || continue
    (( m >= E_JAVA_MIN && m <= E_JAVA_MAX )) || continue
    if [ -z "$best" ] || (( m < bestm )); then best=$c; bestm=$m; fi
  done
  [ -n "$best" ] || return 1
  E_JAVA=$best
}

engine_ensure_tools() {
  local need=()
  engine_java_range   # from the engine script: E_JAVA_MIN E_JAVA_MAX E_JAVA_PKG for E_VERSION
  command -v mvn >/dev/null || need+=(maven)
  command -v unzip >/dev/null || need+=(unzip)
  command -v curl >/dev/null || need+=(curl)
  engine_find_java || need+=("$E_JAVA_PKG")
  [ ${#need[@]} -eq 0 ] || engine_apt_install "${need[@]}"
  engine_find_java || engine_die "no Java $E_JAVA_MIN..$E_JAVA_MAX found (looked at \$JAVA_HOME, java on PATH, /usr/lib/jvm/*); install one or set IHUB_ENGINE_JAVA_HOME"
  E_JAVA=$(realpath -- "$E_JAVA")
}

engine_fetch_zip() {  # $1 target zip: fetch it with mvn; print mvn's own error on failure
  local coords="$E_ARTIFACT:$E_VERSION:zip" tmp out
  tmp=$(mktemp -d "$E_CACHE/.fetch.XXXXXX")
  engine_msg "fetching $coords from Maven Central with mvn (once; cached in $E_CACHE)"
  # shellcheck disable=SC2086  # IHUB_MAVEN_ARGS is a list of extra mvn arguments
  # -U: a failed lookup cached in the Maven repository would otherwise not be retried for a day.
  if ! out=$(mvn -B -q -U ${IHUB_MAVEN_ARGS:-} "$ENGINE_DEP_PLUGIN:copy" \
        "-Dartifact=$coords" "-DoutputDirectory=$tmp" 2>&1 </dev/null); then
    rm -rf "$tmp"
    printf '%s\n' "$out" | sed 's/\x1b\[[0-9;]*m//g' >&2   # Maven 3.8 colours even with -B
    engine_die "mvn could not fetch $coords (mvn output above)"
  fi
  mv -f "$tmp"/*.zip "$1" && rm -rf "$tmp"
}

engine_fetch() {  # sets E_DIST: the unpacked distribution, fetched and unpacked once
  local zip="$E_CACHE/zips/$E_KIND-$E_VERSION.zip" tmp top lockfd
  E_DIST=$E_CACHE/$E_KIND-$E_VERSION
  mkdir -p "$E_CACHE/zips"
  exec {lockfd}>"$E_CACHE/.lock"
  flock -w 1800 "$lockfd" || engine_die "another process holds $E_CACHE/.lock"
  if [ ! -x "$E_DIST/bin/$E_BIN" ]; then
    [ -s "$zip" ] || engine_fetch_zip "$zip"
    tmp=$(mktemp -d "$E_CACHE/.unpack.XXXXXX")
    # unzip keeps the execute bits of bin/ (Python's zipfile would drop them).
    unzip -q "$zip" -d "$tmp" || { rm -rf "$tmp"; engine_die "unzip $zip failed"; }
    top=$(find "$tmp" -mindepth 1 -maxdepth 1 -type d | head -1)
    [ -x "$top/bin/$E_BIN" ] || { rm -rf "$tmp"; engine_die "$zip has no bin/$E_BIN"; }
    chmod -R a+rX "$top"   # readable by the service user
    rm -rf "$E_DIST" && mv "$top" "$E_DIST" && rm -rf "$tmp"
    engine_msg "unpacked $E_LABEL $E_VERSION into $E_DIST"
  fi
  exec {lockfd}>&-
}

# --- service user -------------------------------------------------------------------------

engine_ensure_user() {  # as root: the unprivileged system user the nodes run as
  [ "$(id -u)" -eq 0 ] || return 0
  id -u "$E_USER" >/dev/null 2>&1 && return 0
  # Several scripts may start side by side (the test session's workers do): one of them
  # creates the user, the others find it made.
  local lockfd
  exec {lockfd}>"$E_CACHE/.user.lock"
  flock -w 60 "$lockfd" || engine_die "another process holds $E_CACHE/.user.lock"
  if ! id -u "$E_USER" >/dev/null 2>&1; then
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
      "$E_USER" || engine_die "useradd $E_USER failed"
    engine_msg "created system user $E_USER ($E_LABEL refuses to run as root)"
  fi
  exec {lockfd}>&-
}

engine_grant_search() {  # $1 dir: let the service user traverse every folder down to $1
  [ "$(id -u)" -eq 0 ] || return 0
  local d='' part parts
  IFS='/' read -ra parts <<< "${1#/}"
  for part in "${parts[@]}"; do
    d="$d/$part"
    runuser -u "$E_USER" -- test -x "$d" && continue
    # Only search (x) permission, only for the service user: e.g. /root is mode 700.
    command -v setfacl >/dev/null || engine_apt_install acl
    setfacl -m "u:$E_USER:x" "$d" || engine_die "cannot give $E_USER search permission on $d"
    engine_msg "gave user $E_USER search (x) permission on $d (ACL) so the nodes can reach their files"
  done
}

# --- node configuration and launch ----------------------------------------------------------

engine_jvm_options() {  # $1 logs dir: the distribution's jvm.options with node-local paths
  # The stock file writes gc.log and hs_err under the working directory (the distribution,
  # not writable by the service user) and fixes the heap; heap comes from ihub.options.
  sed -e "s#file=logs/#file=$1/#; s#file=gc\.log#file=$1/gc.log#" \
      -e "s#ErrorFile=logs/#ErrorFile=$1/#; s#ErrorFile=hs_err#ErrorFile=$1/hs_err#" \
      -e "s#HeapDumpPath=data#HeapDumpPath=$1#; s#filecount=32,filesize=64m#filecount=4,filesize=16m#" \
      -e '/^-Xm[sx]/d' "$E_DIST/config/jvm.options"
}

engine_node_yml() {  # $1 index $2 nodes $3 port: the node's settings file
  local i=$1 n=$2 port=$3 dir j seeds='' names=''
  dir=$(engine_node_dir "$i")
  cat <<EOT
# Written by scripts/$E_KIND.sh at every start; edits are overwritten.
cluster.name: ihub-$E_KIND
node.name: node-$i
network.host: 127.0.0.1
http.port: $((port + i - 1))
transport.port: $((port + 100 + i - 1))
path.data: "$dir/data"
path.logs: "$dir/logs"
cluster.routing.allocation.disk.threshold_enabled: false
EOT
  if [ "$n" -eq 1 ]; then
    echo "discovery.type: single-node"
  else
    for ((j = 1; j <= n; j++)); do
      seeds+="${seeds:+, }\"127.0.0.1:$((port + 100 + j - 1))\""; names+="${names:+, }\"node-$j\""
    done
    echo "discovery.seed_hosts: [$seeds]"
    echo "$E_MANAGER_SETTING: [$names]"
  fi
  [ -z "$E_EXTRA_YML" ] || printf '%s\n' "$E_EXTRA_YML"
}

engine_prepare_node() {  # $1 index $2 nodes $3 port $4 heap: config, data and log folders
  local dir conf
  dir=$(engine_node_dir "$1"); conf=$dir/config
  mkdir -p "$conf/jvm.options.d" "$dir/data" "$dir/logs" "$dir/tmp"
  cp -R "$E_DIST/config/." "$conf/"   # refresh the stock files; the keystore is kept
  engine_jvm_options "$dir/logs" > "$conf/jvm.options"
  # No heap dumps: a dump is as large as the heap and disks here can be tight.
  printf -- '-Xms%s\n-Xmx%s\n-XX:-HeapDumpOnOutOfMemoryError\n' "$4" "$4" \
    > "$conf/jvm.options.d/ihub.options"
  engine_node_yml "$1" "$2" "$3" > "$conf/$E_YML"
  if [ "$(id -u)" -eq 0 ]; then
    # The config folder must be writable by the node (it creates its keystore there).
    chown "$E_USER:" "$dir" "$dir/data" "$dir/logs" "$dir/tmp" && chown -R "$E_USER:" "$conf"
  fi
}

engine_launch_node() {  # $1 index: start one daemonised node (config already written)
  local dir runas=()
  dir=$(engine_node_dir "$1")
  rm -f "$dir/pid"
  find "$dir/tmp" -mindepth 1 -delete 2>/dev/null || true   # scratch of the previous run
  [ "$(id -u)" -eq 0 ] && runas=(runuser -u "$E_USER" --)
  # stdin/stdout/stderr and the lock go nowhere near the node: a caller reading our output
  # through a pipe must not wait for the JVM to exit.
  # CLI_JAVA_OPTS: Elasticsearch's launcher JVM would leave final-flags* folders in /tmp.
  ( cd "$dir" && exec env IHUB_ENGINE_NODE="$dir" "$E_ENV_CONF=$dir/config" \
      "$E_ENV_TMP=$dir/tmp" "$E_ENV_JAVA=$E_JAVA" JAVA_HOME="$E_JAVA" \
      CLI_JAVA_OPTS="-Djava.io.tmpdir=$dir/tmp" \
      "${runas[@]}" "$E_DIST/bin/$E_BIN" -d -p "$dir/pid" ) \
    </dev/null >"$dir/launcher.log" 2>&1 {E_LOCK_FD}>&-
}

engine_launch_nodes() {  # $@ indexes: launch in parallel (Elasticsearch's -d blocks until up)
  local i pids=() idx=("$@") rc=0
  for i in "$@"; do
    engine_msg "starting node-$i (http 127.0.0.1:$((E_PORT + i - 1)), heap $E_HEAP, Java $E_JAVA)"
    engine_launch_node "$i" & pids+=($!)
  done
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" && continue
    rc=1; engine_msg "the launcher of node-${idx[$i]} failed"; engine_show_node_logs "${idx[$i]}"
  done
  return $rc
}

engine_show_node_logs() {  # $1 index: the end of the node's launcher output and main log
  local dir f
  dir=$(engine_node_dir "$1")
  for f in "$dir/launcher.log" "$dir/logs/ihub-$E_KIND.log"; do
    [ -s "$f" ] || continue
    echo "----- node-$1: last lines of $f" >&2
    grep -v '^warning: no-jdk' "$f" | tail -n 25 >&2
  done
}

engine_health() {  # $1 port, then node indexes: 0 once those nodes joined, health >= yellow
  local port=$1 body i
  shift
  for i in "$@"; do   # ask any of them: node-1 (the URL's) may be the one coming back
    body=$(curl -s --max-time 10 "http://127.0.0.1:$((port + i - 1))/_cluster/health?wait_for_nodes=$#&wait_for_status=yellow&timeout=3s") \
      || continue
    [[ $body == *'"timed_out":false'* ]] && return 0
    return 1
  done
  return 1
}

engine_wait() {  # $1 port, then the node indexes that must be up: wait, fail early if one died
  local port=$1 i timeout=${IHUB_ENGINE_START_TIMEOUT:-240}
  local deadline=$((SECONDS + timeout))
  shift
  while :; do
    for i in "$@"; do
      engine_node_pids "$i" >/dev/null && continue
      engine_msg "node-$i is not running (it exited during start-up)"
      engine_show_node_logs "$i"; return 1
    done
    engine_health "$port" "$@" && return 0
    if (( SECONDS >= deadline )); then
      engine_msg "cluster not ready ($# node(s) joined, health yellow or green) after ${timeout}s"
      for i in "$@"; do engine_show_node_logs "$i"; done
      return 1
    fi
    sleep 1
  done
}

engine_kill_nodes() {  # $@ indexes: SIGTERM, wait, SIGKILL what is left; 1 if none ran
  local i pid timeout=${IHUB_ENGINE_STOP_TIMEOUT:-60}
  declare -A pids=()
  for i in "$@"; do
    for pid in $(engine_node_pids "$i"); do pids[$pid]=$i; done
  done
  [ ${#pids[@]} -gt 0 ] || return 1
  for pid in "${!pids[@]}"; do
    engine_msg "stopping node-${pids[$pid]} (pid $pid)"; kill -TERM "$pid" 2>/dev/null || true
  done
  if ! engine_wait_gone "$timeout" pids; then
    engine_msg "still running after ${timeout}s; sending SIGKILL"
    for pid in "${!pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    engine_wait_gone 30 pids || engine_die "nodes survived SIGKILL for 30 s: ${!pids[*]}"
  fi
  engine_wait_reaped 10 "${!pids[@]}"
  for i in "$@"; do rm -f "$(engine_node_dir "$i")/pid"; done   # stale after a SIGKILL
}

engine_wait_gone() {  # $1 seconds, $2 name of an array pid -> node index: 0 once all are gone
  local -n _pids=$2
  local pid alive deadline=$((SECONDS + $1))
  while :; do
    alive=0
    for pid in "${!_pids[@]}"; do
      engine_pid_is_node "$pid" "$(engine_node_dir "${_pids[$pid]}")" && alive=1
    done
    [ $alive -eq 0 ] && return 0
    (( SECONDS < deadline )) || return 1
    sleep 0.5
  done
}

engine_wait_reaped() {  # $1 seconds, then PIDs: an exited node stays a zombie until its parent
  # (init) reaps it; wait a little so "stopped" also means the PID is gone, but never hang on
  # an init that does not reap.
  local deadline=$((SECONDS + $1)) pid
  shift
  for pid in "$@"; do
    while [ -e "/proc/$pid" ] && (( SECONDS < deadline )); do sleep 0.2; done
  done
  return 0
}

# The commands (start, stop, status, start-node) and engine_main.
# shellcheck source=engine-commands.sh
source "$(dirname "${BASH_SOURCE[0]}")/engine-commands.sh"
