#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# TCP/UDP flow lifecycle through a software flowtable:
#   client --- router (flowtable ft on veth0, veth1) --- server
#
#  1. FIN (clean close) and 2. RST (SO_LINGER 0): the flow leaves [OFFLOAD]
#     within seconds, no data is lost (cmp), the conntrack entry ends in a
#     sane state. Asserted per implementation:
#       ours:   the FIN/RST is forwarded by the fast path (the flow shows
#               "closing" in /proc/net/nf_flowtable and the forward chain
#               saw no packet of the close), the flow leaves after the 2 s
#               grace period (not at once), conntrack then shows CLOSE with
#               at most net.netfilter.nf_conntrack_tcp_timeout_close, and
#               the entry expires after that;
#       in-tree: immediate teardown, the FIN/RST takes the classic path
#               (forward chain counts it); after a FIN conntrack saw the
#               whole close (TIME_WAIT); after an RST conntrack (which still
#               has the MAXACK of before the offload) takes the RST as
#               "not exact" and keeps ESTABLISHED with the CLOSE (6.1) or
#               UNACKNOWLEDGED (6.12) timeout; the entry expires then.
#  3. A SYN on the same 4-tuple right after an RST: the new connection works
#     (cmp) and is itself offloaded (new conntrack id). Ours: the SYN met the
#     CLOSING flow (seen in /proc) and went to conntrack at once.
#  4. MAXACK (ours only): after the flow went back to the slow path while
#     the connection is alive, an RST whose sequence number is 3e9 bytes
#     past what conntrack last saw (both endpoints moved their sequence
#     space with TCP_REPAIR while offloaded, as a long transfer would) must
#     pass a "ct state invalid drop" forward chain: the peer gets
#     ECONNRESET, the invalid counter stays 0, conntrack shows CLOSE.
#     The in-tree 6.1/6.12 modules keep IP_CT_TCP_FLAG_MAXACK_SET on the
#     hand-over and conntrack drops that RST as invalid (fixed upstream
#     after 6.12): skipped with KNO_IMPL=intree (KNO_TCP_FORCE=1 runs it
#     anyway, to show that).
#  5. GC keeps live flows: a UDP flow (one datagram each way every 0.5 s)
#     and a TCP flow (a write every 0.5 s) stay [OFFLOAD] for more than 3x
#     the flowtable timeout (shortened to 5 s), same conntrack id, and the
#     forward-chain counter does not move after the offload.
#  6. While offloaded, conntrack entries do not expire although the
#     conntrack UDP/TCP-established timeouts (3 s) are much shorter than the
#     traffic (15 s): same conntrack id and [OFFLOAD] all along.
#  7. UDP idle: the flow leaves after nf_flowtable_udp_timeout (bounds), the
#     conntrack timeout right after is the stream timeout minus the idle
#     time (0 < t <= stream - idle + 1), and the entry expires about then.
#  8. TCP idle: the same with nf_flowtable_tcp_timeout and the ESTABLISHED
#     timeout.
#
# KNO_TCP_FORCE=1 runs the ours-only subtests under KNO_IMPL=intree too
# (they are expected to fail there); test validation only.
# KNO_ONLY="N ..." runs only the subtests numbered N (the others are
# reported as skipped); for development.
#
# kno-timeout: 1200

. "$(dirname "$0")/lib.sh"

require_root
require_cmd nft conntrack python3 ss

: "${KNO_TCP_FORCE:=0}"
SIZE=${KNO_XFER_SIZE:-1048576}

ktap_begin 8

# ---------------------------------------------------------------- tools ---

# The socket tool: a client or server that runs a list of actions in order
# (see the usage text below), and a UDP echo/pinger pair.
_sock_tool()
{
	local py=$KNO_TMP/kno_sock.py

	[ -r "$py" ] || cat >"$py" <<'EOF'
# SPDX-License-Identifier: GPL-2.0
"""kno_sock.py ROLE [options] ACTION...

tcp actions, run in order (a failing action exits 1):
  listen               (server) listen on --addr/--port, touch --ready
  accept               (server) accept one connection
  close-listener       (server)
  connect              (client) new socket from --sport to --addr/--port
  send:PATH            send a file
  drain[:T]            wait until everything sent is acknowledged
  recvn:N:OUT          read exactly N bytes into OUT
  recv:OUT[:T]         read until EOF, RST or T s (default 60); the data
                       goes to OUT, "eof N" / "reset N" / "timeout N" to
                       OUT.status (the socket stays open)
  close                close the socket
  stamp:PATH           write the wall clock time (ms) to PATH
  sleep:S              sleep S seconds
  trickle:I:D:OUT      write 100 random bytes every I s for D s (also
                       appended to OUT); the largest gap between writes
                       goes to OUT.gap
  wait:PATH[:T]        wait for a file (fail after T s, default 120)
  waitopt:PATH:T       wait for a file at most T s, then go on
  touch:PATH           create a file
  fin                  shutdown(SHUT_WR), read to EOF, close
  rst                  close with SO_LINGER 0 (sends an RST)
  repair:SND:RCV:PATH  TCP_REPAIR: replace the socket by one on the same
                       4-tuple whose send/receive sequence numbers are moved
                       by SND/RCV bytes (mod 2^32), still in repair mode; the
                       old sequence numbers go to PATH
  repair-off           leave repair mode (sends a window probe)
udp roles:
  echo ADDR PORT READY          echo datagrams until --timeout
  ping ADDR PORT STATS          one datagram every --interval s for
                                --duration s, from --sport; STATS gets
                                "sent N replies M maxgap S last MS" (MS:
                                wall clock time of the last datagram)
  watch --match M --proto P --out F --stop S [--ftmatch FM]
        every --interval s, read /proc/net/nf_conntrack (the first line of
        protocol P containing M) and, with --ftmatch, our
        /proc/net/nf_flowtable (the flow line containing FM); append a line
        "MS ct=gone|offload|plain state=S timeout=T ft=gone|FLAGS" to F
        each time ct, state or ft changes (MS: wall clock, ms), until the
        file S exists or --timeout
"""
import os, socket, struct, sys, time, fcntl, termios

TCP_REPAIR = 19
TCP_REPAIR_QUEUE = 20
TCP_QUEUE_SEQ = 21
TCP_RECV_QUEUE = 1
TCP_SEND_QUEUE = 2
M32 = 0xffffffff


def fam(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def log(*a):
    print("[%.3f]" % time.monotonic(), *a, flush=True)


def wait_file(path, t):
    end = time.monotonic() + t
    while not os.path.exists(path):
        if time.monotonic() > end:
            return False
        time.sleep(0.02)
    return True


def touch(path):
    open(path, "w").close()


def outq(s):
    return struct.unpack("i", fcntl.ioctl(s.fileno(), termios.TIOCOUTQ, b"\0" * 4))[0]


def seq_get(s, queue):
    s.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR_QUEUE, queue)
    return s.getsockopt(socket.IPPROTO_TCP, TCP_QUEUE_SEQ) & M32


def seq_set(s, queue, val):
    s.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR_QUEUE, queue)
    s.setsockopt(socket.IPPROTO_TCP, TCP_QUEUE_SEQ, struct.pack("I", val & M32))


