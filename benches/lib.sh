# Shared by the benchmark scripts: sourced, never run. A script sets `script` (its name in
# messages, e.g. benches/files.sh) before sourcing it.

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# nginx's path (/usr/sbin is often off a user's PATH), or nothing if it is not installed.
find_nginx() {
  command -v nginx || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || true
}

# Exits with the install hint if any tool is missing ("nginx" is looked up with find_nginx).
require_tools() { # tool...
  local missing=() t
  for t in "$@"; do
    if [ "$t" = nginx ]; then
      [ -n "$(find_nginx)" ] || missing+=(nginx)
    else
      command -v "$t" >/dev/null 2>&1 || missing+=("$t")
    fi
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "$script: missing ${missing[*]}; install the peers with: bash .ci/install-peers" >&2
    exit 1
  fi
}

# Exits if something already answers at URL: a measurement must not hit a stray server.
require_free() { # url
  if curl -s -o /dev/null --max-time 1 "$1"; then
    echo "$script: something already answers at $1 (set BENCH_PORT)" >&2
    exit 1
  fi
}

# Waits (about 5 s at most) until URL answers, with exactly BODY if given; else exits naming
# WHAT.
wait_http() { # url what [body]
  local i got
  for i in $(seq 100); do
    if got=$(curl -s --max-time 1 "$1"); then
      if [ $# -lt 3 ] || [ "$got" = "$3" ]; then
        return 0
      fi
    fi
    sleep 0.05
  done
  echo "$script: $2 did not answer at $1" >&2
  exit 1
}

# Stops a background process of this shell, if PID is set.
stop_pid() { # pid
  if [ -n "$1" ]; then
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
  fi
}

# utime + stime of a process and its child processes (nginx's workers), in clock ticks.
cpu_ticks() { # pid
  local total=0 p
  for p in $1 $(pgrep -P "$1" || true); do
    total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat")))
  done
  echo "$total"
}

# The items, rotated left by ROUND: each round starts with another one.
rotate() { # round items...
  local r=$1
  shift
  local items=("$@") n=$# i
  for ((i = 0; i < n; i++)); do
    printf '%s ' "${items[$(((i + r) % n))]}"
  done
}

# A self-signed server certificate for localhost, 127.0.0.1 and *.h2.test in DIR/cert.pem and
# DIR/key.pem (P-256; marked not a CA, which rustls requires of a server certificate).
h2_cert() { # dir
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$1/key.pem" -out "$1/cert.pem" -days 1 -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1,DNS:*.h2.test" \
    -addext "basicConstraints=critical,CA:FALSE" 2>/dev/null
}

# Starts one of the HTTP/2 benchmarks' hello servers on 127.0.0.1:PORT and waits (5 s at
# most) until it accepts connections; sets `pid`. nethttp-hello-tls comes from TARGET's
# release build, Go's hello from OUT; the certificate from CERTDIR (see h2_cert).
start_h2_server() { # name port certdir target out
  case $1 in
    nethttp) "$4/release/nethttp-hello-tls" "127.0.0.1:$2" "$3/cert.pem" "$3/key.pem" & ;;
    nethttp-h2c) HELLO_H2C=1 "$4/release/nethttp-hello-tls" "127.0.0.1:$2" & ;;
    go) "$5/go-hello" "127.0.0.1:$2" "$3/cert.pem" "$3/key.pem" 2>/dev/null & ;;
    *) echo "unknown server $1" >&2; exit 2 ;;
  esac
  pid=$!
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "the $1 server did not start on port $2" >&2
  exit 1
}
