# cli.sh — --version, --help, unknown commands and options, `omnibus passwd` (whose hash
# is accepted by the config and verifies), and predeclared streams created at start.
. "$OB_SRC/tests/lib/common.sh"
ob_setup

v=$("$OB" --version) || ob_fail "--version failed"
[ "$v" = "omnibus 0.1.0" ] || ob_fail "--version printed '$v'"
"$OB" --help | grep -q 'check-config' || ob_fail "--help lacks check-config"
"$OB" help >/dev/null || ob_fail "help failed"
"$OB" frobnicate >/dev/null 2>&1
[ $? -eq 1 ] || ob_fail "unknown command should exit 1"
"$OB" serve --bogus >/dev/null 2>"$T/err"
[ $? -eq 1 ] || ob_fail "unknown option should exit 1"
grep -qF "unknown option '--bogus'" "$T/err" || ob_fail "unknown option message"

hash=$(printf 'correct horse\n' | "$OB" passwd) || ob_fail "passwd failed"
case "$hash" in
'$argon2id$'*) ;;
*) ob_fail "passwd printed '$hash'" ;;
esac
printf '\n' | "$OB" passwd >/dev/null 2>&1 && ob_fail "passwd accepted an empty password"
cat >"$T/users.yaml" <<YAML
auth:
  users:
    - name: alice
      password_hash: "$hash"
YAML
out=$("$OB" check-config -c "$T/users.yaml" 2>&1) || ob_fail "hash rejected: $out"

port=$(ob_free_port)
ob_start --no-default-listeners --set "listeners.echo=127.0.0.1:$port" \
    --set 'streams=[{name: orders, subjects: [orders.>], max_age: 1h}]'
ob_wait_log 'msg="omnibus started"'
ob_stop TERM
[ "$OB_STATUS" -eq 0 ] || ob_fail "exit status $OB_STATUS"
find "$T/data" | grep -q orders || ob_fail "stream orders not created in the data dir"
echo "ok"