def tcp(a, actions):
    lsn = None
    s = None
    for act in actions:
        f = act.split(":")
        op = f[0]
        log("action", act)
        if op == "listen":
            lsn = socket.socket(fam(a.addr), socket.SOCK_STREAM)
            lsn.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            lsn.bind((a.addr, a.port))
            lsn.listen(8)
            touch(a.ready)
        elif op == "accept":
            lsn.settimeout(a.timeout)
            s, peer = lsn.accept()
            s.settimeout(None)
            log("accepted from", peer)
        elif op == "close-listener":
            lsn.close()
        elif op == "connect":
            s = socket.socket(fam(a.addr), socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("::" if fam(a.addr) == socket.AF_INET6 else "0.0.0.0", a.sport))
            s.settimeout(30)
            s.connect((a.addr, a.port))
            s.settimeout(None)
        elif op == "send":
            with open(f[1], "rb") as fh:
                s.sendall(fh.read())
        elif op == "drain":
            end = time.monotonic() + (float(f[1]) if len(f) > 1 else 120)
            while outq(s) > 0:
                if time.monotonic() > end:
                    log("drain: %d bytes still unacknowledged" % outq(s))
                    return 1
                time.sleep(0.02)
        elif op == "recvn":
            want = int(f[1])
            s.settimeout(a.timeout)
            with open(f[2], "wb") as out:
                n = 0
                while n < want:
                    d = s.recv(min(65536, want - n))
                    if not d:
                        log("recvn: EOF after %d of %d bytes" % (n, want))
                        return 1
                    out.write(d)
                    n += len(d)
            s.settimeout(None)
        elif op == "recv":
            t = float(f[2]) if len(f) > 2 else 60
            s.settimeout(t)
            n = 0
            status = "eof"
            with open(f[1], "wb") as out:
                while True:
                    try:
                        d = s.recv(65536)
                    except ConnectionResetError:
                        status = "reset"
                        break
                    except socket.timeout:
                        status = "timeout"
                        break
                    if not d:
                        break
                    out.write(d)
                    n += len(d)
            s.settimeout(None)
            with open(f[1] + ".status", "w") as st:
                st.write("%s %d\n" % (status, n))
            log("recv:", status, n)
        elif op == "close":
            s.close()
        elif op == "stamp":
            with open(f[1], "w") as fh:
                fh.write("%d\n" % int(time.time() * 1000))
        elif op == "sleep":
            time.sleep(float(f[1]))
        elif op == "trickle":
            iv, dur, path = float(f[1]), float(f[2]), f[3]
            end = time.monotonic() + dur
            last = time.monotonic()
            gap = 0.0
            with open(path, "ab") as out:
                while time.monotonic() < end:
                    d = os.urandom(100)
                    s.sendall(d)
                    out.write(d)
                    now = time.monotonic()
                    gap = max(gap, now - last)
                    last = now
                    time.sleep(iv)
            with open(path + ".gap", "w") as g:
                g.write("%.2f\n" % gap)
        elif op == "wait":
            t = float(f[2]) if len(f) > 2 else 120
            if not wait_file(f[1], t):
                log("wait: no", f[1], "after", t, "s")
                return 1
        elif op == "waitopt":
            wait_file(f[1], float(f[2]))
        elif op == "touch":
            touch(f[1])
        elif op == "fin":
            s.shutdown(socket.SHUT_WR)
            s.settimeout(60)
            while s.recv(65536):
                pass
            s.close()
        elif op == "rst":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
        elif op == "repair":
            dsnd, drcv, path = int(f[1]), int(f[2]), f[3]
            local, peer = s.getsockname(), s.getpeername()
            s.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR, 1)
            snd = seq_get(s, TCP_SEND_QUEUE)
            rcv = seq_get(s, TCP_RECV_QUEUE)
            with open(path, "w") as fh:
                fh.write("%d %d\n" % (snd, rcv))
            # In repair mode close() sends nothing (no FIN, no RST).
            s.close()
            s = socket.socket(fam(peer[0]), socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR, 1)
            s.bind(local)
            seq_set(s, TCP_SEND_QUEUE, snd + dsnd)
            seq_set(s, TCP_RECV_QUEUE, rcv + drcv)
            s.connect(peer)
            log("repaired: snd %u -> %u, rcv %u -> %u" %
                (snd, (snd + dsnd) & M32, rcv, (rcv + drcv) & M32))
        elif op == "repair-off":
            s.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR, 0)
        else:
            log("unknown action", act)
            return 2
    return 0


def udp_echo(a):
    s = socket.socket(fam(a.addr), socket.SOCK_DGRAM)
    s.bind((a.addr, a.port))
    touch(a.ready)
    s.settimeout(1)
    end = time.monotonic() + a.timeout
    while time.monotonic() < end:
        try:
            d, peer = s.recvfrom(65535)
        except socket.timeout:
            continue
        s.sendto(d, peer)
    return 0


def udp_ping(a):
    s = socket.socket(fam(a.addr), socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::" if fam(a.addr) == socket.AF_INET6 else "0.0.0.0", a.sport))
    s.connect((a.addr, a.port))
    s.settimeout(a.interval)
    sent = replies = 0
    last_wall = 0
    gap = 0.0
    last = time.monotonic()
    end = last + a.duration
    while time.monotonic() < end:
        s.send(struct.pack("!I", sent) + b"x" * 60)
        last_wall = time.time()
        now = time.monotonic()
        gap = max(gap, now - last)
        last = now
        sent += 1
        until = now + a.interval
        while time.monotonic() < until:
            try:
                s.recv(65535)
                replies += 1
            except socket.timeout:
                break
            except OSError:
                break
            s.settimeout(max(0.01, until - time.monotonic()))
        s.settimeout(a.interval)
        if time.monotonic() < until:
            time.sleep(until - time.monotonic())
    with open(a.stats, "w") as fh:
        fh.write("sent %d replies %d maxgap %.2f last %d\n" %
                 (sent, replies, gap, int(last_wall * 1000)))
    return 0


def ct_look(a):
    with open("/proc/net/nf_conntrack") as f:
        for line in f:
            w = line.split()
            if len(w) < 6 or w[2] != a.proto or a.match not in line:
                continue
            i = 4
            to = "-"
            state = "-"
            if w[i].isdigit():
                to = w[i]
                i += 1
            if not w[i].startswith("src="):
                state = w[i]
            ct = "offload" if "OFFLOAD]" in line else "plain"
            return ct, state, to
    return "gone", "-", "-"


def ft_look(a):
    try:
        with open("/proc/net/nf_flowtable") as f:
            for line in f:
                if a.ftmatch in line:
                    w = line.split()
                    return w[w.index("flags") + 1] if "flags" in w else "?"
    except OSError:
        return "n/a"
    return "gone"


def watch(a):
    last = None
    end = time.monotonic() + a.timeout
    with open(a.out, "a", buffering=1) as out:
        while time.monotonic() < end and not os.path.exists(a.stop):
            ct, state, to = ct_look(a)
            ft = ft_look(a) if a.ftmatch else "-"
            key = (ct, state, ft)
            if key != last:
                out.write("%d ct=%s state=%s timeout=%s ft=%s\n" %
                          (int(time.time() * 1000), ct, state, to, ft))
                last = key
            time.sleep(a.interval)
    return 0


def main():
    import argparse
    p = argparse.ArgumentParser(usage=__doc__)
    p.add_argument("role", choices=["server", "client", "echo", "ping", "watch"])
    p.add_argument("--match", default="")
    p.add_argument("--ftmatch", default="")
    p.add_argument("--proto", default="tcp")
    p.add_argument("--out", default="")
    p.add_argument("--stop", default="")
    p.add_argument("--addr", default="0.0.0.0")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--sport", type=int, default=0)
    p.add_argument("--ready", default="")
    p.add_argument("--stats", default="")
    p.add_argument("--timeout", type=float, default=120)
    p.add_argument("--interval", type=float, default=0.5)
    p.add_argument("--duration", type=float, default=10)
    p.add_argument("actions", nargs="*")
    a = p.parse_intermixed_args()
    try:
        if a.role == "echo":
            return udp_echo(a)
        if a.role == "ping":
            return udp_ping(a)
        if a.role == "watch":
            return watch(a)
        return tcp(a, a.actions)
    except Exception as e:
        log("error:", repr(e))
        return 1


sys.exit(main())
EOF
	echo "$py"
}

