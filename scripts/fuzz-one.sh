#!/usr/bin/env bash
# fuzz-one.sh GO PKG TARGET FUZZTIME: fuzz one target for FUZZTIME and
# print one TORTURE line (the run's log is /tmp/cartwheel-fuzz-TARGET.log;
# a failing input lands in PKG/testdata/fuzz/TARGET/ and then runs with
# every `go test`).
#
# Go 1.26's fuzz coordinator can fail a run at the end of -fuzztime with a
# bare "context deadline exceeded" and no input written: a race in its own
# shutdown (go.dev/issue/75804, fixed in Go 1.27). That one outcome is not
# a finding; anything else that fails is.
set -u
go=$1 pkg=$2 target=$3 fuzztime=$4
log=/tmp/cartwheel-fuzz-$target.log
corpus=$pkg/testdata/fuzz/$target
inputs() { ls "$corpus" 2>/dev/null | sort; }
before=$(inputs)
start=$(date +%s)
"$go" test -run '^$' -fuzz "^$target\$" -fuzztime "$fuzztime" "$pkg" >"$log" 2>&1
status=$?
took=$(( $(date +%s) - start ))
execs=$(grep -oE 'execs: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+')
if [ $status -eq 0 ]; then
	echo "TORTURE fuzz $target: $fuzztime ($took s with the build), ${execs:-?} execs, no failure"
	exit 0
fi
if [ "$(inputs)" = "$before" ] && grep -A1 -E "^--- FAIL: $target " "$log" | tail -1 | grep -qxE '[[:space:]]*context deadline exceeded' &&
	[ "$(grep -cE '^--- FAIL' "$log")" -eq 1 ] && ! grep -qE 'panic:|Failing input written' "$log"; then
	echo "TORTURE fuzz $target: $fuzztime ($took s with the build), ${execs:-?} execs, no failure (the fuzz coordinator's end-of-fuzztime race, go.dev/issue/75804: no input written)"
	exit 0
fi
echo "TORTURE fuzz $target: FAILED after $took s"
tail -n 30 "$log"
exit 1
