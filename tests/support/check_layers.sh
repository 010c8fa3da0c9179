#!/usr/bin/env bash
# check_layers.sh: proves the include rule the build is laid out to enforce.
# For each layer, every header of a folder it may use compiles with the
# layer's own include path, and every header of any other folder is not found
# ("No such file"), so an include pointing the wrong way fails the build.
#
#   check_layers.sh CC SRC_DIR 'layer|allowed folder ...|-I... -I...' ...
# (CMakeLists.txt passes each layer's real include directories.)
set -uo pipefail
cc=$1 src=$2; shift 2
declare -A dir=(
  [common]=server/common [table]=server/table [storage]=storage
  [routing]=server/dataplane/routing [providers]=server/dataplane/providers
  [core]=server/dataplane/core [ensemble]=server/dataplane/ensemble
  [front]=server/dataplane/front [controlplane]=server/controlplane [admin]=admin)
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
for spec in "$@"; do
  IFS='|' read -r layer allowed incs <<<"$spec"
  read -ra flags <<<"$incs"
  for folder in "${!dir[@]}"; do
    headers=$(cd "$src/${dir[$folder]}" && ls *.h 2>/dev/null)
    [ -n "$headers" ] || continue
    if [[ " $allowed " == *" $folder "* ]]; then
      for h in $headers; do echo "#include \"$h\""; done >"$tmp/ok.c"
      if out=$("$cc" -fsyntax-only "${flags[@]}" "$tmp/ok.c" 2>&1); then
        pass=$((pass + 1))
      else
        echo "FAIL $layer: cannot use $folder/ headers it may use:"; echo "$out" | head -5
        fail=$((fail + 1))
      fi
    else
      for h in $headers; do
        echo "#include \"$h\"" >"$tmp/bad.c"
        if out=$("$cc" -E "${flags[@]}" "$tmp/bad.c" 2>&1 >/dev/null) ||
           ! grep -q "$h: No such file" <<<"$out"; then
          echo "FAIL $layer sees ${dir[$folder]}/$h (a layer it must not include)"
          fail=$((fail + 1))
        else
          pass=$((pass + 1))
        fi
      done
    fi
  done
done
echo "layers: $pass checks passed, $fail failed"
[ "$fail" = 0 ] && [ "$pass" -gt 0 ]
