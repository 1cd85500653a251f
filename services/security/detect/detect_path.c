/* Path traversal: a path normaliser reads the decoded value as a path (both
 * slash kinds, "0x2e"-style spelled bytes, dot runs like "...." and "..;"),
 * keeps the depth below the start, and scores segments that climb above it,
 * and absolute or climbing references to well-known system files. */
#include <stdio.h>
#include <string.h>

#include "detect_int.h"

/* Reads one normalised path character at s[*i], advancing *i. Backslashes
 * and spelled "0x2f"/"0x5c" are '/', "0x2e" is '.'. */
static inline int path_char(const uint8_t *s, size_t n, size_t *i)
{
    uint8_t c = s[*i];
    if (c == '0' && *i + 3 < n && (s[*i + 1] | 32) == 'x' && s[*i + 2] == '2') {
        uint8_t d = (uint8_t)(s[*i + 3] | 32);
        if (d == 'e' || d == 'f') {
            *i += 4;
            return d == 'e' ? '.' : '/';
        }
    }
    if (c == '0' && *i + 3 < n && (s[*i + 1] | 32) == 'x' && s[*i + 2] == '5' && (s[*i + 3] | 32) == 'c') {
        *i += 4;
        return '/';
    }
    (*i)++;
    return c == '\\' ? '/' : c;
}

/* Compares a segment with a string literal, length first. */
#define seg_eq(seg, n, lit) ((n) == sizeof(lit) - 1 && memcmp((seg), (lit), (n)) == 0)

/* Sensitive files wherever they are. */
static const char *const target_files[] = {
    "boot.ini", "win.ini", "system.ini", ".htaccess", ".htpasswd", "web.config", "wp-config.php", "id_rsa",
    ".bash_history", "php.ini", "httpd.conf", "my.cnf", ".env", "config.ini", "global.asa",
};
/* Bit l of the entry for a byte: a name of target_files of length l starts
 * with it. Rejects nearly every segment before the comparisons. */
static const uint16_t target_lens[256] = {
    ['b'] = 1u << 8, ['w'] = 1u << 7 | 1u << 10 | 1u << 13, ['s'] = 1u << 10,
    ['.'] = 1u << 4 | 1u << 9 | 1u << 13, ['i'] = 1u << 6, ['p'] = 1u << 7, ['h'] = 1u << 10,
    ['m'] = 1u << 6, ['c'] = 1u << 10, ['g'] = 1u << 10,
};

/* Is this segment (lowercased) a well-known sensitive file after prev? */
static bool target(const char *prev, size_t pn, const char *seg, size_t sn)
{
    if (sn < 3)
        return false;
    if (seg_eq(prev, pn, "etc"))
        return seg_eq(seg, sn, "passwd") || seg_eq(seg, sn, "shadow") || seg_eq(seg, sn, "hosts") ||
               seg_eq(seg, sn, "group") || seg_eq(seg, sn, "issue") || seg_eq(seg, sn, "motd") ||
               seg_eq(seg, sn, "crontab") || seg_eq(seg, sn, "sudoers") || seg_eq(seg, sn, "fstab") ||
               seg_eq(seg, sn, "hostname") || seg_eq(seg, sn, "master.passwd") || seg_eq(seg, sn, "httpd") ||
               seg_eq(seg, sn, "apache2") || seg_eq(seg, sn, "nginx") || seg_eq(seg, sn, "mysql") ||
               seg_eq(seg, sn, "ssh") || seg_eq(seg, sn, "security") || seg_eq(seg, sn, "profile");
    if (seg_eq(prev, pn, "proc"))
        return seg_eq(seg, sn, "self") || seg_eq(seg, sn, "version") || seg_eq(seg, sn, "cpuinfo");
    if (seg_eq(prev, pn, "windows") || seg_eq(prev, pn, "winnt"))
        return seg_eq(seg, sn, "system32") || seg_eq(seg, sn, "win.ini") || seg_eq(seg, sn, "repair") ||
               seg_eq(seg, sn, "system.ini") || seg_eq(seg, sn, "panther");
    if (seg_eq(prev, pn, "var") )
        return seg_eq(seg, sn, "log") || seg_eq(seg, sn, "www") || seg_eq(seg, sn, "mail");
    if (seg_eq(prev, pn, "inetpub") || seg_eq(prev, pn, "wwwroot") || seg_eq(prev, pn, "web-inf"))
        return true;
    if (seg_eq(prev, pn, "root") || seg_eq(prev, pn, ".ssh"))
        return seg_eq(seg, sn, ".ssh") || seg_eq(seg, sn, "id_rsa") || seg_eq(seg, sn, "authorized_keys") ||
               seg_eq(seg, sn, ".bash_history");
    if (sn >= 16 || !(target_lens[(uint8_t)seg[0]] >> sn & 1u))
        return false;
    for (size_t i = 0; i < sizeof target_files / sizeof target_files[0]; i++)
        if (sn == strlen(target_files[i]) && memcmp(seg, target_files[i], sn) == 0)
            return true;
    return false;
}

