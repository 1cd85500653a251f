/* Error codes shared by every memmon component: functions return 0 or a
 * negative errno; library codes (NNG, SQLite, libyaml) are mapped at the
 * boundary. mm_strerror() names any of them. */
#ifndef MM_ERR_H
#define MM_ERR_H

#include <errno.h>

/* memmon's own codes live above the errno range. */
enum {
    MM_EPARSE = 4096,   /* input is not in the expected syntax */
    MM_ECONFIG,         /* configuration is invalid */
    MM_ELIMIT,          /* a configured limit was reached */
    MM_ESTATE,          /* the object is not in a state that allows this */
};

/* Returns a static string for a negative (or positive) error code. Never NULL. */
const char *mm_strerror(int err);

#endif
