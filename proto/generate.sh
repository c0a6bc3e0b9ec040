#!/usr/bin/env bash
# Regenerates the Go code for proto/lance/*.proto into internal/lance/lancepb.
# Needs protoc (Debian: protobuf-compiler) and protoc-gen-go v1.36.12 on PATH
# (`GOBIN=$PWD/bin go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12`).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/bin:$PATH"
protoc --proto_path=proto/lance \
  --go_out=. --go_opt=module=github.com/sarissa-db/sarissa \
  proto/lance/file.proto proto/lance/file2.proto proto/lance/encodings_v2_0.proto \
  proto/lance/table.proto proto/lance/transaction.proto
