# shellcheck shell=bash
# node_deps.sh: Node.js >= 18, npm and the pinned packages of
# tests/interop/package.json, for the interop shell tests.
#
# Source it after defining fail() (prints and exits) and TEST_NAME (the
# prefix of progress messages), then call
#   node_deps_ensure DIR WHAT
# DIR holds package.json; WHAT names its packages in the npm-failure message.
# With no node at all it installs Debian's nodejs + npm (root only); npm
# install runs only when node_modules lacks the pinned versions. Anything
# missing ends in fail: the tests never skip.

# True when every dependency of DIR/package.json is installed at exactly the
# pinned version. Reads node_modules directly: a package whose "exports" omits
# ./package.json (openai) cannot be require()d for it.
node_deps_pinned() {
    (cd "$1" && node -e '
        const fs = require("fs");
        const want = require("./package.json").dependencies;
        for (const [name, version] of Object.entries(want)) {
            const got = JSON.parse(fs.readFileSync("node_modules/" + name + "/package.json", "utf8"));
            if (got.version !== version) process.exit(1);
        }' 2>/dev/null)
}

node_deps_ensure() {
    local dir=$1 what=$2 major lock_fd
    if ! command -v node >/dev/null 2>&1; then
        # A fresh Debian 12 has no node. Only then is Debian's npm right: next
        # to a Node.js from elsewhere (which ships its own npm) it conflicts.
        [ "$(id -u)" = 0 ] || fail "node is missing; install Node.js >= 18 (or run as root to apt-get it)"
        command -v apt-get >/dev/null 2>&1 || fail "node is missing and there is no apt-get; install Node.js >= 18"
        echo "$TEST_NAME: node is missing; installing Debian's nodejs and npm" >&2
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 ||
            fail "apt-get update failed (no network?)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >&2 ||
            fail "apt-get install nodejs npm failed"
    fi
    command -v npm >/dev/null 2>&1 ||
        fail "node is present but npm is not; install the npm that belongs to this Node.js"
    major=$(node -p 'process.versions.node.split(".")[0]')
    [ "$major" -ge 18 ] || fail "node $(node --version) is too old; need >= 18"

    # ctest runs the interop tests in parallel and they share DIR: two npm
    # installs in one node_modules clobber each other (seen in CI). An
    # exclusive lock makes the second wait, then find the packages in place.
    command -v flock >/dev/null 2>&1 || fail "flock (util-linux) is missing"
    exec {lock_fd}>"$dir/.npm-install.lock" || fail "cannot create $dir/.npm-install.lock"
    flock -w 600 "$lock_fd" || fail "waited 600 s for another npm install in $dir"
    if ! node_deps_pinned "$dir"; then
        echo "$TEST_NAME: npm install in $dir" >&2
        (cd "$dir" && npm install --no-audit --no-fund >&2) ||
            fail "npm install failed in $dir (the npm registry must be reachable once to fetch $what)"
        node_deps_pinned "$dir" || fail "after npm install, node_modules still lacks the pinned versions of package.json"
    fi
    exec {lock_fd}>&-
}
