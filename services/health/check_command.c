/* The `command` probe: runs argv (never a shell) with uv_spawn in a process
 * group of its own, reads at most output_max bytes of stdout (the rest is
 * drained and counted), maps the exit per the Nagios convention and parses
 * perfdata into details. On timeout, or once the plugin exits, the whole
 * group is killed, so no child outlives the run; libuv reaps the plugin. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/wait.h>
#include <unistd.h>

#include "health_nagios.h"
#include "health_probe.h"

extern char **environ;

typedef struct {
    health_run_t *run;
    uv_process_t proc;
    uv_pipe_t out;
    char *buf;
    size_t len, cap;
    uint64_t total;
    bool exited, eof;
    int open_handles;
    int64_t exit_status;
    int term_signal;
    int pid;
    char **envp;
} cmd_t;

/* Plugins still running (libuv reaps those); anything else among our
 * children is an orphan of a plugin, adopted as subreaper, to reap here. */
static int *live;
static size_t n_live, cap_live;

static void live_add(int pid)
{
    if (n_live == cap_live) {
        size_t nc = cap_live ? cap_live * 2 : 64;
        int *nl = realloc(live, nc * sizeof(*nl));
        if (!nl)
            return;
        live = nl;
        cap_live = nc;
    }
    live[n_live++] = pid;
}

static void live_del(int pid)
{
    for (size_t i = 0; i < n_live; i++)
        if (live[i] == pid) {
            live[i] = live[--n_live];
            return;
        }
}

static bool is_live(int pid)
{
    for (size_t i = 0; i < n_live; i++)
        if (live[i] == pid)
            return true;
    return false;
}

void health_command_reap(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[300], buf[4096];
        snprintf(path, sizeof(path), "/proc/self/task/%s/children", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        char *p = buf, *end;
        for (long pid; (pid = strtol(p, &end, 10)) > 0; p = end)
            if (!is_live((int)pid))
                waitpid((pid_t)pid, NULL, WNOHANG);
    }
    closedir(d);
}

static void cmd_free(cmd_t *c)
{
    free(c->buf);
    free(c->envp);
    free(c);
}

static void on_close(uv_handle_t *h)
{
    cmd_t *c = h->data;
    if (--c->open_handles == 0) {
        health_run_t *run = c->run;
        run->probe = NULL;
        cmd_free(c);
        health_run_unref(run);
    }
}

static void kill_group(cmd_t *c)
{
    if (c->pid > 0) {
        kill(-c->pid, SIGKILL);
        /* The plugin may have left the group (setsid); then at least itself. */
        if (!c->exited)
            kill(c->pid, SIGKILL);
    }
}

static void finish(cmd_t *c)
{
    health_run_t *run = c->run;
    if (!c->exited || !c->eof)
        return;
    health_result_t *r = &run->result;
    char why[128];
    health_level_t lvl = health_nagios_level(c->exit_status, c->term_signal, false, why,
                                             sizeof(why));
    char line[HEALTH_MSG_MAX - 160];
    health_perf_t perf[12];
    size_t bad = 0;
    size_t np = health_nagios_parse(c->buf, c->len, line, sizeof(line), perf, 12, &bad);
    r->level = lvl;
    if (c->term_signal != 0 || (c->exit_status > 3 || c->exit_status < 0))
        snprintf(r->message, sizeof(r->message), "%s%s%s", why, line[0] ? ": " : "", line);
    else if (c->exit_status == 3)
        snprintf(r->message, sizeof(r->message), "unknown: %s", line[0] ? line : "(no output)");
    else
        snprintf(r->message, sizeof(r->message), "%s", line[0] ? line : why);
    if (c->term_signal)
        health_result_detail(r, "signal", "%d", c->term_signal);
    else
        health_result_detail(r, "exit_status", "%lld", (long long)c->exit_status);
    health_result_detail(r, "output_bytes", "%llu", (unsigned long long)c->total);
    if (c->total > c->cap)
        health_result_detail(r, "output_truncated", "true");
    if (bad)
        health_result_detail(r, "perfdata_errors", "%zu", bad);
    for (size_t i = 0; i < np; i++) {
        char name[48];
        snprintf(name, sizeof(name), "perf.%.30s%s%.8s", perf[i].label, perf[i].uom[0] ? "." : "",
                 perf[i].uom);
        health_result_detail(r, name, "%.17g", perf[i].value);
    }
    health_run_done(run);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    cmd_t *c = h->data;
    /* Past the cap we still read (a plugin blocked on a full pipe would
     * never exit) into a scratch buffer that is thrown away. */
    static char scratch[65536];
    if (c->len < c->cap) {
        b->base = c->buf + c->len;
        b->len = c->cap - c->len;
    } else {
        b->base = scratch;
        b->len = sizeof(scratch);
    }
    (void)suggested;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    cmd_t *c = s->data;
    if (n > 0) {
        c->total += (uint64_t)n;
        if (b->base == c->buf + c->len)
            c->len += (size_t)n;
        return;
    }
    if (n == 0)
        return;
    /* EOF or error: every writer is gone (or the pipe broke). */
    uv_read_stop(s);
    if (!c->eof) {
        c->eof = true;
        uv_close((uv_handle_t *)&c->out, on_close);
    }
    finish(c);
}

