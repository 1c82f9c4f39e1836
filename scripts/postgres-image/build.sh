#!/usr/bin/env bash
# Builds the local PostgreSQL 15 image that the integration tests start with
# testcontainers-go, without any container registry:
#   debootstrap (minbase + postgresql-15 from Debian's apt mirror) | docker import
#
# Usage: scripts/postgres-image/build.sh [--force] [IMAGE]
#   IMAGE   defaults to $CARTWHEEL_TEST_POSTGRES_IMAGE, else cartwheel/postgres:15
#   --force rebuild even if the image exists already (otherwise this is a no-op)
# Env:   CARTWHEEL_DEBIAN_MIRROR   apt mirror to bootstrap from (default: the one in
#                                  /etc/apt/sources.list{,.d}, else deb.debian.org)
#        CARTWHEEL_DEBOOTSTRAP_CACHE  where downloaded .debs are kept between builds
#                                  (default /var/cache/cartwheel/debootstrap; "" = none)
# Needs root, debootstrap and a running docker daemon.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
force=0
image=""
for arg in "$@"; do
	case "$arg" in
		--force|-f) force=1 ;;
		-h|--help) sed -n '2,15p' "${BASH_SOURCE[0]}"; exit 0 ;;
		-*) echo "build.sh: unknown option $arg" >&2; exit 2 ;;
		*) image="$arg" ;;
	esac
done
image="${image:-${CARTWHEEL_TEST_POSTGRES_IMAGE:-cartwheel/postgres:15}}"
suite=bookworm

say() { printf '[postgres-image %(%H:%M:%S)T] %s\n' -1 "$*"; }
die() { say "ERROR: $*" >&2; exit 1; }

command -v docker >/dev/null || die "docker is not installed"
docker info >/dev/null 2>&1 || die "the docker daemon does not answer (docker info failed)"

# The image is labelled with a hash of this script and the entrypoint, so a change
# to either rebuilds it on the next run even without --force.
recipe="$(cat "${BASH_SOURCE[0]}" "$here/entrypoint.sh" | sha256sum | cut -c1-16)"
if [ "$force" = 0 ] && docker image inspect "$image" >/dev/null 2>&1; then
	have="$(docker image inspect --format '{{ index .Config.Labels "cartwheel.recipe" }}' "$image" 2>/dev/null || true)"
	if [ "$have" = "$recipe" ]; then
		say "image $image is up to date (recipe $recipe); nothing to do (--force rebuilds)"
		exit 0
	fi
	say "image $image was built from another recipe (${have:-none}, now $recipe); rebuilding"
fi

[ "$(id -u)" = 0 ] || die "must run as root (debootstrap)"
command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"

# The Debian mirror this machine's apt uses for $suite (deb822 .sources or one-line .list).
find_mirror() {
	local f
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk -v suite="$suite" '
			function flush() { if (deb && hit && uri != "") { print uri; found = 1; exit } deb = hit = 0; uri = "" }
			/^[[:space:]]*$/ { flush(); next }
			/^[[:space:]]*#/ { next }
			tolower($1) == "types:"  { for (i = 2; i <= NF; i++) if ($i == "deb") deb = 1 }
			tolower($1) == "uris:"   { uri = $2 }
			tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == suite) hit = 1 }
			END { if (!found) flush() }
		' "$f"
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		# deb [options] URI SUITE COMPONENTS...
		sed -E 's/\[[^]]*\]//' "$f" | awk -v suite="$suite" '$1 == "deb" && $3 == suite { print $2 }'
	done
}
mirror="${CARTWHEEL_DEBIAN_MIRROR:-$(find_mirror | grep -E '^https?://' | grep -v -- '-security' | head -n1 || true)}"
mirror="${mirror:-http://deb.debian.org/debian}"

cache="${CARTWHEEL_DEBOOTSTRAP_CACHE-/var/cache/cartwheel/debootstrap}"
cache_opt=()
if [ -n "$cache" ]; then
	mkdir -p "$cache"
	cache_opt=(--cache-dir="$cache")