# sock_bg VAR NS ROLE ARGS...: run the socket tool in NS in the background
# (bounded by 300 s), output to $KNO_TMP/<VAR>.log; VAR gets the PID.
sock_bg()
{
	local var=$1 ns=$2 py

	shift 2
	py=$(_sock_tool)
	bg_start "$var" timeout 300 ip netns exec "$ns" python3 -S "$py" "$@"
}

# ------------------------------------------------------------- helpers ---

# ft_proc: our /proc/net/nf_flowtable of the router
ft_proc()
{
	ip netns exec "$NS_R" cat /proc/net/nf_flowtable 2>/dev/null
}

# proc_flow PROTO SPORT DPORT: the flow's line (client -> server, IPv4)
proc_flow()
{
	ft_proc | grep -F "$1 $C4:$2->$S4:$3 "
}

proc_flow_absent()
{
	[ -z "$(proc_flow "$@")" ]
}

ct4()
{
	ct_get "$NS_R" ipv4 "$@"
}

# ct_state SPORT DPORT: TCP state (not shown while offloaded)
ct_state()
{
	ct4 tcp "$1" "$2" | head -n 1 | awk '{ print $4 }'
}

# ct_timeout PROTO SPORT DPORT: remaining seconds (not shown while offloaded)
ct_timeout()
{
	ct4 "$@" | head -n 1 | awk '{ print $3 }'
}

# counter_packets NAME: packets of a named counter of the router's table
counter_packets()
{
	local c

	c=$(nft_counter "$NS_R" inet "$FT_TABLE" "$1")
	echo "${c% *}"
}

sysctl_r()
{
	ip netns exec "$NS_R" sysctl -qw "$@"
}

# ours_only: 0 if the ours-only part of a subtest is to run
ours_only()
{
	impl_is ours || [ "$KNO_TCP_FORCE" = 1 ]
}

# ms_to_s MS: "S.mmm"
ms_to_s()
{
	local m=$1 sign=

	[ "$m" -lt 0 ] && { sign=-; m=$((-m)); }
	printf '%s%d.%03d' "$sign" $((m / 1000)) $((m % 1000))
}

# in_range NAME VALUE MIN MAX
in_range()
{
	if [ "$2" -ge "$3" ] && [ "$2" -le "$4" ]; then
		return 0
	fi
	echo "FAIL: $1 = $2, expected $3..$4"
	return 1
}

# tcp_ruleset [INVALID_VERDICT]: lib's standard flowtable router ruleset
# (inet) plus counters "finrst" (TCP packets with FIN or RST) and "syn"
# (SYN without ACK) in the forward chain, where every packet the classic
# path forwards is seen; INVALID_VERDICT (e.g. drop) is applied to ct state
# invalid.
tcp_ruleset()
{
	[ -n "$FT_FAMILY" ] && ip netns exec "$NS_R" nft delete table "$FT_FAMILY" "$FT_TABLE" 2>/dev/null
	FT_FAMILY=inet
	nft_load "$NS_R" <<EOT
table inet $FT_TABLE {
	flowtable ft {
		hook ingress priority 0
		devices = { $RDEV_C, $RDEV_S }
	}

	counter routed { }
	counter invalid { }
	counter finrst { }
	counter syn { }

	chain forward {
		type filter hook forward priority 0; policy accept;
		ct state invalid counter name invalid ${1:-}
		tcp flags & (fin | rst) != 0 counter name finrst
		tcp flags & (syn | ack) == syn counter name syn
		meta l4proto { tcp, udp } $(flow_add_stmt @ft)
		meta l4proto { tcp, udp } counter name routed
	}
}
EOT
}

# dump_state: what the router knows (printed on failure)
dump_state()
{
	echo "--- conntrack -L:"
	ip netns exec "$NS_R" conntrack -L 2>/dev/null
	if impl_is ours; then
		echo "--- /proc/net/nf_flowtable, /proc/net/nft_flow_offload:"
		ft_proc
		ip netns exec "$NS_R" cat /proc/net/nft_flow_offload 2>/dev/null
	fi
	echo "--- forward chain:"
	ip netns exec "$NS_R" nft list table "$FT_FAMILY" "$FT_TABLE" 2>/dev/null | grep -E 'counter|packets'
}

# tcp_pair ID DPORT SPORT CLIENT_ACTIONS -- SERVER_ACTIONS: start a server
# (listening on DPORT in NS_S) and a client (from SPORT in NS_C).
tcp_pair()
{
	local id=$1 dport=$2 sport=$3 cargs=() sargs=() pid py

	shift 3
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		cargs+=("$1")
		shift
	done
	shift
	sargs=("$@")
	py=$(_sock_tool)
	rm -f "$KNO_TMP/$id.ready"
	bg_start pid timeout 300 ip netns exec "$NS_S" python3 -S "$py" server \
		--addr 0.0.0.0 --port "$dport" --ready "$KNO_TMP/$id.ready" "${sargs[@]}"
	echo "$pid" >"$KNO_TMP/$id.spid"
	wait_for 20 test -e "$KNO_TMP/$id.ready" || { echo "server $id did not start"; return 1; }
	bg_start pid timeout 300 ip netns exec "$NS_C" python3 -S "$py" client \
		--addr "$S4" --port "$dport" --sport "$sport" "${cargs[@]}"
	echo "$pid" >"$KNO_TMP/$id.cpid"
	return 0
}

# pair_wait ID [T]: wait for both ends to exit; 0 if both exited 0
pair_wait()
{
	local id=$1 t=${2:-120} rc=0 c=0 s=0

	wait_pid_timeout "$t" "$(<"$KNO_TMP/$id.cpid")" || { c=$?; rc=1; }
	wait_pid_timeout "$t" "$(<"$KNO_TMP/$id.spid")" || { s=$?; rc=1; }
	[ "$rc" = 0 ] || echo "tcp $id: client rc $c, server rc $s"
	return $rc
}

# recv_status FILE: "eof N" / "reset N" / "timeout N"
recv_status()
{
	cat "$1.status" 2>/dev/null || echo "none 0"
}