/* Counts dot-dot tokens that repeat at short distances ("..X..X..X"), whatever
 * separates them: undecodable or exotic separators (%c0%qf, %uF025, 2f) still
 * leave this rhythm. Returns the longest such chain. */
static size_t dotdot_runs(const uint8_t *s, size_t n)
{
    size_t best = 0, chain = 0, last_end = 0;
    bool have = false;
    for (size_t i = 0; i + 1 < n; i++) {
        /* Jump to the next dot: most of a long value has none (and a
         * value full of dots need not call memchr at each). */
        if (s[i] != '.') {
            const uint8_t *dot = memchr(s + i, '.', n - 1 - i);
            if (!dot)
                break;
            i = (size_t)(dot - s);
        }
        if (s[i + 1] != '.')
            continue;
        size_t e = i;
        while (e < n && s[e] == '.')
            e++;
        if (e - i > 4) {
            i = e;
            continue;
        }
        /* Linked when the gap is short and not prose (no spaces). */
        if (have && i - last_end <= 12 && !memchr(s + last_end, ' ', i - last_end))
            chain++;
        else
            chain = 1;
        have = true;
        last_end = e;
        if (chain > best)
            best = chain;
        i = e - 1;
    }
    return best;
}

/* Is there a dot-dot in the 12 bytes before i, with no space after it?
 * (..%c1%pcboot.ini: junk that decoded to a letter still separates.) */
static bool dotdot_before(const uint8_t *s, size_t i)
{
    for (size_t b = 1; b <= 12 && b < i; b++) {
        if (mm_detect_isspace(s[i - b]))
            return false;
        if (s[i - b] == '.' && s[i - b - 1] == '.')
            return true;
    }
    return false;
}

/* A file name that holds secrets or reveals the system: configuration,
 * credentials, logs, backups, keys (config.inc.php, .passwd, error.log). */
static bool sensitive_file(const char *seg, size_t sn)
{
    static const char *const stems[] = {"config", "passwd", "secret", "credential", "install", "shadow"};
    static const char *const exts[] = {"bak", "cnf", "conf", "db", "env", "inc", "ini", "key", "log", "pem", "sql"};
    const char *dot = memchr(seg, '.', sn);
    if (!dot)
        return false;
    for (size_t k = 0; k < sizeof stems / sizeof stems[0]; k++) {
        size_t l = strlen(stems[k]);
        for (size_t j = 0; j + l <= sn; j++)
            if (memcmp(seg + j, stems[k], l) == 0)
                return true;
    }
    const char *ext = seg + sn;
    while (ext > seg && ext[-1] != '.')
        ext--;
    size_t el = (size_t)(seg + sn - ext);
    for (size_t k = 0; k < sizeof exts / sizeof exts[0]; k++)
        if (el == strlen(exts[k]) && memcmp(ext, exts[k], el) == 0)
            return true;
    return false;
}

/* A target with something glued after it, as a NUL byte that truncates the
 * name leaves it once removed: passwd<NUL>index.html -> passwdindex.html. */
