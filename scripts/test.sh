#!/usr/bin/env bash
# The test command: installs what the tests need on a fresh Debian machine,
# then runs every check. Run as root (apt-get and network namespaces).
#
#   ./scripts/test.sh            everything
#   SKIP_INSTALL=1 ./scripts/test.sh   skip apt/npm installs (already there)
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n=== %s\n' "$*"; }

if [ "${SKIP_INSTALL:-}" != 1 ]; then
	step "install system packages (chromium for browser tests; iproute2 and nftables for network namespaces and NAT; redis-server for cluster tests; coturn for the TURN benchmark's test)"
	need=()
	command -v chromium >/dev/null || need+=(chromium)
	command -v redis-server >/dev/null || need+=(redis-server)
	command -v turnserver >/dev/null || need+=(coturn)
	command -v ip >/dev/null || need+=(iproute2)
	command -v nft >/dev/null || need+=(nftables)
	if [ ${#need[@]} -gt 0 ]; then
		apt-get -o DPkg::Lock::Timeout=300 update -q
		DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q "${need[@]}"
	fi
	step "download Go modules"
	go mod download
fi

step "gofmt"
bad=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$bad" ]; then echo "gofmt needed:"; echo "$bad"; exit 1; fi

step "go vet"
go vet ./...

if [ -f web/tsconfig.json ]; then
	step "type-check the JS SDK and app (tsc --checkJs)"
	npx -y -p typescript@5 tsc -p web/tsconfig.json
fi

step "go test -race (WebRTC, TURN and browser tests run in loopback-only network namespaces)"
go test -race -count=1 -timeout 20m ./...
