/* The daemon lifecycle shared by every memmon process: arguments, config,
 * loop, bus client, signals, reload and heartbeat. */
#include "mm_service.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mm_build.h"
#include "mm_err.h"
#include "mm_log.h"

struct mm_service {
    const mm_service_def_t *def;
    uv_loop_t loop;
    uv_signal_t sig_term, sig_int, sig_hup;
    uv_timer_t heartbeat;
    mm_bus_t *bus;
    mm_config_t cfg;
    void *own;
    int64_t started_ms;
    uint64_t generation;
    char config_error[600];
    Mm__ServiceState state;
    bool stopping;
    char *config_dir;
    char *instance_flag;
    char *log_level_flag;
};

uv_loop_t *mm_service_loop(mm_service_t *svc) { return &svc->loop; }
mm_bus_t *mm_service_bus(mm_service_t *svc) { return svc->bus; }
const mm_config_t *mm_service_config(mm_service_t *svc) { return &svc->cfg; }
const mm_clock_t *mm_service_clock(mm_service_t *svc) { (void)svc; return &mm_clock_system; }
void *mm_service_data(mm_service_t *svc) { return svc->def->data; }
const char *mm_service_name(mm_service_t *svc) { return svc->def->name; }

int mm_service_publish(mm_service_t *svc, const char *topic, Mm__Envelope *env)
{
    return mm_bus_publish(svc->bus, topic, env);
}

static void self_usage(uint64_t *rss, double *cpu)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    *cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
           ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
    *rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        unsigned long size, res;
        if (fscanf(f, "%lu %lu", &size, &res) == 2)
            *rss = (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE);
        fclose(f);
    }
}

static void send_heartbeat(mm_service_t *svc)
{
    Mm__Heartbeat hb = MM__HEARTBEAT__INIT;
    hb.version = (char *)MM_VERSION;
    hb.state = svc->state;
    hb.started_ms = svc->started_ms;
    int64_t now = mm_clock_now_ms(&mm_clock_system);
    hb.uptime_s = (double)(now - svc->started_ms) / 1000.0;
    hb.pid = (int32_t)getpid();
    hb.config_generation = svc->generation;
    hb.config_error = svc->config_error;
    self_usage(&hb.rss_bytes, &hb.cpu_seconds);
    mm_bus_stats_t st;
    mm_bus_stats(svc->bus, &st);
    hb.bus_gaps = st.gaps;
    hb.bus_received = st.received;
    hb.bus_sent = st.sent;
    hb.shard_index = (int32_t)svc->cfg.shard_index;
    hb.shard_count = (int32_t)svc->cfg.shard_count;
    hb.interval_ms = svc->cfg.heartbeat_ms;
    if (svc->def->heartbeat)
        svc->def->heartbeat(svc, &hb);

    Mm__Envelope env = MM__ENVELOPE__INIT;
    env.payload_case = MM__ENVELOPE__PAYLOAD_HEARTBEAT;
    env.heartbeat = &hb;
    char topic[80];
    snprintf(topic, sizeof topic, "state.%s.hb", svc->def->name);
    mm_bus_publish(svc->bus, topic, &env);
}

static void on_heartbeat(uv_timer_t *t)
{
    send_heartbeat(t->data);
}

static void on_bus_message(mm_bus_t *bus, const char *topic, const Mm__Envelope *env, void *data)
{
    mm_service_t *svc = data;
    (void)bus;
    if (svc->def->on_message && !svc->stopping)
        svc->def->on_message(svc, topic, env);
}

static void close_cb(uv_handle_t *h) { (void)h; }

/* Closes the lifecycle's own handles and the bus client. */
static void close_handles(mm_service_t *svc)
{
    uv_close((uv_handle_t *)&svc->heartbeat, close_cb);
    uv_close((uv_handle_t *)&svc->sig_term, close_cb);
    uv_close((uv_handle_t *)&svc->sig_int, close_cb);
    uv_close((uv_handle_t *)&svc->sig_hup, close_cb);
    mm_bus_free(svc->bus);
    svc->bus = NULL;
}

void mm_service_request_stop(mm_service_t *svc)
{
    if (svc->stopping)
        return;
    svc->stopping = true;
    mm_log_notice("MM-SERVICE-STOP", "stopping");
    svc->state = MM__SERVICE_STATE__STOPPING;
    send_heartbeat(svc);
    if (svc->def->stop)
        svc->def->stop(svc);
    uv_timer_stop(&svc->heartbeat);
    close_handles(svc);
}