static bool target_truncated(const char *prev, size_t pn, const char *seg, size_t sn)
{
    for (size_t k = 3; k + 2 < sn; k++)
        if (memchr(seg + k, '.', sn - k) && target(prev, pn, seg, k))
            return true;
    return false;
}

typedef struct {
    const char *first, *second;
    uint8_t fl, sl;
} loose_pair_t;
/* Sorted by the second part's first letter (see loose_from). */
static const loose_pair_t loose_pairs[] = {
    {NULL, "boot.ini", 0, 8}, {"etc", "group", 3, 5}, {"etc", "hosts", 3, 5}, {"etc", "issue", 3, 5},
    {"etc", "passwd", 3, 6}, {"etc", "shadow", 3, 6}, {"windows", "system32", 7, 8},
    {"winnt", "system32", 5, 8}, {NULL, "system.ini", 0, 10}, {"windows", "win.ini", 7, 7},
    {NULL, "win.ini", 0, 7},
};
/* 1 + the index of the first pair whose second part starts with this
 * byte (either case), 0 for none: a byte is tested against its own
 * pairs only. */
static const uint8_t loose_from[256] = {
    ['b'] = 1, ['g'] = 2, ['h'] = 3, ['i'] = 4, ['p'] = 5, ['s'] = 6, ['w'] = 10,
    ['B'] = 1, ['G'] = 2, ['H'] = 3, ['I'] = 4, ['P'] = 5, ['S'] = 6, ['W'] = 10,
};
/* The first two letters of a second part, as one bit per pair of
 * letters (bo gr ho is pa sh sy wi): a position is looked at only when
 * both bytes have a common bit, which prose and random bytes rarely
 * give, and the test needs no branch per letter. */
static const uint8_t loose_lead1[256] = {
    ['b'] = 1, ['g'] = 2, ['h'] = 4, ['i'] = 8, ['p'] = 16, ['s'] = 32 | 64, ['w'] = 128,
    ['B'] = 1, ['G'] = 2, ['H'] = 4, ['I'] = 8, ['P'] = 16, ['S'] = 32 | 64, ['W'] = 128,
};
static const uint8_t loose_lead2[256] = {
    ['o'] = 1 | 4, ['r'] = 2, ['s'] = 8, ['a'] = 16, ['h'] = 32, ['y'] = 64, ['i'] = 128,
    ['O'] = 1 | 4, ['R'] = 2, ['S'] = 8, ['A'] = 16, ['H'] = 32, ['Y'] = 64, ['I'] = 128,
};

/* Finds a well-known target whose parts are joined by junk instead of a
 * slash (etc%c1%pcpasswd, windows0x5csystem32, ?.%bg%qfboot.ini): the second
 * part with its first part at most 10 bytes before it and no space between.
 * Returns the position after the match or 0. */
static size_t loose_target(const uint8_t *s, size_t n)
{
    const size_t npairs = sizeof loose_pairs / sizeof loose_pairs[0];
    for (size_t i = 1; i + 1 < n; i++) {
        int c = s[i] | 32;
        /* Junk separators often end in letters (%qf, %pc): the second part
         * may follow a letter. */
        if (!(loose_lead1[s[i]] & loose_lead2[s[i + 1]]))
            continue;
        for (size_t k = loose_from[s[i]] - 1u; k < npairs && loose_pairs[k].second[0] == c; k++) {
            const loose_pair_t *pr = &loose_pairs[k];
            size_t wl = pr->sl;
            /* The second letter first: it rejects nearly every word. */
            if ((s[i + 1] | 32) != pr->second[1] || i + wl > n || !mm_detect_word_eq(s + i, wl, pr->second))
                continue;
            if (i + wl < n && mm_detect_isalpha(s[i + wl]))
                continue;
            if (!pr->first) {
                if ((!mm_detect_isspace(s[i - 1]) && !mm_detect_isalnum(s[i - 1])) || dotdot_before(s, i))
                    return i + wl;
                continue;
            }
            size_t fl = pr->fl;
            for (size_t b = fl + 1; b <= 10 + fl && b <= i; b++) {
                if (mm_detect_isspace(s[i - b + fl]))
                    break;
                if (mm_detect_word_eq(s + i - b, fl, pr->first))
                    return i + wl;
            }
        }
    }
    return 0;
}

