# netns-lab/lib/strongswan.sh: strongSwan (charon + swanctl) as a lab host.
#
#   ss_start NS                     start a charon in NS (its own /run, vici socket in $LAB_RUN/NS)
#   ss_conn NS NAME key=value ...   write a connection into NS's swanctl.conf (see below)
#   ss_load NS                      swanctl --load-all
#   ss_initiate NS CHILD            swanctl --initiate --child CHILD
#   ss_list_sas NS                  swanctl --list-sas
#   ss_child_installed NS CHILD     succeeds when CHILD is INSTALLED
#   ss_stop NS                      stop the charon
#
# ss_conn keys (defaults in brackets):
#   local_addrs remote_addrs        outer addresses
#   local_id remote_id              identities [the addresses]
#   auth = psk | pubkey             [psk]; pubkey uses a lab CA made with `pki`
#   certs                           pubkey: our certificate file in NS's x509/ (its key in private/,
#                                   the CAs in x509ca/, CRLs in x509crl/), instead of the lab CA's
#   psk                             [a fixed lab secret]
#   proposals esp_proposals         strongSwan proposal strings [aes256gcm16-prfsha256-x25519, aes256gcm16]
#   local_ts remote_ts              traffic selectors
#   mode = tunnel | transport       [tunnel]
#   start_action = none|start|trap  [none]
#   rekey_time life_time rekey_bytes life_bytes (child)  ike_rekey_time ike_over_time dpd_delay
#   encap = yes|no                  force UDP encapsulation [no]
#   replay_window                   [kernel default]
#   extra_child                     raw lines added to the child section
#   child                           the child's name [the connection's NAME]
#   more_children                   raw child sections added after it (further children)

# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

SS_CHARON=${SS_CHARON:-/usr/lib/ipsec/charon}
LAB_PSK=${LAB_PSK:-vipsec-lab-pre-shared-key-0123456789}

_ss_dir() { echo "$LAB_RUN/ss-$1"; }