/* Loads memmon.yml, applies the flags, then the service's own files. */
static int load_all(mm_service_t *svc, mm_config_t *cfg, void **own, mm_diag_t *d)
{
    int r = mm_config_load(svc->config_dir, svc->def->name, cfg, d);
    if (r < 0)
        return r;
    if (svc->instance_flag) {
        free(cfg->instance);
        cfg->instance = strdup(svc->instance_flag);
    }
    if (svc->log_level_flag) {
        free(cfg->log_level);
        cfg->log_level = strdup(svc->log_level_flag);
    }
    *own = NULL;
    if (svc->def->config_load && (r = svc->def->config_load(cfg, own, d)) < 0) {
        mm_config_fini(cfg);
        return r;
    }
    return 0;
}

static void reload(mm_service_t *svc)
{
    mm_config_t cfg;
    void *own;
    mm_diag_t d = {0};
    char msg[sizeof svc->config_error];
    int r = load_all(svc, &cfg, &own, &d);
    if (r == 0 && svc->def->reload) {
        /* The callback sees the new memmon.yml through mm_service_config(). */
        mm_config_t old = svc->cfg;
        svc->cfg = cfg;
        r = svc->def->reload(svc, own, &d);
        svc->cfg = old;
        if (r < 0) {
            /* The header promises that a refused config is freed here. */
            if (svc->def->config_free)
                svc->def->config_free(own);
            mm_config_fini(&cfg);
        }
    } else if (r == 0) {
        if (svc->def->config_free)
            svc->def->config_free(own);
        mm_config_fini(&cfg);
        mm_log_warn("MM-CONFIG-RELOAD-UNSUPPORTED", "this service applies config changes only at restart");
        return;
    }
    if (r < 0) {
        if (d.file[0])
            mm_diag_format(&d, msg, sizeof msg);
        else
            snprintf(msg, sizeof msg, "%s", mm_strerror(r));
        snprintf(svc->config_error, sizeof svc->config_error, "%s", msg);
        mm_log_err("MM-CONFIG-RELOAD-FAIL", "reload failed, keeping the running config: %s", msg);
        send_heartbeat(svc);
        return;
    }
    /* The service took `own`; swap memmon.yml. Bus addresses apply at restart. */
    if (svc->def->config_free && svc->own != own)
        svc->def->config_free(svc->own);
    svc->own = own;
    mm_config_fini(&svc->cfg);
    svc->cfg = cfg;
    mm_log_level_t lvl;
    if (mm_log_level_parse(cfg.log_level, &lvl) == 0)
        mm_log_set_level(lvl);
    svc->generation++;
    svc->config_error[0] = '\0';
    mm_log_notice("MM-CONFIG-RELOAD", "configuration reloaded (generation %llu)",
                  (unsigned long long)svc->generation);
    send_heartbeat(svc);
}

static void on_signal(uv_signal_t *h, int signum)
{
    mm_service_t *svc = h->data;
    if (signum == SIGHUP)
        reload(svc);
    else
        mm_service_request_stop(svc);
}

static void usage(const mm_service_def_t *def, FILE *f)
{
    fprintf(f,
            "usage: memmon-%s [options]\n%s\n\n"
            "  -c, --config-dir DIR   config directory (default $MEMMON_CONFIG_DIR or /etc/memmon)\n"
            "  -t, --check-config     validate the configuration and exit\n"
            "  -l, --log-level LEVEL  error, warning, notice, info, debug\n"
            "  -i, --instance NAME    instance name on the bus\n"
            "  -V, --version          print the version\n"
            "  -h, --help             this text\n",
            def->name, def->summary ? def->summary : "");
}