bool mm_detect_path_tables_ok(void)
{
    /* target()'s gate lets every file name through ... */
    for (size_t i = 0; i < sizeof target_files / sizeof target_files[0]; i++) {
        size_t l = strlen(target_files[i]);
        if (l >= 16 || !(target_lens[(uint8_t)target_files[i][0]] >> l & 1u))
            return false;
    }
    /* ... and loose_target() finds every pair: sorted by the second part's
     * first letter, indexed from its first pair in either case, and both
     * first letters sharing a bit. */
    const size_t npairs = sizeof loose_pairs / sizeof loose_pairs[0];
    for (size_t k = 0; k < npairs; k++) {
        const loose_pair_t *pr = &loose_pairs[k];
        uint8_t c = (uint8_t)pr->second[0], up = (uint8_t)(c - 32);
        if (strlen(pr->second) != pr->sl || (pr->first ? strlen(pr->first) : 0) != pr->fl)
            return false;
        if (k > 0 && (uint8_t)loose_pairs[k - 1].second[0] > c)
            return false;
        size_t from = loose_from[c];
        if (from == 0 || loose_from[up] != from || from - 1 > k ||
            (uint8_t)loose_pairs[from - 1].second[0] != c ||
            (from > 1 && (uint8_t)loose_pairs[from - 2].second[0] == c))
            return false;
        uint8_t c2 = (uint8_t)pr->second[1];
        if (!(loose_lead1[c] & loose_lead2[c2]) || !(loose_lead1[up] & loose_lead2[c2 - 32]))
            return false;
    }
    return true;
}

/* Stream wrappers that read local files or run code when included:
 * php://filter, phar://, expect://, zip://, file://, data:// anywhere in the
 * value (the scheme may end it: expect://id). */
static bool wrapper_at(const uint8_t *s, size_t n, size_t *pos)
{
    static const char *const w[] = {"php://", "phar://", "expect://", "zip://", "file://", "glob://", "data://"};
    for (size_t i = 0; i + 3 <= n; i++) {
        /* Jump to the next colon: the scheme ends there. */
        const uint8_t *colon = memchr(s + i, ':', n - 2 - i);
        if (!colon)
            break;
        i = (size_t)(colon - s);
        if (s[i + 1] != '/' || s[i + 2] != '/')
            continue;
        for (size_t k = 0; k < sizeof w / sizeof w[0]; k++) {
            size_t l = strlen(w[k]) - 3;
            bool same = i >= l;
            for (size_t j = 0; same && j < l; j++)
                same = mm_detect_lower(s[i - l + j]) == w[k][j];
            if (same && (i == l || !mm_detect_isalpha(s[i - l - 1]))) {
                *pos = i - l;
                return true;
            }
        }
    }
    return false;
}

/* 1: a byte that makes a value path-like (so do all non-ASCII bytes); 2: a
 * control byte (two make it so); 3: '0', which may start a spelled 0x2f. */
static const uint8_t pathish_tab[128] = {
    [0x01] = 2, [0x02] = 2, [0x03] = 2, [0x04] = 2, [0x05] = 2, [0x06] = 2, [0x07] = 2, [0x08] = 2,
    [0x0e] = 2, [0x0f] = 2, [0x10] = 2, [0x11] = 2, [0x12] = 2, [0x13] = 2, [0x14] = 2, [0x15] = 2,
    [0x16] = 2, [0x17] = 2, [0x18] = 2, [0x19] = 2, [0x1a] = 2, [0x1b] = 2, [0x1c] = 2, [0x1d] = 2,
    [0x1e] = 2, [0x1f] = 2, ['.'] = 1, ['/'] = 1, ['\\'] = 1, ['%'] = 1, ['?'] = 1, ['0'] = 3,
};