# watch_start ID PROTO SPORT DPORT: record the flow's conntrack entry (and
# with ours its flowtable entry) every 50 ms in $KNO_TMP/ID.watch, in the
# router namespace, until watch_stop ID.
watch_start()
{
	local id=$1 proto=$2 sport=$3 dport=$4 ftm='' pid

	impl_is ours && ftm="$proto $C4:$sport->$S4:$dport "
	rm -f "$KNO_TMP/$id.watch" "$KNO_TMP/$id.wstop"
	sock_bg pid "$NS_R" watch --proto "$proto" --match " sport=$sport dport=$dport " \
		--ftmatch "$ftm" --out "$KNO_TMP/$id.watch" --stop "$KNO_TMP/$id.wstop" \
		--interval 0.05 --timeout 280 >/dev/null 2>&1
	defer "touch '$KNO_TMP/$id.wstop'"
	wait_for 20 test -s "$KNO_TMP/$id.watch"
}

watch_stop()
{
	touch "$KNO_TMP/$1.wstop"
}

# watch_event ID REGEX [AFTER_MS]: print the first watcher line at or after
# AFTER_MS that matches REGEX (awk); 1 if there is none.
watch_event()
{
	awk -v re="$2" -v t="${3:-0}" \
		'$1 >= t && $0 ~ re { print; found = 1; exit } END { exit !found }' \
		"$KNO_TMP/$1.watch" 2>/dev/null
}

# wfield LINE NAME: the value of NAME= in a watcher line ("ms": the time)
wfield()
{
	if [ "$2" = ms ]; then
		echo "${1%% *}"
	else
		sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"
	fi
}

# watch_show ID [FROM_MS]: the watcher's lines, times relative to FROM_MS
watch_show()
{
	awk -v t="${2:-0}" '{ $1 = sprintf("%+.3fs", ($1 - t) / 1000); print }' "$KNO_TMP/$1.watch"
}

# ----------------------------------------------------------- subtests ---

TIMEOUT_CLOSE=15
TIMEOUT_UNACK=25

# t_close KIND(fin|rst) DPORT: a transfer, then the client closes with a FIN
# (the server's own FIN only later, on gate2) or an RST.
t_close()
{
	local kind=$1 dport=$2 id=close_$1 sport fr0 fr1 tg ev th tc tgone st to tr rc=0
	local sact

	sport=$(random_port)
	make_file "$KNO_TMP/$id.in" "$SIZE"
	tcp_ruleset || return 1
	sysctl_r net.netfilter.nf_conntrack_tcp_timeout_close=$TIMEOUT_CLOSE \
		net.netfilter.nf_conntrack_tcp_timeout_unacknowledged=$TIMEOUT_UNACK || return 1
	sact=(listen accept "recv:$KNO_TMP/$id.out:120" "touch:$KNO_TMP/$id.eof")
	[ "$kind" = fin ] && sact+=("wait:$KNO_TMP/$id.gate2" close)
	tcp_pair "$id" "$dport" "$sport" connect "send:$KNO_TMP/$id.in" drain \
		"touch:$KNO_TMP/$id.sent" "wait:$KNO_TMP/$id.gate" "$kind" \
		-- "${sact[@]}" >"$KNO_TMP/$id.log" 2>&1 || return 1
	if ! wait_for 120 test -e "$KNO_TMP/$id.sent"; then
		cat "$KNO_TMP/$id.log"
		fail "the client did not finish sending"
		return
	fi
	ft_check_offload tcp 4 "$sport" "$dport" "$SIZE" || rc=1
	watch_start "$id" tcp "$sport" "$dport" || { fail "watcher did not start"; return; }
	fr0=$(counter_packets finrst)
	tg=$(now_ms)
	touch "$KNO_TMP/$id.gate"
	wait_for 60 test -e "$KNO_TMP/$id.eof" ||
		{ cat "$KNO_TMP/$id.log"; fail "the server did not see the $kind"; return; }
	if ! wait_for 20 watch_event "$id" " ct=(plain|gone) " "$tg" >/dev/null; then
		watch_show "$id" "$tg"
		fail "still [OFFLOAD] 20 s after the $kind"
		dump_state
		return 1
	fi
	# Let conntrack settle (in-tree: it processes the FIN/RST right after
	# the teardown) before reading the counters.
	sleep 1
	fr1=$(counter_packets finrst)
	ev=$(watch_event "$id" " ct=plain " "$tg")
	th=$(wfield "$ev" ms)
	st=$(wfield "$ev" state)
	to=$(wfield "$ev" timeout)
	echo "forward chain: $((fr1 - fr0)) FIN/RST packets since the $kind"
	if impl_is ours; then
		if ev=$(watch_event "$id" " ft=[a-z_,]*closing" "$tg"); then
			tc=$(wfield "$ev" ms)
			echo "flow closing $(ms_to_s $((tc - tg))) s after the $kind"
		else
			fail "flow never listed with flag 'closing' after the $kind"
			rc=1
		fi
		ev=$(watch_event "$id" " ft=gone" "$tg") && tgone=$(wfield "$ev" ms) ||
			{ fail "flow still in /proc/net/nf_flowtable"; rc=1; tgone=0; }
		echo "hand-over to conntrack $(ms_to_s $((th - tg))) s, flow gone $(ms_to_s $((tgone - tg))) s after the $kind: state $st timeout $to"
		# The FIN/RST was forwarded by the fast path ...
		[ $((fr1 - fr0)) = 0 ] ||
			fail "the forward chain counted $((fr1 - fr0)) FIN/RST packets: the $kind took the classic path" || rc=1
		# ... the flow stays for the 2 s grace period (GC: +1 s) ...
		in_range "ms from the $kind to the hand-over" $((th - tg)) 1500 8000 || rc=1
		# ... and conntrack gets it in CLOSE with the CLOSE timeout.
		[ "$st" = CLOSE ] || fail "state at the hand-over '$st', expected CLOSE" || rc=1
		in_range "conntrack timeout at the hand-over" "${to//-/0}" $((TIMEOUT_CLOSE - 2)) $TIMEOUT_CLOSE || rc=1
	else
		echo "hand-over to conntrack $(ms_to_s $((th - tg))) s after the $kind: state $st timeout $to"
		# In-tree: immediate teardown, the FIN/RST itself goes to conntrack.
		[ $((fr1 - fr0)) = 1 ] ||
			fail "the forward chain counted $((fr1 - fr0)) FIN/RST packets, expected 1 (the client's $kind)" || rc=1
		in_range "ms from the $kind to the hand-over" $((th - tg)) 0 3000 || rc=1
	fi
	if [ "$kind" = fin ]; then
		if ! impl_is ours; then
			watch_event "$id" " state=(FIN_WAIT|CLOSE_WAIT) " "$tg" >/dev/null ||
				fail "conntrack never in FIN_WAIT/CLOSE_WAIT: it did not see the FIN" || rc=1
		fi
		# Now the server closes its half (a FIN on the classic path).
		touch "$KNO_TMP/$id.gate2"
	fi
	pair_wait "$id" 60 || rc=1
	st=$(recv_status "$KNO_TMP/$id.out")
	if [ "$kind" = fin ]; then
		[ "$st" = "eof $SIZE" ] || fail "server: '$st', expected 'eof $SIZE'" || rc=1
	else
		[ "$st" = "reset $SIZE" ] || fail "server: '$st', expected 'reset $SIZE'" || rc=1
	fi
	cmp "$KNO_TMP/$id.in" "$KNO_TMP/$id.out" || rc=1
	tr=$(now_ms)
	st=$(ct_state "$sport" "$dport")
	to=$(ct_timeout tcp "$sport" "$dport")
	tr=$(((tr + $(now_ms)) / 2))
	echo "conntrack after the close: $(ct4 tcp "$sport" "$dport")"
	if impl_is ours; then
		[ "$st" = CLOSE ] || fail "final state '${st:-gone}', expected CLOSE" || rc=1
		in_range "final conntrack timeout" "${to:-0}" 1 $TIMEOUT_CLOSE || rc=1
	elif [ "$kind" = fin ]; then
		[ "$st" = TIME_WAIT ] ||
			fail "final state '${st:-gone}', expected TIME_WAIT (conntrack saw the whole close)" || rc=1
	else
		# In-tree keeps MAXACK from before the offload: the RST's sequence
		# number is not the stale td_maxack, conntrack keeps ESTABLISHED to
		# allow a challenge ACK, with the CLOSE timeout (6.1) or the
		# UNACKNOWLEDGED one (6.12).
		case "$st" in
		CLOSE | ESTABLISHED) ;;
		*) fail "state '${st:-gone}' after the RST, expected CLOSE/ESTABLISHED"; rc=1 ;;
		esac
		in_range "conntrack timeout after the RST" "${to:-0}" 1 $TIMEOUT_UNACK || rc=1
	fi
	# The entry then expires when conntrack said (TIME_WAIT: not waited for).
	if [ "$st" != TIME_WAIT ] && [ -n "$to" ]; then
		if ! wait_for $((to + 15)) watch_event "$id" " ct=gone " "$tr" >/dev/null; then
			fail "conntrack entry still there: $(ct4 tcp "$sport" "$dport")"
			rc=1
		else
			ev=$(watch_event "$id" " ct=gone " "$tr")
			echo "conntrack entry expired $(ms_to_s $(($(wfield "$ev" ms) - tr))) s later (timeout $to s)"
			in_range "ms until the entry expired" $(($(wfield "$ev" ms) - tr)) \
				$((to * 1000 - 2000)) $((to * 1000 + 4000)) || rc=1
		fi
	fi
	watch_stop "$id"
	if [ "$rc" != 0 ]; then
		cat "$KNO_TMP/$id.log"
		echo "--- watcher (relative to the $kind):"
		watch_show "$id" "$tg"
		dump_state
	fi
	return $rc
}

