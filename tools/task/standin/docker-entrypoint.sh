#!/bin/bash
# Local stand-in for the official mysql (and mariadb) image's entrypoint, on MariaDB binaries.
# It keeps the image's contract: arguments starting with '-' are mysqld options; as root it
# prepares the data and socket directories and re-executes itself as mysql (999:999, gosu's
# job); a fresh data directory is initialised from MYSQL_ROOT_PASSWORD, MYSQL_DATABASE,
# MYSQL_USER, MYSQL_PASSWORD (MYSQL_ROOT_HOST, MYSQL_INITDB_SKIP_TZINFO) and the scripts in
# /docker-entrypoint-initdb.d, with a temporary server that has networking off; then the server
# runs with the arguments given. Modelled on docker-library/mysql 8.4's docker-entrypoint.sh.
set -eo pipefail

log() { printf '%s [%s] [Entrypoint]: %s\n' "$(date --rfc-3339=seconds)" "$1" "$2"; }
note() { log Note "$*"; }
error() { log ERROR "$*" >&2; exit 1; }

if [ "${1:0:1}" = '-' ]; then
	set -- mysqld "$@"
fi
if [ "$1" != 'mysqld' ]; then
	exec "$@"
fi

# The official entrypoint reads these from `mysqld --verbose --help` with the arguments given.
DATADIR=/var/lib/mysql
SOCKET=/var/run/mysqld/mysqld.sock
install_options=()
for arg in "$@"; do
	case "$arg" in
		--datadir=*) DATADIR="${arg#*=}" ;;
		--socket=*) SOCKET="${arg#*=}" ;;
		--tmpdir=*) install_options+=("$arg") ;;
	esac
done

if [ "$(id -u)" = '0' ]; then
	note "Switching to dedicated user 'mysql'"
	mkdir -p "$DATADIR" /var/run/mysqld /var/lib/mysql-files
	chown -R mysql:mysql "$DATADIR" /var/run/mysqld /var/lib/mysql-files
	chmod 1777 /var/run/mysqld
	exec setpriv --reuid=mysql --regid=mysql --init-groups -- "$BASH_SOURCE" "$@"
fi
# Started as a non-root user (the task definition's `user`): the directories must be writable
# already; the official entrypoint creates the data directory all the same.
mkdir -p "$DATADIR" "$(dirname "$SOCKET")"

sql_escape() { sed -e "s/\\\\/\\\\\\\\/g" -e "s/'/\\\\'/g" <<<"$1"; }
client() { mariadb --protocol=socket --socket="$SOCKET" -uroot "$@"; }

if [ ! -d "$DATADIR/mysql" ]; then
	if [ -z "$MYSQL_ROOT_PASSWORD" ] && [ -z "$MYSQL_ALLOW_EMPTY_PASSWORD" ] && [ -z "$MYSQL_RANDOM_ROOT_PASSWORD" ]; then
		error 'Database is uninitialized and password option is not specified'
	fi
	note 'Initializing database files'
	# MySQL's --initialize leaves root@localhost and its system accounts only; MariaDB's
	# install adds anonymous and root@<host> accounts, removed here, before any --init-file
	# runs (mysqld --initialize runs it too).
	accounts="$(mktemp)"  # in $TMPDIR: the root may be read-only
	echo "DELETE FROM mysql.global_priv WHERE user NOT IN ('mysql.sys', 'mariadb.sys', 'root') OR host NOT IN ('localhost');" >"$accounts"
	mariadb-install-db --datadir="$DATADIR" --auth-root-authentication-method=normal \
		--skip-test-db --skip-log-bin --default-time-zone=SYSTEM "${install_options[@]}" \
		--extra-file="$accounts" >/dev/null
	rm -f "$accounts"
	note 'Database files initialized'
	note 'Starting temporary server'
	"$@" --skip-networking --default-time-zone=SYSTEM --socket="$SOCKET" &
	for _ in $(seq 300); do
		client -e 'SELECT 1' >/dev/null 2>&1 && break
		sleep 0.1
	done
	client -e 'SELECT 1' >/dev/null || error 'Unable to start server.'
	note 'Temporary server started.'
	if [ -z "$MYSQL_INITDB_SKIP_TZINFO" ]; then
		# The official image loads the time zone tables on first start (seconds of work).
		mariadb-tzinfo-to-sql /usr/share/zoneinfo 2>/dev/null | client mysql
	fi
	root_password="$(sql_escape "$MYSQL_ROOT_PASSWORD")"
	root_host="${MYSQL_ROOT_HOST:-%}"
	{
		echo "SET @@SESSION.SQL_LOG_BIN=0;"
		echo "ALTER USER 'root'@'localhost' IDENTIFIED BY '$root_password';"
		if [ "$root_host" != 'localhost' ]; then
			echo "CREATE USER 'root'@'$root_host' IDENTIFIED BY '$root_password';"
			echo "GRANT ALL ON *.* TO 'root'@'$root_host' WITH GRANT OPTION;"
		fi
		if [ -n "$MYSQL_DATABASE" ]; then
			note "Creating database ${MYSQL_DATABASE}" >&2
			echo "CREATE DATABASE IF NOT EXISTS \`$MYSQL_DATABASE\`;"
		fi
		if [ -n "$MYSQL_USER" ] && [ -n "$MYSQL_PASSWORD" ]; then
			note "Creating user ${MYSQL_USER}" >&2
			echo "CREATE USER '$MYSQL_USER'@'%' IDENTIFIED BY '$(sql_escape "$MYSQL_PASSWORD")';"
			if [ -n "$MYSQL_DATABASE" ]; then
				note "Giving user ${MYSQL_USER} access to schema ${MYSQL_DATABASE}" >&2
				echo "GRANT ALL ON \`${MYSQL_DATABASE//_/\\_}\`.* TO '$MYSQL_USER'@'%';"
			fi
		fi
		echo "FLUSH PRIVILEGES;"
	} | client
	export MYSQL_PWD="$MYSQL_ROOT_PASSWORD"
	for f in /docker-entrypoint-initdb.d/*; do
		case "$f" in
			*.sh) note "$0: running $f"; . "$f" ;;
			*.sql) note "$0: running $f"; client ${MYSQL_DATABASE:+--database="$MYSQL_DATABASE"} <"$f" ;;
			*.sql.gz) note "$0: running $f"; gunzip -c "$f" | client ${MYSQL_DATABASE:+--database="$MYSQL_DATABASE"} ;;
			*) [ -e "$f" ] && note "$0: ignoring $f" ;;
		esac
	done
	note 'Stopping temporary server'
	mariadb-admin --protocol=socket --socket="$SOCKET" -uroot shutdown
	wait
	unset MYSQL_PWD
	note 'Temporary server stopped'
	note 'MySQL init process done. Ready for start up.'
fi

exec "$@"
