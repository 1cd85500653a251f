/* Path traversal: a path normaliser reads the decoded value as a path (both
 * slash kinds, "0x2e"-style spelled bytes, dot runs like "...." and "..;"),
 * keeps the depth below the start, and scores segments that climb above it,
 * and absolute or climbing references to well-known system files. */
#include <stdio.h>
#include <string.h>

#include "detect_int.h"

/* Reads one normalised path character at s[*i], advancing *i. Backslashes
 * and spelled "0x2f"/"0x5c" are '/', "0x2e" is '.'. */
static int path_char(const uint8_t *s, size_t n, size_t *i)
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

static bool seg_eq(const char *seg, size_t n, const char *w)
{
    return strlen(w) == n && memcmp(seg, w, n) == 0;
}

/* Is this segment (lowercased) a well-known sensitive file after prev? */
static bool target(const char *prev, size_t pn, const char *seg, size_t sn)
{
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
    if (seg_eq(prev, pn, "inetpub") || seg_eq(prev, pn, "wwwroot"))
        return true;
    if (seg_eq(prev, pn, "root") || seg_eq(prev, pn, ".ssh"))
        return seg_eq(seg, sn, ".ssh") || seg_eq(seg, sn, "id_rsa") || seg_eq(seg, sn, "authorized_keys") ||
               seg_eq(seg, sn, ".bash_history");
    return seg_eq(seg, sn, "boot.ini") || seg_eq(seg, sn, "win.ini") || seg_eq(seg, sn, "system.ini") ||
           seg_eq(seg, sn, ".htaccess") || seg_eq(seg, sn, ".htpasswd") || seg_eq(seg, sn, "web.config") ||
           seg_eq(seg, sn, "wp-config.php") || seg_eq(seg, sn, "id_rsa") || seg_eq(seg, sn, ".bash_history") ||
           seg_eq(seg, sn, "php.ini") || seg_eq(seg, sn, "httpd.conf") || seg_eq(seg, sn, "my.cnf") ||
           seg_eq(seg, sn, ".env") || seg_eq(seg, sn, "config.ini") || seg_eq(seg, sn, "global.asa");
}

/* Counts dot-dot tokens that repeat at short distances ("..X..X..X"), whatever
 * separates them: undecodable or exotic separators (%c0%qf, %uF025, 2f) still
 * leave this rhythm. Returns the longest such chain. */
static size_t dotdot_runs(const uint8_t *s, size_t n)
{
    size_t best = 0, chain = 0, last_end = 0;
    bool have = false;
    for (size_t i = 0; i + 1 < n; i++) {
        if (s[i] != '.' || s[i + 1] != '.')
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

int mm_detect_traversal(const uint8_t *s, size_t n, mm_detect_hit_t *hit)
{
    char seg[32], prev[32];
    size_t sl = 0, pl = 0;
    bool seg_long = false, seg_dots = true;
    size_t depth = 0, climbs = 0, dotdots = 0, first_dd = SIZE_MAX, segs = 0;
    bool tgt = false, absolute = false, started = false;
    size_t tgt_pos = 0;
    size_t seg_start = 0;
    memset(hit, 0, sizeof *hit);
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
        size_t at = i;
        int c = i < n ? path_char(s, n, &i) : '/';
        if (i == n && at == n)
            i++;
        bool sep = c == '/';
        /* Characters that end a path inside a larger value start a new one. */
        bool restart = c == '=' || c == '?' || c == '&' || c == '"' || c == '\'' || c == ' ' ||
                       c == '(' || c == '|' || c == ';' || c == '<' || c == '>' || c == '`' || c == ',';
        if (c == ';' && seg_dots && sl >= 2)
            continue; /* "..;/" is a Tomcat dot-dot */
        if (!sep && !restart) {
            if (!started) {
                started = true;
                seg_start = at;
            }
            if (sl < sizeof seg - 1)
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
                if (depth > 0)
                    depth--;
                else
                    climbs++;
            } else if (!(seg_dots && sl == 1)) {
                if (!seg_long && target(prev, pl, seg, sl) && (sep || restart || at >= n)) {
                    if (!tgt)
                        tgt_pos = seg_start;
                    tgt = true;
                }
                depth++;
                segs++;
            }
            if (!seg_long) {
                memcpy(prev, seg, sl);
                pl = sl;
            } else {
                pl = 0;
            }
        }
        sl = 0;
        seg_long = false;
        seg_dots = true;
        started = false;
        if (restart) {
            /* A new path may start here: reset the depth, keep the counts. */
            depth = 0;
            pl = 0;
        }
    }
    int score = 0;
    const char *rule = NULL;
    size_t pos = first_dd != SIZE_MAX ? first_dd : 0;
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
