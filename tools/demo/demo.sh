#!/usr/bin/env bash
# The appliance's whole job on the simulator board, done by the daemon alone.
# Called by `./build.sh demo` after `./build.sh build`; run from the
# repository root.
#
#  1. every board file passes `metsentryd --check`; a broken one is refused
#  2. dcmtk's storescp starts as the PACS on loopback; metsentryd starts on
#     the sim board with the shipped model (models/metnet, signed)
#  3. two synthetic VISIBLE studies (tools/phantom, made-up patients), one
#     with lesions and one without, are sent with dcmtk's storescu like a
#     scanner console would; for each the daemon stores it, decides it is
#     complete, picks the pair, runs the model, writes SEG + SR + annotated
#     series and sends them to the PACS. Printed per study: the panel state,
#     the lesion table, seconds from the last image acknowledged to the flag
#     and to the SR acknowledged by the PACS, and what the PACS received.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
bin=$PWD/bin
work=$(mktemp -d)
cleanup() {
  [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null
  [ -n "${pacs:-}" ] && kill "$pacs" 2>/dev/null
  [ -n "${panelsim:-}" ] && kill "$panelsim" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
shared=${METSENTRY_SHARED_DATA:-$PWD/../shared/data}
[ -d "$shared/anatomy/colin27" ] || { echo "demo: $shared/anatomy/colin27 is missing (the shared data folder must sit beside the repository)"; exit 1; }
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }

echo "== 1. board files: metsentryd --check"
for b in boards/*.yaml; do
  "$bin/metsentryd" --check --board "$b" --site firmware/cmd/metsentryd/site.example.yaml
done
sed -e 's/baud: 115200}/baud: 9601}/' -e 's/providers: \[cpu\]/providers: [npu, cpu]/' boards/sim.yaml > "$work/broken.yaml"
"$bin/metsentryd" --check --board "$work/broken.yaml" || echo "   (refused with exit $?, one line per mistake, as it should)"

echo
echo "== 2. storescp as PACS, tools/panelsim as the front panel, metsentryd on the sim board with the shipped model"
port=$(freeport); pacsport=$(freeport)
mkdir -p "$work/pacs"
storescp -aet PACS -od "$work/pacs" -uf "$pacsport" 2> "$work/pacs.log" &
pacs=$!
mkfifo "$work/panelsim.in"; exec 3<>"$work/panelsim.in" # panelsim reads commands; keep its input open
"$bin/panelsim" -link "$work/panel" -console "$work/console" -console-term "$work/console-term" -color=false < "$work/panelsim.in" > "$work/panelsim.out" 2>&1 &
panelsim=$!
for _ in $(seq 50); do [ -e "$work/panel" ] && break; sleep 0.1; done
sed -e "s|data_dir: .*|data_dir: $work/data|" -e "s|device: /run/metsentry-sim/panel|device: $work/panel|" \
  -e "s|device: /run/metsentry-sim/console|device: $work/console|" boards/sim.yaml > "$work/board.yaml"
cat > "$work/site.yaml" <<SITE
ae_title: METSENTRY
port: $port
bind: 127.0.0.1
allowed_peers:
  - {ae_title: MRCONSOLE, address: 127.0.0.1}
destinations:
  - {name: pacs, ae_title: PACS, host: 127.0.0.1, port: $pacsport, send: [seg, sr, sc]}
completeness:
  quiet_period: 20s
  max_wait: 15m
SITE
sed -n '/^rules:/,/^retention:/p' firmware/cmd/metsentryd/site.example.yaml | sed '$d' >> "$work/site.yaml"
"$bin/metsentryd" --board "$work/board.yaml" --site "$work/site.yaml" \
  --model models/metnet/metnet-fp32.manifest.json --trust models/trust 2> "$work/daemon.log" &
pid=$!
# The model is self-tested and warmed up on a large brain grid before the SCP
# listens: seconds on an idle machine, up to a minute or two on a busy one.
for _ in $(seq 600); do grep -q "DICOM SCP listening" "$work/daemon.log" && break; sleep 0.2; done
grep -q "DICOM SCP listening" "$work/daemon.log" || { cat "$work/daemon.log"; exit 1; }
grep -o 'runtime="[^"]*"' "$work/daemon.log" | head -1 | sed 's/^/   /'
echoscu -aet MRCONSOLE -aec METSENTRY 127.0.0.1 "$port" && echo "   C-ECHO: ok"

echo
echo "== 3. two synthetic VISIBLE studies sent with storescu"
n=0
for seed in 10 1; do
  n=$((n+1))
  rm -rf "$work/study"
  "$bin/phantom" -anatomy "$shared/anatomy/colin27" -split test -seed "$seed" -n 1 -out "$work/study" -q
  study=$(ls -d "$work"/study/*/)
  truth=$(python3 -c "import json; print(len(json.load(open('$study/truth.json'))['lesions']))")
  echo "-- study $n: phantom case $(basename "$study"), $(find "$study/dicom" -type f | wc -l) DICOM files, truth: $truth lesion(s)"
  touch "$work/mark"; sleep 0.01
  storescu -aet MRCONSOLE -aec METSENTRY +sd +r 127.0.0.1 "$port" "$study/dicom"
  sent=$(now)
  for _ in $(seq 600); do
    [ "$(grep -c 'pipeline: job \(delivered\|dead\|failed\|skipped\)' "$work/daemon.log" || true)" -ge "$n" ] && break
    grep -c 'intake: study skipped' "$work/daemon.log" | grep -q "^$n$" && break
    sleep 0.1
  done
  python3 - "$work/daemon.log" "$sent" "$n" <<'PY'