# t_syn_reopen DPORT: RST, then half a second later a new connection from
# the same source port.
t_syn_reopen()
{
	local dport=$1 id=reopen sport id1 id2 s0 s1 tg tsyn tc ev rc=0

	sport=$(random_port)
	make_file "$KNO_TMP/$id.1.in" 262144
	make_file "$KNO_TMP/$id.2.in" "$SIZE"
	tcp_ruleset || return 1
	tcp_pair "$id" "$dport" "$sport" connect "send:$KNO_TMP/$id.1.in" drain \
		"touch:$KNO_TMP/$id.sent1" "wait:$KNO_TMP/$id.gate1" rst sleep:0.5 \
		"stamp:$KNO_TMP/$id.syn" connect "send:$KNO_TMP/$id.2.in" drain \
		"touch:$KNO_TMP/$id.sent2" "wait:$KNO_TMP/$id.gate2" fin \
		-- listen accept "recv:$KNO_TMP/$id.1.out:120" accept \
		"recv:$KNO_TMP/$id.2.out:120" close >"$KNO_TMP/$id.log" 2>&1 || return 1
	wait_for 120 test -e "$KNO_TMP/$id.sent1" ||
		{ cat "$KNO_TMP/$id.log"; fail "first connection did not finish sending"; return; }
	ft_check_offload tcp 4 "$sport" "$dport" 262144 || rc=1
	id1=$(ct_id "$NS_R" ipv4 tcp "$sport" "$dport")
	watch_start "$id" tcp "$sport" "$dport" || { fail "watcher did not start"; return; }
	s0=$(counter_packets syn)
	tg=$(now_ms)
	touch "$KNO_TMP/$id.gate1"
	if ! wait_for 120 test -e "$KNO_TMP/$id.sent2"; then
		cat "$KNO_TMP/$id.log"
		fail "second connection did not finish sending"
		dump_state
		return 1
	fi
	tsyn=$(<"$KNO_TMP/$id.syn")
	s1=$(counter_packets syn)
	echo "SYN $(ms_to_s $((tsyn - tg))) s after the RST; forward chain saw $((s1 - s0)) SYN"
	# The new SYN went through conntrack, which let the connection reopen.
	[ $((s1 - s0)) = 1 ] || fail "forward chain counted $((s1 - s0)) SYN packets, expected 1" || rc=1
	if ours_only; then
		# The SYN met the flow in CLOSING (still inside the grace period).
		if ev=$(watch_event "$id" " ft=[a-z_,]*closing" "$tg"); then
			tc=$(wfield "$ev" ms)
			[ "$tc" -lt "$tsyn" ] || fail "closing seen only after the SYN" || rc=1
			if ev=$(watch_event "$id" " ft=gone" "$tc") && [ "$(wfield "$ev" ms)" -lt "$tsyn" ]; then
				fail "the CLOSING flow was gone before the SYN (grace period over?)"
				rc=1
			fi
		else
			fail "flow never seen CLOSING after the RST"
			rc=1
		fi
	fi
	if ! wait_for 10 ct_is_offloaded "$NS_R" ipv4 tcp "$sport" "$dport"; then
		fail "new connection not offloaded: $(ct4 tcp "$sport" "$dport")"
		rc=1
	fi
	id2=$(ct_id "$NS_R" ipv4 tcp "$sport" "$dport")
	echo "conntrack id $id1 -> $id2: $(ct4 tcp "$sport" "$dport")"
	if ours_only; then
		# conntrack saw the SYN in CLOSE: reopened as a new entry
		[ -n "$id2" ] && [ "$id2" != "$id1" ] ||
			fail "conntrack id '$id1' -> '$id2': no new entry" || rc=1
		ev=$(watch_event "$id" " ct=offload .* ft=-$" "$tsyn") ||
			fail "no new flow (flags -) in /proc/net/nf_flowtable after the SYN" || rc=1
		echo "new flow: $(proc_flow tcp "$sport" "$dport")"
	fi
	touch "$KNO_TMP/$id.gate2"
	pair_wait "$id" 60 || rc=1
	watch_stop "$id"
	[ "$(recv_status "$KNO_TMP/$id.1.out")" = "reset 262144" ] ||
		fail "first connection: $(recv_status "$KNO_TMP/$id.1.out"), expected 'reset 262144'" || rc=1
	[ "$(recv_status "$KNO_TMP/$id.2.out")" = "eof $SIZE" ] ||
		fail "second connection: $(recv_status "$KNO_TMP/$id.2.out"), expected 'eof $SIZE'" || rc=1
	cmp "$KNO_TMP/$id.1.in" "$KNO_TMP/$id.1.out" || rc=1
	cmp "$KNO_TMP/$id.2.in" "$KNO_TMP/$id.2.out" || rc=1
	if [ "$rc" != 0 ]; then
		cat "$KNO_TMP/$id.log"
		echo "--- watcher (relative to the RST):"
		watch_show "$id" "$tg"
		dump_state
	fi
	return $rc
}

