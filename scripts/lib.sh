# shellcheck shell=bash
# Shared by scripts/setup.sh, demo.sh and test.sh: packages, build, and
# throw-away PostgreSQL clusters run as the postgres user.

# TL_PG_PREFIX: install into, and run servers from, a relocated copy of the
# PostgreSQL installation under that directory instead of the system one
# (for developers working on several copies of the tree at once).
TL_PG_PREFIX=${TL_PG_PREFIX:-}
PG_CONFIG_BUILD=/usr/lib/postgresql/15/bin/pg_config
PG_BIN=$TL_PG_PREFIX/usr/lib/postgresql/15/bin
# TL_PG_CONFIG: build against, install into (as root) and run servers from
# another PostgreSQL 15 installation, given by its pg_config (e.g. the
# --enable-cassert build of docs/testing.md).  Not combined with TL_PG_PREFIX.
TL_PG_CONFIG=${TL_PG_CONFIG:-}
if [ -n "$TL_PG_CONFIG" ]; then
	if [ -n "$TL_PG_PREFIX" ]; then
		echo "TL_PG_CONFIG and TL_PG_PREFIX cannot be used together" >&2
		exit 1
	fi
	PG_CONFIG_BUILD=$TL_PG_CONFIG
	PG_BIN=$("$TL_PG_CONFIG" --bindir) || exit 1
fi
export PATH="$PG_BIN:$PATH"
TL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Bold for headings only when stdout is a terminal: no escape codes in logs,
# pipes or CI output.  Scripts print escape codes through these alone.
if [ -t 1 ]; then
	TL_BOLD=$'\033[1m' TL_PLAIN=$'\033[0m'
else
	TL_BOLD='' TL_PLAIN=''
fi

# Run a command as root (directly, or through sudo).
as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Run a command as the postgres OS user (PostgreSQL refuses to run as root).
as_postgres() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	elif [ "$(id -un)" = postgres ]; then
		"$@"
	else
		sudo -u postgres -- "$@"
	fi
}

# Install the Debian packages tracelink needs, if any is missing.
tl_install_packages() {
	local pkgs=(postgresql-15 postgresql-server-dev-15 libsodium-dev libipc-run-perl make gcc clang libclang-rt-14-dev python3-jsonschema python3-rfc3987)
	local missing=() p
	for p in "${pkgs[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		echo "== installing: ${missing[*]}"
		as_root apt-get update -qq
		as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
	fi
}

# Build and install the extension.
tl_build_install() {
	echo "== building tracelink"
	# objects built against another installation's headers must not be reused
	if [ -n "$TL_PG_CONFIG" ]; then
		make -C "$TL_ROOT" -s clean PG_CONFIG="$PG_CONFIG_BUILD"
	fi
	make -C "$TL_ROOT" -s -j2 PG_CONFIG="$PG_CONFIG_BUILD"
	if [ -n "$TL_PG_PREFIX" ]; then
		if [ ! -x "$PG_BIN/postgres" ]; then
			mkdir -p "$TL_PG_PREFIX/usr/lib/postgresql" "$TL_PG_PREFIX/usr/share/postgresql"
			cp -a /usr/lib/postgresql/15 "$TL_PG_PREFIX/usr/lib/postgresql/"
			cp -a /usr/share/postgresql/15 "$TL_PG_PREFIX/usr/share/postgresql/"
		fi
		make -C "$TL_ROOT" -s install PG_CONFIG="$PG_CONFIG_BUILD" DESTDIR="$TL_PG_PREFIX" >/dev/null
	else
		as_root make -C "$TL_ROOT" -s install PG_CONFIG="$PG_CONFIG_BUILD" >/dev/null
	fi
}

TL_CLUSTERS=()

# tl_cluster_start DIR PORT: initdb (if needed) and start a cluster in DIR,
# listening on a Unix socket in DIR and on 127.0.0.1:PORT, ready for
# logical replication.
tl_cluster_start() {
	local dir=$1 port=$2
	if [ ! -f "$dir/data/PG_VERSION" ]; then
		as_postgres mkdir -p "$dir"
		as_postgres initdb -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
		as_postgres tee -a "$dir/data/postgresql.conf" >/dev/null <<-EOF
			port = $port
			listen_addresses = '127.0.0.1'
			unix_socket_directories = '$dir'
			wal_level = logical
			max_wal_senders = 20
			max_replication_slots = 20
			max_logical_replication_workers = 16
			max_worker_processes = 24
			fsync = off
			log_min_messages = warning
		EOF
	fi
	as_postgres pg_ctl -D "$dir/data" -l "$dir/server.log" -w start >/dev/null
	TL_CLUSTERS+=("$dir")
}

tl_cluster_stop() {
	local dir=$1
	as_postgres pg_ctl -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
}

# Stop every cluster this script started; used from an EXIT trap.
tl_cluster_stop_all() {
	local d
	for d in "${TL_CLUSTERS[@]}"; do tl_cluster_stop "$d"; done
	TL_CLUSTERS=()
}

# A TCP port nothing listens on.
tl_free_port() {
	local port=${1:-54320}
	while (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
	echo "$port"
}

# A fresh directory owned by postgres.
tl_postgres_tmpdir() {
	local d
	d=$(mktemp -d "/tmp/tracelink-$1.XXXXXX")
	chown postgres: "$d" 2>/dev/null || as_root chown postgres: "$d"
	chmod 755 "$d"
	echo "$d"
}
