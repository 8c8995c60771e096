#!/usr/bin/env bash
# Tests examples the way an application uses jobdeck: packs jobdeck's tarball once, copies each
# example to a folder outside this repository (no path or workspace link back into it), installs
# the tarball and the example's own dependencies from the registry, then type-checks the example
# and runs its tests. Usage: bash examples/test-from-tarball.sh [example-name…]   (default: app)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
examples=("${@:-app}")
work="$(mktemp -d "${TMPDIR:-/tmp}/jobdeck-example-XXXXXX")"
trap 'rm -rf "$work"' EXIT
# As root, the embedded PostgreSQL runs as an unprivileged OS user, who must reach its binaries here.
chmod 755 "$work"

# The example brings its own Node >= 22.18, as an application would; on a machine whose Node is
# older, use the Node 24 this repository installs for its own scripts (only the binary).
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 22 ] && [ -x "$repo/node_modules/.bin/node" ]; then
  mkdir -p "$work/node-bin"
  ln -s "$(readlink -f "$repo/node_modules/.bin/node")" "$work/node-bin/node"
  export PATH="$work/node-bin:$PATH"
fi

cd "$repo"
npm pack --silent --pack-destination "$work" >/dev/null
tarball="$(ls "$work"/jobdeck-*.tgz)"
echo "packed $(basename "$tarball"): $(du -k "$tarball" | cut -f1) kB, $(tar tzf "$tarball" | wc -l) files"

for example in "${examples[@]}"; do
  echo "== examples/$example"
  mkdir "$work/$example"
  tar -C "$repo/examples/$example" --exclude node_modules --exclude package-lock.json --exclude dist --exclude uploads -cf - . | tar -C "$work/$example" -xf -
  cd "$work/$example"
  start=$(date +%s)
  npm install --no-audit --no-fund --loglevel=error "$tarball"
  echo "installed into examples/$example in $(($(date +%s) - start)) s"
  if grep -rq "$repo" node_modules/jobdeck package.json; then
    echo "the installed example refers back into the repository" >&2
    exit 1
  fi
  npm run --silent typecheck
  npm test
done
