# Shared by benches/load.sh and benches/soak.sh (sourced, not run): installing wrk, starting
# `madoguchi serve` on a free loopback port, and writing wrk's Lua data of fresh conversations.
# The caller defines `die`, `bin`, `work`, `database` and `messages`.

# The binary, a trained model and the benchmark messages, or a clear error naming the fix.
check_inputs() {
    [ -x "$bin" ] || die "$bin is missing: run \`make build\` (or pass --bin)"
    [ -e models/current ] || die "no trained model: run \`make train\`"
    [ -f "$messages" ] || die "$messages is missing (the benchmark messages, one per line)"
}

# Debian's wrk, installed when missing.
ensure_wrk() {
    command -v wrk >/dev/null && return
    echo "installing wrk (Debian package)" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; } >&2 \
        || die "could not install wrk"
}

# Starts `serve` on a free port (database: $database, else sqlite://$work/$1), sets `base` and
# `server_pid`, and waits until it is ready. Every simulated customer comes from 127.0.0.1, so the
# per-address and per-conversation rate limits are off.
start_server() {
    local port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    base="http://127.0.0.1:$port"
    "$bin" serve --bind "127.0.0.1:$port" --database "${database:-sqlite://$work/$1}" \
        --conversations-per-ip-per-minute 0 --messages-per-conversation-per-minute 0 \
        >"$work/server.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 600); do
        curl -fsS "$base/readyz" >/dev/null 2>&1 && break
        kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; die "the server exited"; }
        sleep 0.5
    done
    curl -fsS "$base/readyz" >/dev/null || die "the server never became ready"
}

# $1 fresh conversations (ja and en in turn) and the benchmark messages, as wrk's Lua data in
# $work/data.lua (read by benches/chat.lua).
write_conversations() {
    python3 - "$base" "$1" "$messages" >"$work/data.lua" <<'PY'
import json, sys, urllib.request
base, count, messages = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def lua(s):
    return "[==[" + s + "]==]"
convs = []
for i in range(count):
    locale = "ja" if i % 2 == 0 else "en"
    req = urllib.request.Request(base + "/v1/conversations", method="POST",
        data=json.dumps({"locale": locale}).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        c = json.load(r)
    convs.append("{id=%s, token=%s}" % (lua(c["id"]), lua(c["token"])))
bodies = [lua(json.dumps({"text": line.strip()}, ensure_ascii=False))
          for line in open(messages, encoding="utf-8") if line.strip()]
print("return {conversations={%s}, messages={%s}}" % (",".join(convs), ",".join(bodies)))
PY
}
