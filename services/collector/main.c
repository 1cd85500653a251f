/* memmon-collector: system metrics, StatsD/DogStatsD, scrapes and history,
 * published on the bus. Wiring only; see collector_io.c. */
#include "collector_io.h"
#include "mm_service.h"

int main(int argc, char **argv)
{
    static const char *const subs[] = {"cmd.collector", "metric.ingest", NULL};
    const mm_service_def_t def = {
        .name = "collector",
        .summary = "Collects host metrics, StatsD and scrapes; keeps history; publishes metric batches.",
        .config_load = collector_io_config_load,
        .config_free = collector_io_config_free,
        .start = collector_io_start,
        .reload = collector_io_reload,
        .stop = collector_io_stop,
        .on_message = collector_io_on_message,
        .subscriptions = subs,
        .data = collector_io_instance(),
    };
    return mm_service_main(&def, argc, argv);
}