import re, sys, datetime
log, sent, n = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
def t(line):
    m = re.search(r'time=(\S+)', line)
    return datetime.datetime.fromisoformat(m.group(1).replace('Z', '+00:00')).timestamp()
lines = open(log).read().splitlines()
analysed = [l for l in lines if 'pipeline: study analysed' in l]
done = [l for l in lines if re.search(r'pipeline: job (delivered|dead|failed)', l)]
if len(analysed) < n or len(done) < n:
    print("   the daemon did not finish this study; its log:"); print("\n".join("   | " + l for l in lines[-15:])); sys.exit(1)
a, d = analysed[n-1], done[n-1]
job = re.search(r'job=(\d+)', a).group(1)
count = int(re.search(r'lesions=(\d+)', a).group(1))
mode = re.search(r'mode=(\S+)', a).group(1)
panel = f"POSITIVE ({count})" if count else "NEGATIVE"
print(f"   panel: {panel}   mode: {mode}")
les = [l for l in lines if 'msg="pipeline: lesion"' in l and f' job={job} ' in l]
if les:
    print("   | lesion | long axis mm | volume mm3 | location | score |")
    for l in les:
        g = lambda k: re.search(k + r'=("[^"]*"|\S+)', l).group(1).strip('"')
        print(f"   | {g('number')} | {g('long_axis_mm')} | {g('volume_mm3')} | {g('location')} | {g('score')} |")
end = re.search(r'pipeline: job ([a-z]+)', d).group(1)
print(f"   last image acknowledged -> flag: {t(a)-sent:.1f} s; -> results acknowledged by the PACS: {t(d)-sent:.1f} s (job {end})")
PY
  sleep 0.5
  echo "   panelsim shows: $(tr '\r' '\n' < "$work/panelsim.out" | grep -v '^$' | tail -1 | sed 's/ *in [0-9]* out.*//')"
  echo "   PACS received: $(find "$work/pacs" -type f -newer "$work/mark" -printf '%f\n' | sed 's/\..*//' | sort | uniq -c | awk '{printf "%s %s, ", $1, $2}' | sed 's/, $//') (SG = SEG, SR3 = SR, SC = annotated images)"
done
kill -TERM "$pid"; wait "$pid" || true; pid=
echo
echo "== daemon log (first lines of each kind)"
grep -v "board device missing" "$work/daemon.log" | grep -v "pipeline: lesion\|outbox: job queued" | cut -c1-220 | sed 's/^/   | /' | tail -30