/* Bytes the path normaliser must look at one by one: separators, the
 * characters that restart a path, dots, ';' (Tomcat's "..;"), and the
 * first bytes of spelled separators ("0x2f", "..2f"). Any other byte is
 * copied into the current segment as it is. */
static const bool path_special[256] = {
    ['/'] = true, ['\\'] = true, ['.'] = true, [';'] = true, ['0'] = true, ['2'] = true,
    ['='] = true, ['?'] = true, ['&'] = true, ['"'] = true, ['\''] = true, [' '] = true,
    ['('] = true, ['|'] = true, ['<'] = true, ['>'] = true, ['`'] = true, [','] = true,
};

int mm_detect_traversal(const uint8_t *s, size_t n, mm_detect_hit_t *hit)
{
    /* Two buffers: a segment that ends becomes prev by swapping them. */
    char seg_buf[32], prev_buf[32];
    char *seg = seg_buf, *prev = prev_buf;
    size_t sl = 0, pl = 0;
    bool seg_long = false, seg_dots = true;
    size_t depth = 0, climbs = 0, dotdots = 0, first_dd = SIZE_MAX;
    bool tgt = false, absolute = false, started = false;
    size_t tgt_pos = 0;
    size_t seg_start = 0;
    size_t path_climbs = 0;   /* climbs since the current path started */
    bool sens = false;        /* a sensitive file reached after a climb */
    bool hex_sep = false;     /* "2f" stood for a slash after a dot-dot: ..2fetc2fpasswd */
    bool after_sep = false;   /* the current segment follows a slash */
    bool tgt_path = false;    /* a target was reached inside a path, not named alone */
    memset(hit, 0, sizeof *hit);
    /* Every shape below needs a dot, a slash, a backslash, a percent sign,
     * a question mark, a spelled 0x.., a control or non-ASCII byte (junk
     * separators); plain words cannot be a path. */
    bool pathish = false;
    size_t ctl = 0;
    for (size_t k = 0; k < n && !pathish; k++) {
        uint8_t c = s[k];
        if (c >= 0x80) {
            pathish = true;
            break;
        }
        if (!pathish_tab[c])
            continue;
        ctl += pathish_tab[c] == 2;
        pathish = pathish_tab[c] == 1 || ctl >= 2 ||
                  (c == '0' && k + 2 < n && (s[k + 1] | 32) == 'x' && (s[k + 2] == '2' || s[k + 2] == '5'));
    }
    if (!pathish)
        return 0;
    size_t dd_runs = dotdot_runs(s, n);

    size_t i = 0;
    /* Absolute starts: "/", "\", "c:\", "file:" */
    if (n >= 1 && (s[0] == '/' || s[0] == '\\'))
        absolute = true;
    if (n >= 3 && mm_detect_isalpha(s[0]) && s[1] == ':' && (s[2] == '/' || s[2] == '\\'))
        absolute = true;
    if (n >= 5 && mm_detect_word_eq(s, 5, "file:"))
        absolute = true;

    while (i <= n) {
        if (i < n && !path_special[s[i]]) {
            /* A run of ordinary bytes only extends the current segment:
             * take it whole instead of byte by byte. */
            size_t e = i + 1;
            while (e < n && !path_special[s[e]])
                e++;
            if (!started) {
                started = true;
                seg_start = i;
            }
            size_t take = e - i;
            if (take > sizeof seg_buf - 1 - sl) {
                take = sizeof seg_buf - 1 - sl;
                seg_long = true;
            }
            for (size_t k = 0; k < take; k++)
                seg[sl + k] = (char)mm_detect_lower(s[i + k]);
            sl += take;
            seg_dots = false;
            i = e;
            continue;
        }
        size_t at = i;
        int c = i < n ? path_char(s, n, &i) : '/';
        if (c == '2' && i < n && (s[i] | 32) == 'f' && sl > 0 && ((seg_dots && sl >= 2) || hex_sep)) {
            hex_sep = true;
            i++;
            c = '/';
        }
        if (i == n && at == n)
            i++;
        bool sep = c == '/';
        /* Characters that end a path inside a larger value start a new one. */
        static const bool restart_tab[256] = {
            ['='] = true, ['?'] = true, ['&'] = true, ['"'] = true, ['\''] = true, [' '] = true,
            ['('] = true, ['|'] = true, [';'] = true, ['<'] = true, ['>'] = true, ['`'] = true, [','] = true,
        };
        bool restart = restart_tab[c & 0xFF];
        if (c == ';' && seg_dots && sl >= 2)
            continue; /* "..;/" is a Tomcat dot-dot */
        if (!sep && !restart) {
            if (!started) {
                started = true;
                seg_start = at;
            }
            if (sl < sizeof seg_buf - 1)
                seg[sl++] = (char)mm_detect_lower(c);
            else
                seg_long = true;
            if (c != '.')
                seg_dots = false;
            continue;
        }
        /* End of a segment. */
        if (sl > 0) {
            if (seg_dots && sl >= 2) {
                dotdots++;
                if (first_dd == SIZE_MAX)
                    first_dd = seg_start;
                if (depth > 0) {
                    depth--;
                } else {
                    climbs++;
                    path_climbs += sl == 2; /* "..." before a path is an ellipsis */
                }
            } else if (!(seg_dots && sl == 1)) {
                if (!seg_long && (sep || restart || at >= n) &&
                    (target(prev, pl, seg, sl) || (dotdots && target_truncated(prev, pl, seg, sl)))) {
                    if (!tgt)
                        tgt_pos = seg_start;
                    tgt = true;
                    tgt_path |= after_sep || pl > 0 || path_climbs > 0;
                }
                if (!seg_long && path_climbs && (!sep || at >= n) && sensitive_file(seg, sl))
                    sens = true;
                depth++;
            }
            if (!seg_long) {
                char *t = prev;
                prev = seg;
                seg = t;
                pl = sl;
            } else {
                pl = 0;
            }
        }
        sl = 0;
        seg_long = false;
        seg_dots = true;
        started = false;
        after_sep = sep && at < n;
        if (restart) {
            /* A new path may start here: reset the depth, keep the counts. */
            depth = 0;
            pl = 0;
            path_climbs = 0;
        }
    }
    int score = 0;
    const char *rule = NULL;
    size_t pos = first_dd != SIZE_MAX ? first_dd : 0;
    /* A target named in prose ("edit php.ini and restart", "see ../ for
     * config.ini") is no path: it must follow a slash or a climb, or be the
     * whole value. */
    tgt = tgt && (tgt_path || absolute || !memchr(s, ' ', n));
    if (climbs >= 3 || (climbs >= 1 && tgt)) {
        score = 80;
        rule = "climb-above-root";
    } else if (climbs == 2 || dotdots >= 3) {
        score = 70;
        rule = "climb-above-root";
    } else if (dotdots >= 2) {
        score = 60;
        rule = "dot-dot-segments";
    } else if (tgt) {
        score = absolute || dotdots ? 65 : 60;
        rule = "system-path";
        pos = tgt_pos;
    } else if (dd_runs >= 3) {
        score = 65;
        rule = "dot-dot-run";
    } else if (absolute && climbs >= 1) {
        score = 60;
        rule = "climb-above-root";
    } else if (wrapper_at(s, n, &pos)) {
        score = 65;
        rule = "stream-wrapper";
    } else if (loose_target(s, n)) {
        score = 60;
        rule = "system-path-obfuscated";
    } else if (climbs == 1 && sens) {
        score = 55;
        rule = "climb-to-sensitive-file";
    } else if (climbs == 1) {
        score = 35;
        rule = "dot-dot";
    }
    if (score) {
        hit->score = score;
        hit->rule = rule;
        hit->pos = pos;
        snprintf(hit->tokens, sizeof hit->tokens, "climbs=%zu dotdots=%zu target=%s", climbs, dotdots,
                 tgt ? "yes" : "no");
    }
    return score;
}
