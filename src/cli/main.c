/*
 * main.c — the omnibus command: serve, check-config, passwd, version and help.
 *
 * Exit status: 0 success; 1 usage or start-up error (a port in use, an unusable data
 * dir); 2 invalid configuration.
 */
#include "base/alloc.h"
#include "base/buf.h"
#include "cli/client.h"
#include "core/auth.h"
#include "server/server.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

extern char **environ;

#define EXIT_USAGE  1
#define EXIT_CONFIG 2

static const char usage_text[] =
    "usage: omnibus <command> [options]\n"
    "\n"
    "commands:\n"
    "  serve         run the server\n"
    "  check-config  validate the configuration; prints OK or every error\n"
    "  passwd        read a password on stdin, print its argon2id hash for auth.users\n"
    "  version       print the version (also --version)\n"
    "  help          this text (also --help)\n"
    "\n"
    "options of serve and check-config:\n"
    "  -c, --config FILE          YAML config overlaid on the built-in defaults\n"
    "  --set PATH.TO.KEY=VALUE    set one key (repeatable; lists as YAML: a=[x, y])\n"
    "  --data-dir DIR             the data directory (\"\" keeps data in memory)\n"
    "  --no-default-listeners     every listener off unless the config or --set names it\n"
    "\n"
    "Environment variables OMNIBUS_PATH__TO__KEY=VALUE set keys too. Precedence, lowest\n"
    "first: defaults, -c FILE, environment, --set, --data-dir. Keys: docs/configuration.md.\n"
    "Exit status: 0 ok, 1 usage or start-up error, 2 invalid configuration.\n";

struct args {
    struct ob_config_source src;
    const char **sets;
};

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "omnibus: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nrun 'omnibus help' for usage\n");
    va_end(ap);
    return EXIT_USAGE;
}

/* Takes the value of option argv[*i] (as "--opt value" or "--opt=value"). */
static const char *option_value(int argc, char **argv, int *i, const char *name)
{
    size_t n = strlen(name);
    if (!strncmp(argv[*i], name, n) && argv[*i][n] == '=') return argv[*i] + n + 1;
    if (*i + 1 >= argc) return NULL;
    return argv[++*i];
}

static bool is_opt(const char *arg, const char *name)
{
    size_t n = strlen(name);
    return !strncmp(arg, name, n) && (arg[n] == 0 || arg[n] == '=');
}

/* Parses the options of serve and check-config; 0 or an exit status. */
static int parse_args(int argc, char **argv, struct args *a)
{
    a->sets = ob_xcalloc((size_t)argc, sizeof *a->sets);
    a->src.envp = environ;
    a->src.sets = a->sets;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i], *v;
        if (!strcmp(arg, "--no-default-listeners")) {
            a->src.no_default_listeners = true;
            continue;
        }
        const char *name = !strcmp(arg, "-c")          ? "-c"
                           : is_opt(arg, "--config")   ? "--config"
                           : is_opt(arg, "--set")      ? "--set"
                           : is_opt(arg, "--data-dir") ? "--data-dir"
                                                       : NULL;
        if (!name) return usage_error("unknown option '%s'", arg);
        if (!(v = option_value(argc, argv, &i, name)))
            return usage_error("option '%s' needs a value", name);
        if (!strcmp(name, "--set"))
            a->sets[a->src.nsets++] = v;
        else if (!strcmp(name, "--data-dir"))
            a->src.data_dir = v;
        else
            a->src.file = v;
    }
    return 0;
}

static void print_diag(const struct ob_diag *d)
{
    for (size_t i = 0; i < d->nerrors; i++)
        fprintf(stderr, "%s\n", d->errors[i]);
    for (size_t i = 0; i < d->nwarnings; i++)
        fprintf(stderr, "warning: %s\n", d->warnings[i]);
}

static int cmd_check_config(int argc, char **argv)
{
    struct args a = {0};
    int rc = parse_args(argc, argv, &a);
    if (rc) {
        free(a.sets);
        return rc;
    }
    struct ob_config cfg;
    struct ob_diag d = {0};
    rc = ob_config_load(&cfg, &a.src, &d);
    print_diag(&d);
    if (rc == 0) {
        printf("OK\n");
        ob_config_release(&cfg);
    }
    ob_diag_release(&d);
    free(a.sets);
    return rc ? EXIT_CONFIG : 0;
}

static int cmd_serve(int argc, char **argv)
{
    struct args a = {0};
    int rc = parse_args(argc, argv, &a);
    if (rc) {
        free(a.sets);
        return rc;
    }
    struct ob_server *s;
    struct ob_diag d = {0};
    rc = ob_server_open(&s, &a.src, &d);
    if (rc == OB_ECONFIG) print_diag(&d);
    ob_diag_release(&d);
    free(a.sets);
    if (rc) return rc == OB_ECONFIG ? EXIT_CONFIG : EXIT_FAILURE;
    ob_server_run(s);
    ob_server_close(s);
    return 0;
}

/* Reads one line (without its newline) from stdin, without echo on a terminal. */
static char *read_password(void)
{
    struct termios old, quiet;
    bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
    if (tty) {
        fprintf(stderr, "Password: ");
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    struct ob_buf b = OB_BUF_INIT;
    int c;
    while ((c = getchar()) != EOF && c != '\n')
        ob_buf_putc(&b, (uint8_t)c);
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fprintf(stderr, "\n");
    }
    if (b.len && b.p[b.len - 1] == '\r') b.len--;
    ob_buf_putc(&b, 0);
    return (char *)b.p;
}

static int cmd_passwd(int argc, char **argv)
{
    (void)argv;
    if (argc > 0) return usage_error("passwd takes no arguments (the password is read from stdin)");
    char *pw = read_password();
    size_t n = strlen(pw);
    char hash[OB_AUTH_HASH_MAX];
    int rc = n ? ob_auth_hash_password(pw, n, hash) : OB_EINVAL;
    sodium_memzero(pw, n);
    free(pw);
    if (!n) {
        fprintf(stderr, "omnibus: empty password\n");
        return EXIT_FAILURE;
    }
    if (rc) {
        fprintf(stderr, "omnibus: hashing failed: %s\n", ob_strerror(rc));
        return EXIT_FAILURE;
    }
    printf("%s\n", hash);
    return 0;
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : "help";
    int sub_argc = argc > 2 ? argc - 2 : 0;
    char **sub_argv = argv + 2;
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V") || !strcmp(cmd, "version")) {
        printf("omnibus %s\n", OB_VERSION_STRING);
        return 0;
    }
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        fputs(usage_text, stdout);
        fputs(ob_cli_client_usage, stdout);
        return argc > 1 ? 0 : EXIT_USAGE;
    }
    if (!strcmp(cmd, "serve")) return cmd_serve(sub_argc, sub_argv);
    if (!strcmp(cmd, "check-config")) return cmd_check_config(sub_argc, sub_argv);
    if (!strcmp(cmd, "passwd")) return cmd_passwd(sub_argc, sub_argv);
    int client_rc = ob_cli_client_main(cmd, sub_argc, sub_argv); /* pub, sub, stream, bench */
    if (client_rc >= 0) return client_rc;
    return usage_error("unknown command '%s'", cmd);
}
