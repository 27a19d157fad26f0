# Shared by bench/run and bench/fleet (sourced).

# Install a missing tool from the distribution: need COMMAND PACKAGE.
need() { command -v "$1" >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; }; }

# Build the release `accounts` binary of the crate in the current directory
# and print its path, as cargo reports it: where it lands depends on the
# configured target (.cargo/config.toml names the host tuple since 0.2.0;
# an older revision, built as a baseline, puts it in target/release).
release_bin() {
    cargo build --release --quiet --message-format=json-render-diagnostics | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "accounts" and "bin" in m["target"]["kind"]:
        print(m["executable"])'
}
