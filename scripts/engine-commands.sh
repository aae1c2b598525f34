# Commands of scripts/opensearch.sh and scripts/elasticsearch.sh: start, stop, status,
# start-node and engine_main. Sourced by engine-common.sh, which holds the helpers they use
# and describes the variables the engine scripts set.

engine_parse_start_args() {  # sets A_NODES A_PORT ('' when not given)
  A_NODES='' A_PORT=''
  while [ $# -gt 0 ]; do
    case $1 in
      --nodes|--port)
        [ $# -ge 2 ] || engine_die "$1 needs a value"
        if [ "$1" = --nodes ]; then A_NODES=$2; else A_PORT=$2; fi
        shift 2 ;;
      --nodes=*) A_NODES=${1#*=}; shift ;;
      --port=*) A_PORT=${1#*=}; shift ;;
      *) engine_usage; engine_die "unknown argument '$1'" ;;
    esac
  done
  if [ -n "$A_NODES" ] && ! [[ $A_NODES =~ ^[1-9][0-9]?$ && $A_NODES -le 20 ]]; then
    engine_die "--nodes must be 1..20, got '$A_NODES'"
  fi
  if [ -n "$A_PORT" ] && ! [[ $A_PORT =~ ^[1-9][0-9]{3,4}$ && $A_PORT -le 65400 ]]; then
    engine_die "--port must be 1000..65400 (transport ports are P+100..), got '$A_PORT'"
  fi
  return 0
}

engine_heap_for() {  # $1 nodes: IHUB_ENGINE_HEAP, else 1g for one node and 512m each for more
  local heap=${IHUB_ENGINE_HEAP:-}
  [ -n "$heap" ] || { [ "$1" -eq 1 ] && heap=1g || heap=512m; }
  [[ $heap =~ ^[1-9][0-9]*[mMgG]$ ]] || engine_die "IHUB_ENGINE_HEAP must look like 512m or 1g, got '$heap'"
  echo "$heap"
}

engine_running_nodes() {  # $1 nodes: print the indexes of the running ones
  local i
  for ((i = 1; i <= $1; i++)); do engine_node_pids "$i" >/dev/null && echo "$i"; done
  return 0
}

engine_check_layout() {  # $1 nodes: refuse data written by a cluster of another size
  local i
  [ -n "$S_NODES" ] && [ "$1" != "$S_NODES" ] || return 0
  for ((i = 1; i <= S_NODES; i++)); do
    [ -n "$(ls -A "$(engine_node_dir "$i")/data" 2>/dev/null)" ] || continue
    engine_die "$E_BASE holds the data of a $S_NODES-node cluster; start it with --nodes $S_NODES, or remove $E_BASE (after stop) to start afresh with $1"
  done
}

engine_start_nodes() {  # $1 nodes $2 port $3 heap, then the indexes to launch
  local nodes=$1 port=$2 i
  E_PORT=$2 E_HEAP=$3
  shift 3
  engine_check_ports "$port" "$@"
  engine_ensure_tools
  engine_fetch
  engine_ensure_user
  engine_grant_search "$E_DIST"
  engine_grant_search "$E_BASE"
  engine_write_state "$nodes" "$port" "$E_HEAP"
  for i in "$@"; do engine_prepare_node "$i" "$nodes" "$port" "$E_HEAP"; done
  # Both show the failing node's logs.
  if ! engine_launch_nodes "$@" || ! engine_wait "$port" $(seq "$nodes"); then
    engine_kill_nodes "$@" || true
    engine_die "$E_LABEL did not start (node logs under $E_BASE/node-*/logs)"
  fi
}