_ss_write_strongswan_conf() {
  local ns=$1 dir
  dir=$(_ss_dir "$ns")
  mkdir -p "$dir/swanctl" "$dir/x509" "$dir/x509ca" "$dir/x509crl" "$dir/private"
  cat > "$dir/strongswan.conf" <<CONF
charon {
  threads = 16
  install_routes = no
  retransmit_tries = 3
  ${SS_CHARON_EXTRA:-}
  load = random nonce openssl aes sha1 sha2 hmac gmp curve25519 kdf kernel-netlink socket-default vici updown pem pkcs1 pkcs8 x509 pubkey constraints revocation
  plugins {
    vici { socket = unix://$dir/vici }
  }
  filelog {
    lab {
      path = $dir/charon.log
      time_format = %H:%M:%S
      default = 1
      ike = 2
      knl = 2
      cfg = 2
    }
  }
}
swanctl {
  load = pem pkcs1 pkcs8 x509 revocation constraints pubkey openssl random
}
CONF
  : > "$dir/swanctl.conf.connections"
  : > "$dir/swanctl.conf.secrets"
}

# ss_flush_log NS: charon writes each log line at once (checks that read charon.log right
# after an exchange; call before ss_start).
ss_flush_log() {
  local dir
  dir=$(_ss_dir "$1")
  [[ -f "$dir/strongswan.conf" ]] || _ss_write_strongswan_conf "$1"
  sed -i "s|^\( *\)path = $dir/charon.log|&\n\1flush_line = yes|" "$dir/strongswan.conf"
}

ss_start() {
  local ns=$1 dir
  dir=$(_ss_dir "$ns")
  [[ -f "$dir/strongswan.conf" ]] || _ss_write_strongswan_conf "$ns"
  # `ip netns exec` gives the command its own mount namespace: a private /run per charon.
  ip netns exec "$ns" sh -c "mount -t tmpfs tmpfs /run && STRONGSWAN_CONF=$dir/strongswan.conf exec $SS_CHARON" \
    > "$dir/charon.stdout" 2>&1 &
  echo $! > "$dir/charon.pid"
  if ! wait_for 90 test -S "$dir/vici"; then
    echo "charon in $ns did not open its vici socket; log:" >&2
    tail -20 "$dir/charon.stdout" "$dir/charon.log" >&2 2>/dev/null
    return 1
  fi
}

ss_stop() {
  local ns=$1 dir pid
  dir=$(_ss_dir "$ns")
  [[ -f "$dir/charon.pid" ]] || return 0
  pid=$(cat "$dir/charon.pid")
  kill "$pid" 2>/dev/null
  for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  kill -9 "$pid" 2>/dev/null
  rm -f "$dir/charon.pid" "$dir/vici"
}

_ss_swanctl() {
  local ns=$1; shift
  local dir
  dir=$(_ss_dir "$ns")
  SWANCTL_DIR=$dir STRONGSWAN_CONF=$dir/strongswan.conf swanctl "$@" --uri "unix://$dir/vici"
}

# _ss_lab_ca: a CA and certificates for pubkey authentication, made once per lab run.
_ss_lab_cert() {
  local ns=$1 id=$2 dir ca="$LAB_RUN/ca"
  dir=$(_ss_dir "$ns")
  if [[ ! -f "$ca/ca.der" ]]; then
    mkdir -p "$ca"
    pki --gen --type ecdsa --size 256 --outform der > "$ca/ca.key.der"
    pki --self --ca --lifetime 30 --in "$ca/ca.key.der" --type ecdsa --dn "CN=vipsec lab CA" --outform der > "$ca/ca.der"
  fi
  pki --gen --type ecdsa --size 256 --outform der > "$dir/private/$ns.der"
  pki --pub --in "$dir/private/$ns.der" --type ecdsa |
    pki --issue --lifetime 30 --cacert "$ca/ca.der" --cakey "$ca/ca.key.der" --dn "CN=$id" --san "$id" --outform der > "$dir/x509/$ns.der"
  cp "$ca/ca.der" "$dir/x509ca/ca.der"
}

ss_conn() {
  local ns=$1 name=$2; shift 2
  local -A o=(
    [auth]=psk [psk]=$LAB_PSK [proposals]=aes256gcm16-prfsha256-x25519 [esp_proposals]=aes256gcm16
    [mode]=tunnel [start_action]=none [encap]=no [local_addrs]=%any [remote_addrs]=%any
  )
  local kv
  for kv in "$@"; do o[${kv%%=*}]=${kv#*=}; done
  local local_id=${o[local_id]:-${o[local_addrs]}} remote_id=${o[remote_id]:-${o[remote_addrs]}}
  local dir
  dir=$(_ss_dir "$ns")
  [[ -f "$dir/strongswan.conf" ]] || _ss_write_strongswan_conf "$ns"
  local local_auth="auth = psk" remote_auth="auth = psk"
  if [[ ${o[auth]} == pubkey ]]; then
    [[ -n ${o[certs]:-} ]] || { _ss_lab_cert "$ns" "$local_id"; o[certs]=$ns.der; }
    local_auth=$'auth = pubkey\n        certs = '"${o[certs]}"
    remote_auth="auth = pubkey"
  else
    cat >> "$dir/swanctl.conf.secrets" <<SEC
  ike-$name {
    id-1 = $local_id
    id-2 = $remote_id
    secret = "${o[psk]}"
  }
SEC
  fi
  {
    echo "  $name {"
    echo "    version = 2"
    echo "    local_addrs = ${o[local_addrs]}"
    echo "    remote_addrs = ${o[remote_addrs]}"
    echo "    proposals = ${o[proposals]}"
    echo "    encap = ${o[encap]}"
    [[ -n ${o[ike_rekey_time]:-} ]] && echo "    rekey_time = ${o[ike_rekey_time]}"
    [[ -n ${o[ike_over_time]:-} ]] && echo "    over_time = ${o[ike_over_time]}"
    [[ -n ${o[dpd_delay]:-} ]] && echo "    dpd_delay = ${o[dpd_delay]}"
    echo "    local {"
    echo "        $local_auth"
    echo "        id = $local_id"
    echo "    }"
    echo "    remote {"
    echo "        $remote_auth"
    echo "        id = $remote_id"
    echo "    }"
    echo "    children {"
    echo "      ${o[child]:-$name} {"
    echo "        local_ts = ${o[local_ts]:-dynamic}"
    echo "        remote_ts = ${o[remote_ts]:-dynamic}"
    echo "        esp_proposals = ${o[esp_proposals]}"
    echo "        mode = ${o[mode]}"
    echo "        start_action = ${o[start_action]}"
    [[ -n ${o[rekey_time]:-} ]] && echo "        rekey_time = ${o[rekey_time]}"
    [[ -n ${o[life_time]:-} ]] && echo "        life_time = ${o[life_time]}"
    [[ -n ${o[rekey_bytes]:-} ]] && echo "        rekey_bytes = ${o[rekey_bytes]}"
    [[ -n ${o[life_bytes]:-} ]] && echo "        life_bytes = ${o[life_bytes]}"
    [[ -n ${o[replay_window]:-} ]] && echo "        replay_window = ${o[replay_window]}"
    [[ -n ${o[extra_child]:-} ]] && echo "        ${o[extra_child]}"
    echo "      }"
    [[ -n ${o[more_children]:-} ]] && echo "${o[more_children]}"
    echo "    }"
    echo "  }"
  } >> "$dir/swanctl.conf.connections"
  {
    echo "connections {"; cat "$dir/swanctl.conf.connections"; echo "}"
    echo "secrets {"; cat "$dir/swanctl.conf.secrets"; echo "}"
  } > "$dir/swanctl.conf"
}

ss_load() {
  local ns=$1 dir
  dir=$(_ss_dir "$ns")
  _ss_swanctl "$ns" --load-all --noprompt --file "$dir/swanctl.conf"
}
ss_initiate() { _ss_swanctl "$1" --initiate --child "$2" --timeout 30; }
ss_terminate_ike() { _ss_swanctl "$1" --terminate --ike "$2" --timeout 20; }
ss_list_sas() { _ss_swanctl "$1" --list-sas; }
ss_child_installed() { ss_list_sas "$1" | grep -A3 "^  *$2:" | grep -q INSTALLED; }
ss_log() { local dir; dir=$(_ss_dir "$1"); cat "$dir/charon.log" 2>/dev/null; }