fi

work="$(mktemp -d /tmp/cartwheel-pgimage.XXXXXX)"
rootfs="$work/rootfs"
cleanup() {
	# debootstrap may leave /proc, /sys, ... mounted inside the rootfs when it fails.
	local m
	awk -v r="$rootfs" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do
		umount -l "$m" 2>/dev/null || :
	done
	rm -rf --one-file-system "$work"
}
trap cleanup EXIT

old_id="$(docker image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)"
start=$SECONDS
say "building $image: debootstrap --variant=minbase --include=postgresql-15,tini $suite from $mirror into $rootfs"
if ! debootstrap --variant=minbase --include=postgresql-15,tini "${cache_opt[@]}" \
	"$suite" "$rootfs" "$mirror" >"$work/debootstrap.out" 2>&1; then
	tail -n 30 "$work/debootstrap.out" >&2
	[ -f "$rootfs/debootstrap/debootstrap.log" ] && tail -n 30 "$rootfs/debootstrap/debootstrap.log" >&2
	die "debootstrap failed"
fi
say "debootstrap done in $((SECONDS - start)) s"

[ -x "$rootfs/usr/lib/postgresql/15/bin/postgres" ] || die "postgresql-15 is missing from the rootfs"
[ -x "$rootfs/usr/bin/tini" ] || die "tini is missing from the rootfs"

say "trimming the rootfs and adding the entrypoint"
# The package's postinst created a cluster at /var/lib/postgresql/15/main; the
# entrypoint initialises its own in $PGDATA, so drop it (and docs, caches, apt lists).
rm -rf "$rootfs/var/lib/postgresql/15" "$rootfs/etc/postgresql/15" \
	"$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin \
	"$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* \
	"$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/* "$rootfs"/var/log/*.log \
	"$rootfs/debootstrap"
# JIT is off in the entrypoint's config and postgres silently runs without its JIT
# provider, so drop LLVM (and z3, which only LLVM uses): ~160 MB less to import.
rm -rf "$rootfs"/usr/lib/postgresql/15/lib/llvmjit* "$rootfs"/usr/lib/postgresql/15/lib/bitcode \
	"$rootfs"/usr/lib/*-linux-gnu/libLLVM-* "$rootfs"/usr/lib/*-linux-gnu/libz3.so*
mkdir -p "$rootfs/var/lib/postgresql/data" "$rootfs/var/run/postgresql" "$rootfs/docker-entrypoint-initdb.d"
chroot "$rootfs" chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql
install -m 0755 "$here/entrypoint.sh" "$rootfs/usr/local/bin/docker-entrypoint.sh"
# A fresh container gets its own /etc/hosts and resolv.conf; do not ship the host's.
: >"$rootfs/etc/resolv.conf"
echo cartwheel-postgres >"$rootfs/etc/hostname"

say "importing the rootfs into docker as $image"
tar --numeric-owner -C "$rootfs" -c . | docker import \
	--change 'ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/docker-entrypoint.sh"]' \
	--change 'CMD ["postgres"]' \
	--change 'ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
	--change 'ENV LANG=C.UTF-8' \
	--change 'ENV PGDATA=/var/lib/postgresql/data' \
	--change 'ENV PGPORT=5432' \
	--change 'EXPOSE 5432' \
	--change "LABEL cartwheel.recipe=$recipe" \
	--message "cartwheel postgres 15 from debootstrap $suite ($mirror)" \
	- "$image" >/dev/null

if [ -n "$old_id" ] && [ "$old_id" != "$(docker image inspect --format '{{.Id}}' "$image")" ]; then
	# The previous build is now untagged; drop it unless a container still uses it.
	docker image rm "$old_id" >/dev/null 2>&1 || :
fi
say "built $image in $((SECONDS - start)) s: $(docker image inspect --format '{{.Size}}' "$image" | awk '{ printf "%.0f MB", $1 / 1e6 }')"
