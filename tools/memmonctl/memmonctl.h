/* memmonctl's pieces: one validator per service, and the status printer. */
#ifndef MEMMONCTL_H
#define MEMMONCTL_H

#include <stdio.h>

#include "mm_config.h"

typedef struct {
    const char *service;
    const char *files;      /* what it validates, for the report */
    /* Loads the service's own files exactly as the daemon does; 0 or negative with d filled. */
    int (*check)(const mm_config_t *cfg, mm_diag_t *d);
} memmonctl_validator_t;

/* NULL-terminated; each service adds its entry in validators.c. */
extern const memmonctl_validator_t memmonctl_validators[];

/* Prints a human summary of /api/status JSON. Returns 0 or -EBADMSG. */
int memmonctl_print_status(const char *json, FILE *out);

/* `memmonctl rules check|test FILE...` (rules.c); argv starts at the verb.
 * Returns the exit status. */
int memmonctl_rules(int argc, char **argv);

#endif