# t_maxack DPORT: RST after a slow-path hand-over, sequence space moved.
JUMP=3000000000
t_maxack()
{
	local dport=$1 id=maxack sport inv st cs ss rc=0

	if ! ours_only; then
		skip "in-tree $(kver_series) keeps IP_CT_TCP_FLAG_MAXACK_SET when a flow returns to the slow path: conntrack drops the peer's RST as invalid (fixed upstream after 6.12; ours clears it)"
		return
	fi
	tcp_ruleset drop || return 1
	sysctl_r net.netfilter.nf_flowtable_tcp_timeout=8 || return 1
	sport=$(random_port)
	make_file "$KNO_TMP/$id.in" 65536
	# Both ends replace their socket by one whose sequence numbers are
	# JUMP bytes further on (client send, server receive side) while the
	# flow is offloaded: conntrack never sees it, as with a 3 GB transfer.
	tcp_pair "$id" "$dport" "$sport" connect "send:$KNO_TMP/$id.in" drain \
		"touch:$KNO_TMP/$id.sent" "wait:$KNO_TMP/$id.go" \
		"repair:$JUMP:0:$KNO_TMP/$id.cseq" "touch:$KNO_TMP/$id.crep" \
		"wait:$KNO_TMP/$id.slive" repair-off "touch:$KNO_TMP/$id.clive" \
		"wait:$KNO_TMP/$id.gate:120" rst \
		-- listen accept close-listener "recvn:65536:$KNO_TMP/$id.out" \
		"touch:$KNO_TMP/$id.srecv" "wait:$KNO_TMP/$id.go" \
		"repair:0:$JUMP:$KNO_TMP/$id.sseq" "wait:$KNO_TMP/$id.crep" \
		repair-off "touch:$KNO_TMP/$id.slive" "recv:$KNO_TMP/$id.out2:20" \
		>"$KNO_TMP/$id.log" 2>&1 || return 1
	if ! wait_for 60 test -e "$KNO_TMP/$id.srecv" || ! wait_for 60 test -e "$KNO_TMP/$id.sent"; then
		cat "$KNO_TMP/$id.log"
		fail "first part not transferred"
		return
	fi
	cmp "$KNO_TMP/$id.in" "$KNO_TMP/$id.out" || rc=1
	ft_check_offload tcp 4 "$sport" "$dport" 65536 || rc=1
	touch "$KNO_TMP/$id.go"
	if ! wait_for 30 test -e "$KNO_TMP/$id.clive"; then
		cat "$KNO_TMP/$id.log"
		fail "TCP_REPAIR sequence move failed"
		return
	fi
	read -r cs _ <"$KNO_TMP/$id.cseq"
	read -r _ ss <"$KNO_TMP/$id.sseq"
	echo "client send seq $cs, server receive seq $ss, both moved by $JUMP"
	[ "$cs" = "$ss" ] || fail "sequence numbers differ: data not fully acknowledged" || rc=1
	# The move happened on the fast path: conntrack still has the old
	# numbers.
	ct_is_offloaded "$NS_R" ipv4 tcp "$sport" "$dport" ||
		fail "flow left the flowtable during the sequence move (too slow?): $(ct4 tcp "$sport" "$dport")" || rc=1
	# Idle: the flow goes back to the slow path, the connection lives on.
	if ! wait_for 30 ct_not_offloaded "$NS_R" ipv4 tcp "$sport" "$dport"; then
		fail "still offloaded 30 s after the last packet (timeout 8 s)"
		dump_state
		return 1
	fi
	if impl_is ours; then
		wait_for 5 proc_flow_absent tcp "$sport" "$dport" ||
			fail "flow still listed: $(proc_flow tcp "$sport" "$dport")" || rc=1
	fi
	st=$(ct_state "$sport" "$dport")
	inv=$(counter_packets invalid)
	echo "back on the slow path: $(ct4 tcp "$sport" "$dport"), invalid so far: $inv"
	[ "$st" = ESTABLISHED ] || fail "state '$st' after the hand-over, expected ESTABLISHED" || rc=1
	touch "$KNO_TMP/$id.gate"
	pair_wait "$id" 60 || rc=1
	st=$(ct_state "$sport" "$dport")
	inv=$(counter_packets invalid)
	echo "after the RST: server '$(recv_status "$KNO_TMP/$id.out2")', invalid counter ${inv:-?}, conntrack: $(ct4 tcp "$sport" "$dport")"
	[ "$(recv_status "$KNO_TMP/$id.out2")" = "reset 0" ] ||
		fail "the server did not get the RST (ECONNRESET): $(recv_status "$KNO_TMP/$id.out2")" || rc=1
	[ "${inv:-1}" = 0 ] || fail "ct state invalid counter ${inv:-?}, expected 0" || rc=1
	[ "$st" = CLOSE ] || fail "conntrack state '${st:-gone}' after the RST, expected CLOSE" || rc=1
	[ "$rc" = 0 ] || { cat "$KNO_TMP/$id.log"; dump_state; }
	return $rc
}

# ping_bg VAR DPORT SPORT INTERVAL DURATION: UDP echo server + pinger
# (the echo server's PID goes to $KNO_TMP/echoDPORT.pid)
ping_bg()
{
	local var=$1 dport=$2 sport=$3 iv=$4 dur=$5 pid

	rm -f "$KNO_TMP/echo$dport.ready" "$KNO_TMP/ping$dport.stats"
	sock_bg pid "$NS_S" echo --addr 0.0.0.0 --port "$dport" \
		--ready "$KNO_TMP/echo$dport.ready" --timeout $((${dur%.*} + 60)) >/dev/null 2>&1
	echo "$pid" >"$KNO_TMP/echo$dport.pid"
	wait_for 20 test -e "$KNO_TMP/echo$dport.ready" || { echo "echo server did not start"; return 1; }
	sock_bg "$var" "$NS_C" ping --addr "$S4" --port "$dport" --sport "$sport" \
		--interval "$iv" --duration "$dur" --stats "$KNO_TMP/ping$dport.stats" \
		>"$KNO_TMP/ping$dport.log" 2>&1
}

# watch_steady ID UNTIL_MS: the flow was offloaded and the watcher recorded
# no change from then until UNTIL_MS (the flow did not leave, and with ours
# its flowtable flags stayed the same). Prints the offloaded time span (ms).
watch_steady()
{
	local first n t

	first=$(watch_event "$1" " ct=offload ") || { echo 0; return 1; }
	t=$(wfield "$first" ms)
	echo $(($2 - t))
	n=$(awk -v t="$t" -v u="$2" '$1 > t && $1 <= u' "$KNO_TMP/$1.watch" | wc -l)
	[ "$n" = 0 ]
}

