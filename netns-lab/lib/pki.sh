# netns-lab/lib/pki.sh: IKE certificates made with strongSwan's `pki` (ike-certs,
# cluster-certs). Set IKE_PKI (the folder) before sourcing; source after topology.sh.
# pki runs with only the plugins it needs (under emulation each start-up costs seconds).

command -v pki >/dev/null || { echo "strongSwan's pki is missing (scripts/setup installs strongswan-pki)"; exit 1; }
mkdir -p "$IKE_PKI"
printf 'pki {\n  load = random nonce openssl pem pkcs1 pkcs8 x509 pubkey\n}\n' > "$IKE_PKI/pki.conf"
pki() { STRONGSWAN_CONF=$IKE_PKI/pki.conf command pki "$@" 2>/dev/null; }
pki_gen() {   # pki_gen TYPE FILE (TYPE: ecdsa256 ecdsa384 rsa2048 rsa4096 ed25519)
  case $1 in
    ecdsa*) pki --gen --type ecdsa --size "${1#ecdsa}" --outform der > "$2" ;;
    rsa*) pki --gen --type rsa --size "${1#rsa}" --outform der > "$2" ;;
    ed25519) pki --gen --type ed25519 --outform der > "$2" ;;
  esac
}
# issue DIR KEY NAME SAN [ISSUER [pki --issue options...]]: certificate DIR/NAME.der for
# DIR/KEY.key, subject "O=vipsec lab, CN=SAN" (DN: another subject).
issue() {
  local d=$1 key=$2 name=$3 san=$4 issuer=${5:-int}; shift 5
  pki --issue --in "$d/$key.key" --type priv --cacert "$d/$issuer.der" --cakey "$d/$issuer.key" \
    --dn "${DN:-O=vipsec lab, CN=$san}" --san "$san" --outform der "$@" > "$d/$name.der"
}
# ca DIR TYPE: root (self-signed) and intermediate (path length 0) of TYPE.
ca() {
  local d=$1 type=$2
  mkdir -p "$d"
  pki_gen "$type" "$d/root.key" && pki_gen "$type" "$d/int.key" &&
    pki --self --ca --lifetime 30 --in "$d/root.key" --type priv --dn "O=vipsec lab, CN=root $type" --outform der > "$d/root.der" &&
    pki --issue --ca --pathlen 0 --lifetime 30 --in "$d/int.key" --type priv --cacert "$d/root.der" --cakey "$d/root.key" \
      --dn "O=vipsec lab, CN=intermediate $type" --outform der > "$d/int.der"
}
