# check_config.sh — `omnibus check-config` prints OK for a valid file (the shipped
# example included) and every error with file:line:col and key path otherwise (exit 2);
# environment and --set errors name their source.
. "$OB_SRC/tests/lib/common.sh"
ob_setup

out=$("$OB" check-config -c "$OB_SRC/omnibus.example.yaml" 2>&1) ||
    ob_fail "omnibus.example.yaml rejected: $out"
[ "$out" = "OK" ] || ob_fail "expected OK, got: $out"

cat >"$T/bad.yaml" <<'YAML'
log:
  level: loud
listeners:
  http: 127.0.0.1:8080
  mqtt: nowhere
limits:
  max_msg_size: 2GiB
  bogus: 1
YAML
"$OB" check-config -c "$T/bad.yaml" >"$T/out" 2>&1
status=$?
[ "$status" -eq 2 ] || ob_fail "exit status $status, want 2"
for want in \
    "$T/bad.yaml:2:10: log.level: expected one of debug|info|warn|error, got \"loud\"" \
    "$T/bad.yaml:5:9: listeners.mqtt: expected host:port or \"off\"" \
    "$T/bad.yaml:7:17: limits.max_msg_size: 2GiB is out of range" \
    "$T/bad.yaml:8:3: limits.bogus: unknown key"; do
    grep -qF -- "$want" "$T/out" || { cat "$T/out" >&2; ob_fail "missing: $want"; }
done
grep -q '^OK' "$T/out" && ob_fail "printed OK for an invalid file"

printf 'log:\n  level: [\n' >"$T/syntax.yaml"
"$OB" check-config -c "$T/syntax.yaml" >"$T/out" 2>&1
[ $? -eq 2 ] || ob_fail "syntax error: wrong exit status"
grep -qF "$T/syntax.yaml:3:1: invalid YAML" "$T/out" || { cat "$T/out" >&2; ob_fail "syntax error position"; }

"$OB" check-config --set "listeners.http=nope" >"$T/out" 2>&1
[ $? -eq 2 ] || ob_fail "--set error: wrong exit status"
grep -qF -- '--set listeners.http=nope: listeners.http: expected host:port or "off"' "$T/out" ||
    { cat "$T/out" >&2; ob_fail "--set error text"; }

OMNIBUS_LIMITS__CONN_WRITE_BUFFER=lots "$OB" check-config >"$T/out" 2>&1
[ $? -eq 2 ] || ob_fail "env error: wrong exit status"
grep -qF 'env OMNIBUS_LIMITS__CONN_WRITE_BUFFER: limits.conn_write_buffer: expected a size' "$T/out" ||
    { cat "$T/out" >&2; ob_fail "env error text"; }

out=$(OMNIBUS_LOG__LEVEL=debug "$OB" check-config --set limits.max_msg_size=64KiB 2>&1) ||
    ob_fail "valid overrides rejected: $out"
"$OB" check-config -c "$T/missing.yaml" >"$T/out" 2>&1
[ $? -eq 2 ] || ob_fail "missing file: wrong exit status"
grep -qF "$T/missing.yaml: cannot open" "$T/out" || ob_fail "missing file message"
echo "ok"