# t_live FT_TIMEOUT INTERVAL DURATION MODE(gc|ctexpire) PORT
#   A UDP flow (ping/echo) and a TCP flow (a write) every INTERVAL s for
#   DURATION s. Both must be offloaded and then stay [OFFLOAD] without any
#   change (watchers, 50 ms) and keep their conntrack ids.
#   gc:       flowtable timeouts FT_TIMEOUT; the observation covers 3x that,
#             and the forward-chain counter does not move.
#   ctexpire: conntrack UDP and TCP established timeouts 3 s. (conntrack
#             shows no timeout for offloaded entries; an entry that expired
#             would be replaced by one with another id.)
t_live()
{
	local ftt=$1 iv=$2 dur=$3 mode=$4 id=live_$4 ppid pk0 pk1 uid tid uid2 tid2 rc=0
	local t0 toff tend gap sent replies w ulast tlast tu span

	UDP_DPORT=$5
	TCP_DPORT=$(($5 + 1))
	UDP_SPORT=$(random_port)
	TCP_SPORT=$((UDP_SPORT + 1))
	tcp_ruleset || return 1
	sysctl_r net.netfilter.nf_flowtable_udp_timeout="$ftt" \
		net.netfilter.nf_flowtable_tcp_timeout="$ftt" || return 1
	if [ "$mode" = ctexpire ]; then
		sysctl_r net.netfilter.nf_conntrack_udp_timeout=3 \
			net.netfilter.nf_conntrack_udp_timeout_stream=3 \
			net.netfilter.nf_conntrack_tcp_timeout_established=3 || return 1
	fi
	watch_start "${id}_u" udp "$UDP_SPORT" "$UDP_DPORT" || { fail "watcher"; return; }
	watch_start "${id}_t" tcp "$TCP_SPORT" "$TCP_DPORT" || { fail "watcher"; return; }
	rm -f "$KNO_TMP/$id.trickle"
	t0=$(now_ms)
	ping_bg ppid "$UDP_DPORT" "$UDP_SPORT" "$iv" "$dur" || return 1
	tcp_pair "$id" "$TCP_DPORT" "$TCP_SPORT" connect "trickle:$iv:$dur:$KNO_TMP/$id.trickle" \
		"stamp:$KNO_TMP/$id.trickled" "wait:$KNO_TMP/$id.gate" fin \
		-- listen accept "recv:$KNO_TMP/$id.out:$((${dur%.*} + 120))" close \
		>"$KNO_TMP/$id.log" 2>&1 || return 1
	if ! wait_for 15 ct_is_offloaded "$NS_R" ipv4 udp "$UDP_SPORT" "$UDP_DPORT" ||
		! wait_for 15 ct_is_offloaded "$NS_R" ipv4 tcp "$TCP_SPORT" "$TCP_DPORT"; then
		fail "flows not offloaded"
		dump_state
		return 1
	fi
	toff=$(now_ms)
	uid=$(ct_id "$NS_R" ipv4 udp "$UDP_SPORT" "$UDP_DPORT")
	tid=$(ct_id "$NS_R" ipv4 tcp "$TCP_SPORT" "$TCP_DPORT")
	pk0=$(routed_packets)
	echo "offloaded $(ms_to_s $((toff - t0))) s after the start; conntrack ids udp $uid tcp $tid; forward chain $pk0 packets"
	wait_pid_timeout $((${dur%.*} + 60)) "$ppid" || { fail "pinger failed"; rc=1; }
	wait_for 60 test -s "$KNO_TMP/$id.trickled" || { fail "trickle did not finish"; rc=1; }
	tend=$(now_ms)
	pk1=$(routed_packets)
	uid2=$(ct_id "$NS_R" ipv4 udp "$UDP_SPORT" "$UDP_DPORT")
	tid2=$(ct_id "$NS_R" ipv4 tcp "$TCP_SPORT" "$TCP_DPORT")
	watch_stop "${id}_u"
	watch_stop "${id}_t"
	read -r _ sent _ replies _ gap _ ulast <"$KNO_TMP/ping$UDP_DPORT.stats"
	tlast=$(<"$KNO_TMP/$id.trickled")
	for w in u t; do
		[ $w = u ] && tu=$ulast || tu=$tlast
		echo "--- watcher ($w), times relative to the start; last packet at $(ms_to_s $((tu - t0))):"
		watch_show "${id}_$w" "$t0"
		if span=$(watch_steady "${id}_$w" "$tu"); then
			echo "$w flow: [OFFLOAD] without a change for $(ms_to_s "$span") s up to its last packet"
		else
			fail "the $w flow changed while its packets were flowing (see above)"
			rc=1
		fi
		# Long enough to span three flowtable timeouts.
		[ "$mode" != gc ] || [ "$span" -ge $((3 * ftt * 1000)) ] ||
			fail "$w flow observed offloaded for only $span ms, less than 3x $ftt s" || rc=1
	done
	echo "UDP: $sent datagrams, $replies replies, largest gap $gap s; TCP: largest gap $(<"$KNO_TMP/$id.trickle.gap") s"
	[ "${replies:-0}" -ge $((${sent:-0} - 1)) ] && [ "${sent:-0}" -ge 4 ] ||
		fail "UDP: ${replies:-?} replies to ${sent:-?} datagrams" || rc=1
	if [ "$mode" = gc ]; then
		[ $((pk1 - pk0)) = 0 ] ||
			fail "forward chain counted $((pk1 - pk0)) packets after the offload" || rc=1
		for gap in "$gap" "$(<"$KNO_TMP/$id.trickle.gap")"; do
			[ "${gap%.*}" -lt $((ftt - 1)) ] ||
				fail "a sender paused $gap s (VM too slow to judge a $ftt s timeout)" || rc=1
		done
	fi
	kill "$(<"$KNO_TMP/echo$UDP_DPORT.pid")" 2>/dev/null
	touch "$KNO_TMP/$id.gate"
	pair_wait "$id" 60 || rc=1
	[ "$(recv_status "$KNO_TMP/$id.out")" = "eof $(file_size "$KNO_TMP/$id.trickle")" ] ||
		fail "TCP server: $(recv_status "$KNO_TMP/$id.out"), sent $(file_size "$KNO_TMP/$id.trickle")" || rc=1
	cmp "$KNO_TMP/$id.trickle" "$KNO_TMP/$id.out" || rc=1
	[ "$rc" = 0 ] || { cat "$KNO_TMP/$id.log"; dump_state; }
	return $rc
}

routed_packets()
{
	counter_packets routed
}

