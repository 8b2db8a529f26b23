# netns-lab/lib/counters.sh: vipsec's counters as a scenario reads them. SIGUSR1 makes
# `vipsec routing` log one `counters: name=value ...` line; these read the newest one.
# The scenario sets VLOG (vipsec's log) and vipsec_pid.

# counters_now: a fresh counters line into $LAB_RUN/counters; counter NAME: NAME's value in it.
counters_now() {
  local before
  before=$(grep -c 'counters:' "$VLOG")
  kill -USR1 "$vipsec_pid"
  wait_for 10 sh -c "[ \$(grep -c 'counters:' $VLOG) -gt $before ]" || return 1
  grep 'counters:' "$VLOG" | tail -1 | sed 's/.*counters: //' > "$LAB_RUN/counters"
}
counter() { tr ' ' '\n' < "$LAB_RUN/counters" | awk -F= -v k="$1" '$1 == k { print $2; f = 1 } END { if (!f) print 0 }'; }
# delta NAME...: sum of NAME's growth since the last `mark`.
mark() { counters_now && cp "$LAB_RUN/counters" "$LAB_RUN/counters.mark"; }
delta() {
  counters_now || { echo "no counters line"; return 1; }
  local total=0 n before
  for n in "$@"; do
    before=$(tr ' ' '\n' < "$LAB_RUN/counters.mark" | awk -F= -v k="$n" '$1 == k { print $2; f = 1 } END { if (!f) print 0 }')
    total=$((total + $(counter "$n") - before))
  done
  echo "$total"
}
# expect_delta WANT NAME...: the growth reaches WANT (polled: under load vipsec may still be
# working through the datagrams when the sender returns); prints what it saw last.
expect_delta() { local want=$1; shift; echo -n "growth of $* = "; wait_for_eq 30 "$want" delta "$@"; }
