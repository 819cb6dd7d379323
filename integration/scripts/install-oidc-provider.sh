#!/usr/bin/env bash
# Installs the pinned panva/oidc-provider for the integration tests:
# npm ci from integration/oidc-provider/package-lock.json into its
# node_modules/ (gitignored). Needs Node 20+ and npm.
set -euo pipefail
cd "$(dirname "$0")/../oidc-provider"
npm ci --no-audit --no-fund --loglevel=error
node -e 'console.log("oidc-provider " + require("./node_modules/oidc-provider/package.json").version)'