static void on_child_exit(uv_process_t *p, int64_t status, int sig)
{
    cmd_t *c = p->data;
    c->exited = true;
    c->exit_status = status;
    c->term_signal = sig;
    live_del(c->pid);
    /* Whatever the plugin started goes with it, and the pipe then sees EOF. */
    kill(-c->pid, SIGKILL);
    uv_close((uv_handle_t *)&c->proc, on_close);
    finish(c);
}

static int cmd_start(health_run_t *run)
{
    const health_check_conf_t *k = run->conf;
    cmd_t *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->run = run;
    c->cap = (size_t)(k->output_max_bytes > 0 ? k->output_max_bytes : 65536);
    if (!(c->buf = malloc(c->cap))) {
        cmd_free(c);
        return -ENOMEM;
    }
    if (k->env.n) {
        size_t ne = 0;
        while (environ && environ[ne])
            ne++;
        if (!(c->envp = calloc(ne + k->env.n + 1, sizeof(char *)))) {
            cmd_free(c);
            return -ENOMEM;
        }
        for (size_t i = 0; i < ne; i++)
            c->envp[i] = environ[i];
        for (size_t i = 0; i < k->env.n; i++)
            c->envp[ne + i] = k->env.v[i];
    }
    uv_pipe_init(run->loop, &c->out, 0);
    c->out.data = c;
    c->proc.data = c;
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_IGNORE},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&c->out},
        {.flags = UV_IGNORE},
    };
    uv_process_options_t o = {
        .exit_cb = on_child_exit,
        .file = k->argv.v[0],
        .args = k->argv.v,
        .env = c->envp,
        .stdio_count = 3,
        .stdio = stdio,
        /* setsid(): a process group of its own, killed as a whole. */
        .flags = UV_PROCESS_DETACHED,
    };
    int r = uv_spawn(run->loop, &c->proc, &o);
    if (r < 0) {
        /* libuv needs the process handle closed even after a failed spawn. */
        c->open_handles = 2;
        c->exited = c->eof = true;
        health_run_ref(run);
        uv_close((uv_handle_t *)&c->proc, on_close);
        uv_close((uv_handle_t *)&c->out, on_close);
        health_result_raise(&run->result, HEALTH_CRITICAL, "cannot run %s: %s", k->argv.v[0],
                            uv_strerror(r));
        health_run_done(run);
        return 0;
    }
    c->pid = c->proc.pid;
    live_add(c->pid);
    c->open_handles = 2;
    health_run_ref(run);
    run->probe = c;
    uv_read_start((uv_stream_t *)&c->out, on_alloc, on_read);
    return 0;
}

static void cmd_cancel(health_run_t *run)
{
    cmd_t *c = run->probe;
    if (!c)
        return;
    kill_group(c);
    /* A descendant that escaped the group may hold the pipe open: stop
     * waiting for its EOF. */
    if (!c->eof) {
        uv_read_stop((uv_stream_t *)&c->out);
        c->eof = true;
        uv_close((uv_handle_t *)&c->out, on_close);
    }
}

const health_probe_ops_t health_probe_command = { cmd_start, cmd_cancel };