static int mkdir_p(const char *path)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(buf, 0755);
            *p = '/';
        }
    }
    if (mkdir(buf, 0755) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

int mm_service_main(const mm_service_def_t *def, int argc, char **argv)
{
    static const struct option opts[] = {
        {"config-dir", required_argument, NULL, 'c'},
        {"check-config", no_argument, NULL, 't'},
        {"log-level", required_argument, NULL, 'l'},
        {"instance", required_argument, NULL, 'i'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    /* Hold stop/reload signals until the loop's handlers exist, so a SIGTERM
     * that arrives during start-up still means a graceful stop. */
    sigset_t held, prev;
    sigemptyset(&held);
    sigaddset(&held, SIGTERM);
    sigaddset(&held, SIGINT);
    sigaddset(&held, SIGHUP);
    sigprocmask(SIG_BLOCK, &held, &prev);
    mm_service_t svc_storage = {0}, *svc = &svc_storage;
    svc->def = def;
    const char *env_dir = getenv("MEMMON_CONFIG_DIR");
    svc->config_dir = (char *)(env_dir ? env_dir : "/etc/memmon");
    bool check_only = false;
    int c;
    while ((c = getopt_long(argc, argv, "c:tl:i:Vh", opts, NULL)) != -1) {
        switch (c) {
        case 'c': svc->config_dir = optarg; break;
        case 't': check_only = true; break;
        case 'l': svc->log_level_flag = optarg; break;
        case 'i': svc->instance_flag = optarg; break;
        case 'V': printf("memmon-%s %s\n", def->name, MM_VERSION); return 0;
        case 'h': usage(def, stdout); return 0;
        default: usage(def, stderr); return 2;
        }
    }
    if (optind < argc) {
        usage(def, stderr);
        return 2;
    }

    mm_diag_t d = {0};
    char msg[1200];
    int r = load_all(svc, &svc->cfg, &svc->own, &d);
    if (r < 0) {
        if (d.file[0])
            mm_diag_format(&d, msg, sizeof msg);
        else
            snprintf(msg, sizeof msg, "%s", mm_strerror(r));
        fprintf(stderr, "memmon-%s: config error: %s\n", def->name, msg);
        return 2;
    }
    if (check_only) {
        printf("memmon-%s: configuration in %s is valid\n", def->name, svc->config_dir);
        if (def->config_free)
            def->config_free(svc->own);
        mm_config_fini(&svc->cfg);
        return 0;
    }

    mm_log_level_t lvl = MM_LOG_INFO;
    mm_log_level_parse(svc->cfg.log_level, &lvl);
    mm_log_setup(def->name, lvl, svc->cfg.log_json);
    signal(SIGPIPE, SIG_IGN);
    if ((r = mkdir_p(svc->cfg.data_dir)) < 0)
        mm_log_warn("MM-DATA-DIR", "cannot create %s: %s", svc->cfg.data_dir, mm_strerror(r));

    int exit_code = 1;
    uv_loop_init(&svc->loop);
    svc->started_ms = mm_clock_now_ms(&mm_clock_system);
    svc->state = MM__SERVICE_STATE__STARTING;

    mm_bus_tls_t tls = {
        .cert_file = svc->cfg.bus_tls_cert,
        .key_file = svc->cfg.bus_tls_key,
        .ca_file = svc->cfg.bus_tls_ca,
    };
    mm_bus_opts_t bo = {
        .tls = &tls,
        .pub_url = svc->cfg.bus_in,
        .sub_url = svc->cfg.bus_out,
        .service = def->name,
        .instance = svc->cfg.instance,
    };
    if ((r = mm_bus_new(&svc->loop, &bo, on_bus_message, svc, &svc->bus)) < 0) {
        mm_log_err("MM-BUS-FAIL", "cannot open the bus (%s, %s): %s", bo.pub_url, bo.sub_url,
                   mm_strerror(r));
        goto out;
    }
    if (def->subscriptions) {
        for (const char *const *s = def->subscriptions; *s; s++)
            mm_bus_subscribe(svc->bus, *s);
    }

    uv_signal_init(&svc->loop, &svc->sig_term);
    uv_signal_init(&svc->loop, &svc->sig_int);
    uv_signal_init(&svc->loop, &svc->sig_hup);
    svc->sig_term.data = svc->sig_int.data = svc->sig_hup.data = svc;
    uv_signal_start(&svc->sig_term, on_signal, SIGTERM);
    uv_signal_start(&svc->sig_int, on_signal, SIGINT);
    uv_signal_start(&svc->sig_hup, on_signal, SIGHUP);
    sigprocmask(SIG_SETMASK, &prev, NULL);
    uv_timer_init(&svc->loop, &svc->heartbeat);
    svc->heartbeat.data = svc;

    if (def->start && (r = def->start(svc, svc->own)) < 0) {
        mm_log_err("MM-SERVICE-START-FAIL", "cannot start: %s", mm_strerror(r));
        svc->stopping = true;
        close_handles(svc);
        uv_run(&svc->loop, UV_RUN_DEFAULT);
        goto out;
    }
    svc->state = MM__SERVICE_STATE__READY;
    mm_log_notice("MM-SERVICE-START", "memmon-%s %s started as %s (config %s)", def->name,
                  MM_VERSION, svc->cfg.instance, svc->config_dir);
    send_heartbeat(svc);
    /* The heartbeat just sent usually precedes the bus connection (dialing
     * is asynchronous), so repeat it soon instead of a full interval later. */
    uint64_t first = svc->cfg.heartbeat_ms < 500 ? (uint64_t)svc->cfg.heartbeat_ms : 500;
    uv_timer_start(&svc->heartbeat, on_heartbeat, first, (uint64_t)svc->cfg.heartbeat_ms);

    uv_run(&svc->loop, UV_RUN_DEFAULT);
    exit_code = 0;
    mm_log_notice("MM-SERVICE-EXIT", "stopped");

out:
    uv_loop_close(&svc->loop);
    if (def->config_free)
        def->config_free(svc->own);
    mm_config_fini(&svc->cfg);
    return exit_code;
}