# check_handover ID TLAST FT_TIMEOUT CT_TIMEOUT STATE: from the watcher:
# the flow was handed to conntrack about FT_TIMEOUT s after its last packet
# at TLAST (refresh granularity 1 s, GC period 1 s), conntrack's timeout
# then is CT_TIMEOUT - FT_TIMEOUT (the time spent idle), the state STATE
# (or - for UDP). Sets TH (hand-over time) and TO (timeout then).
check_handover()
{
	local id=$1 tlast=$2 ftt=$3 ctt=$4 state=$5 ev rc=0

	if ! wait_for $((ftt + 20)) watch_event "$id" " ct=plain " "$tlast" >/dev/null; then
		watch_show "$id" "$tlast"
		echo "FAIL: still offloaded $((ftt + 20)) s after the last packet (timeout $ftt s)"
		return 1
	fi
	ev=$(watch_event "$id" " ct=plain " "$tlast")
	TH=$(wfield "$ev" ms)
	TO=$(wfield "$ev" timeout)
	echo "hand-over $(ms_to_s $((TH - tlast))) s after the last packet: $ev"
	in_range "ms from the last packet to the hand-over (flowtable timeout $ftt s)" \
		$((TH - tlast)) $(((ftt - 1) * 1000 - 500)) $(((ftt + 3) * 1000)) || rc=1
	# conntrack's own timeout minus the idle time in the flowtable
	in_range "conntrack timeout at the hand-over ($ctt - $ftt s idle)" "${TO//-/0}" \
		$((ctt - ftt - 1)) $((ctt - ftt)) || rc=1
	[ "$(wfield "$ev" state)" = "$state" ] ||
		{ echo "FAIL: state at the hand-over '$(wfield "$ev" state)', expected $state"; rc=1; }
	return $rc
}

# t_udp_idle: flowtable UDP timeout, then conntrack stream timeout - idle.
t_udp_idle()
{
	local dport=6107 id=udpidle sport ppid tlast ev tg ftt=6 ctt=20 rc=0

	tcp_ruleset || return 1
	sysctl_r net.netfilter.nf_flowtable_udp_timeout=$ftt \
		net.netfilter.nf_conntrack_udp_timeout=$ctt \
		net.netfilter.nf_conntrack_udp_timeout_stream=$ctt || return 1
	sport=$(random_port)
	watch_start "$id" udp "$sport" "$dport" || { fail "watcher"; return; }
	ping_bg ppid "$dport" "$sport" 0.5 3 || return 1
	wait_pid_timeout 60 "$ppid" || { fail "pinger failed"; return; }
	cat "$KNO_TMP/ping$dport.stats"
	read -r _ _ _ _ _ _ _ tlast <"$KNO_TMP/ping$dport.stats"
	watch_event "$id" " ct=offload " >/dev/null ||
		{ watch_show "$id" "$tlast"; fail "never offloaded"; return; }
	check_handover "$id" "$tlast" $ftt $ctt - || rc=1
	# ... and the entry expires when conntrack said.
	if ! wait_for $((ctt + 10)) watch_event "$id" " ct=gone " "$TH" >/dev/null; then
		fail "conntrack entry still there $((ctt + 10)) s later: $(ct4 udp "$sport" "$dport")"
		rc=1
	else
		ev=$(watch_event "$id" " ct=gone " "$TH")
		tg=$(wfield "$ev" ms)
		echo "conntrack entry expired $(ms_to_s $((tg - TH))) s after the hand-over"
		in_range "ms from the hand-over to the expiry (timeout $TO s)" $((tg - TH)) \
			$(((${TO//-/0}) * 1000 - 500)) $(((${TO//-/0} + 2) * 1000)) || rc=1
	fi
	watch_stop "$id"
	kill "$(<"$KNO_TMP/echo$dport.pid")" 2>/dev/null
	[ "$rc" = 0 ] || { watch_show "$id" "$tlast"; dump_state; }
	return $rc
}

# t_tcp_idle: flowtable TCP timeout, then ESTABLISHED timeout - idle.
t_tcp_idle()
{
	local dport=6108 id=tcpidle sport tlast ftt=6 ctt=40 rc=0

	tcp_ruleset || return 1
	sysctl_r net.netfilter.nf_flowtable_tcp_timeout=$ftt \
		net.netfilter.nf_conntrack_tcp_timeout_established=$ctt || return 1
	sport=$(random_port)
	make_file "$KNO_TMP/$id.in" "$SIZE"
	watch_start "$id" tcp "$sport" "$dport" || { fail "watcher"; return; }
	tcp_pair "$id" "$dport" "$sport" connect "send:$KNO_TMP/$id.in" drain \
		"stamp:$KNO_TMP/$id.last" "wait:$KNO_TMP/$id.gate" fin \
		-- listen accept "recv:$KNO_TMP/$id.out:120" close >"$KNO_TMP/$id.log" 2>&1 || return 1
	wait_for 120 test -s "$KNO_TMP/$id.last" || { cat "$KNO_TMP/$id.log"; fail "not sent"; return; }
	# drain returned when the last ACK arrived: the last packet of the flow
	tlast=$(<"$KNO_TMP/$id.last")
	ft_check_offload tcp 4 "$sport" "$dport" "$SIZE" || rc=1
	check_handover "$id" "$tlast" $ftt $ctt ESTABLISHED || rc=1
	if impl_is ours; then
		watch_event "$id" " ft=gone" "$TH" >/dev/null ||
			fail "still in /proc/net/nf_flowtable: $(proc_flow tcp "$sport" "$dport")" || rc=1
	fi
	# The connection lives on, on the classic path.
	touch "$KNO_TMP/$id.gate"
	pair_wait "$id" 60 || rc=1
	watch_stop "$id"
	[ "$(recv_status "$KNO_TMP/$id.out")" = "eof $SIZE" ] ||
		fail "server: $(recv_status "$KNO_TMP/$id.out")" || rc=1
	cmp "$KNO_TMP/$id.in" "$KNO_TMP/$id.out" || rc=1
	[ "$rc" = 0 ] || { cat "$KNO_TMP/$id.log"; watch_show "$id" "$tlast"; dump_state; }
	return $rc
}

# --------------------------------------------------------------- main ---

# sub DESC FUNC [ARG...]: run_test, unless KNO_ONLY excludes it
sub()
{
	if [ -n "${KNO_ONLY:-}" ] && [[ " $KNO_ONLY " != *" $((_ktap_n + 1)) "* ]]; then
		ktap_skip "$1" "not selected (KNO_ONLY=$KNO_ONLY)"
		return 0
	fi
	run_test "$@"
}

topo_router || ktap_bail "topology setup failed"
tcp_ruleset || ktap_bail "cannot load the flowtable ruleset"
impl_report

sub "TCP FIN: leaves the flowtable (ours: fast path, CLOSING, 2 s grace, CLOSE; in-tree: teardown, conntrack sees the FIN), cmp" t_close fin 6001
sub "TCP RST: leaves the flowtable (ours: fast path, CLOSING, 2 s grace, CLOSE), entry expires after its timeout, cmp" t_close rst 6002
sub "SYN on the 4-tuple right after an RST: new connection works and is offloaded (ours: SYN meets the CLOSING flow)" t_syn_reopen 6003
sub "MAXACK cleared on hand-over: RST with a far sequence number passes a ct-invalid-drop chain" t_maxack 6004
sub "GC keeps live UDP and TCP flows offloaded for 3x the flowtable timeout, forward chain silent" t_live 5 0.5 17 gc 6105
sub "offloaded conntrack entries outlive conntrack timeouts shorter than the traffic" t_live 30 1 15 ctexpire 6115
sub "UDP idle: leaves after nf_flowtable_udp_timeout, conntrack timeout = stream timeout - idle, expires then" t_udp_idle
sub "TCP idle: leaves after nf_flowtable_tcp_timeout, conntrack timeout = ESTABLISHED timeout - idle, connection lives on" t_tcp_idle

ktap_end