engine_cmd_start() {
  local nodes port heap running=() missing=() i
  engine_parse_start_args "$@"
  engine_lock
  engine_read_state && mapfile -t running < <(engine_running_nodes "$S_NODES")
  if [ ${#running[@]} -gt 0 ]; then
    if [[ (-n $A_NODES && $A_NODES != "$S_NODES") || (-n $A_PORT && $A_PORT != "$S_PORT") ]]; then
      engine_die "already running with $S_NODES node(s) on port $S_PORT under $E_BASE; run stop first to change --nodes or --port"
    fi
    nodes=$S_NODES port=$S_PORT heap=$S_HEAP E_VERSION=$S_VERSION
  else
    # A stopped cluster restarts with its own layout unless told otherwise.
    nodes=${A_NODES:-${S_NODES:-1}} port=${A_PORT:-${S_PORT:-$E_DEFAULT_PORT}}
    heap=$(engine_heap_for "$nodes")
    engine_check_layout "$nodes"
  fi
  for ((i = 1; i <= nodes; i++)); do engine_node_pids "$i" >/dev/null || missing+=("$i"); done
  if [ ${#missing[@]} -eq 0 ]; then
    engine_msg "already running: $nodes node(s) under $E_BASE"
    engine_wait "$port" $(seq "$nodes") || engine_die "the running cluster is not healthy"
  else
    [ ${#running[@]} -eq 0 ] || engine_msg "not running: node(s) ${missing[*]}; starting them"
    engine_start_nodes "$nodes" "$port" "$heap" "${missing[@]}"
  fi
  engine_msg "ready: $nodes node(s), data and logs under $E_BASE"
  echo "$E_URL_VAR=http://127.0.0.1:$port"
}

engine_cmd_start_node() {  # $1 index: re-launch one node of the existing cluster
  local i=${1:-} up=()
  [[ $i =~ ^[1-9][0-9]*$ && $# -eq 1 ]] || engine_die "usage: start-node I (a node number)"
  [ -d "$E_BASE" ] || engine_die "no cluster under $E_BASE; run start first"
  engine_lock
  engine_read_state || engine_die "no cluster under $E_BASE; run start first"
  (( i <= S_NODES )) || engine_die "node-$i does not exist (the cluster has $S_NODES node(s))"
  [ -r "$(engine_node_dir "$i")/config/$E_YML" ] || engine_die "node-$i was never configured; run start"
  E_VERSION=$S_VERSION E_PORT=$S_PORT E_HEAP=$S_HEAP
  if engine_node_pids "$i" >/dev/null; then
    engine_msg "node-$i is already running"
  else
    engine_check_ports "$S_PORT" "$i"
    engine_ensure_tools; engine_fetch; engine_ensure_user
    engine_grant_search "$E_DIST"; engine_grant_search "$E_BASE"
    # Wait for the nodes running now plus this one (another may be down on purpose).
    mapfile -t up < <({ engine_running_nodes "$S_NODES"; echo "$i"; } | sort -un)
    if ! engine_launch_nodes "$i" || ! engine_wait "$S_PORT" "${up[@]}"; then
      engine_kill_nodes "$i" || true
      engine_die "node-$i did not start or did not join"
    fi
  fi
  echo "$E_URL_VAR=http://127.0.0.1:$S_PORT"
}

engine_cmd_stop() {
  local dirs=() idx=() d
  [ $# -eq 0 ] || engine_die "stop takes no arguments"
  [ -d "$E_BASE" ] && mapfile -t dirs < <(find "$E_BASE" -mindepth 1 -maxdepth 1 -type d -name 'node-*' | sort -V)
  for d in "${dirs[@]}"; do idx+=("${d##*/node-}"); done
  if [ ${#idx[@]} -eq 0 ]; then engine_msg "nothing to stop under $E_BASE"; return 0; fi
  engine_lock
  if engine_kill_nodes "${idx[@]}"; then
    engine_msg "stopped; data and logs kept under $E_BASE"
  else
    engine_msg "nothing running under $E_BASE"
  fi
}

engine_cmd_status() {
  local i pids state all=0 health line
  if ! engine_read_state; then echo "$E_KIND: no cluster under $E_BASE"; return 3; fi
  echo "$E_LABEL $S_VERSION: $S_NODES node(s) under $E_BASE, heap $S_HEAP each"
  for ((i = 1; i <= S_NODES; i++)); do
    if pids=$(engine_node_pids "$i" | paste -sd,); then state=running; else state=stopped pids=-; all=3; fi
    printf 'node-%s  %-7s  pid %-8s  http 127.0.0.1:%s  transport 127.0.0.1:%s\n' "$i" "$state" \
      "$pids" "$((S_PORT + i - 1))" "$((S_PORT + 100 + i - 1))"
  done
  if health=$(curl -s --max-time 5 "http://127.0.0.1:$S_PORT/_cluster/health"); then
    line=$(sed -n 's/.*"status":"\([a-z]*\)".*"number_of_nodes":\([0-9]*\).*/\1, \2 node(s) joined/p' <<< "$health")
    echo "cluster: ${line:-$health}"
  else
    echo "cluster: no answer on 127.0.0.1:$S_PORT"
  fi
  echo "$E_URL_VAR=http://127.0.0.1:$S_PORT"
  return $all
}

engine_main() {
  engine_paths
  local cmd=${1:-}
  [ $# -gt 0 ] && shift
  case $cmd in
    start) engine_cmd_start "$@" ;;
    stop) engine_cmd_stop "$@" ;;
    status) engine_cmd_status "$@" ;;
    start-node) engine_cmd_start_node "$@" ;;
    -h|--help|help) engine_usage ;;
    *) engine_usage; exit 2 ;;
  esac
}

