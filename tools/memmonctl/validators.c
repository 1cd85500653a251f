/* The services whose config files `memmonctl check` validates. Each entry
 * calls the same loader the daemon uses, so the two never disagree. */
#include "memmonctl.h"

const memmonctl_validator_t memmonctl_validators[] = {
    {0},
};
