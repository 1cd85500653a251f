/* Names for memmon's error codes and errno values. */
#include "mm_err.h"

#include <string.h>

const char *mm_strerror(int err)
{
    if (err < 0)
        err = -err;
    switch (err) {
    case 0: return "success";
    case MM_EPARSE: return "parse error";
    case MM_ECONFIG: return "invalid configuration";
    case MM_ELIMIT: return "limit reached";
    case MM_ESTATE: return "invalid state";
    default: return strerror(err);
    }
}
