/* XSS: an HTML tokeniser reads tags and attributes the way a lenient browser
 * does (broken and nested openers, quoted and unquoted values, junk between
 * attributes) and scores what executes script: script-capable tags, event
 * handlers, javascript:/data: URLs, CSS expressions; outside tags it looks
 * for attribute break-outs and JavaScript-context break-outs. */
#include <stdio.h>
#include <string.h>

#include "detect_int.h"

/* Tags that run or load script, or change where the page loads it from. */
static const char *const exec_tags[] = {
    "animate", "applet", "base", "bgsound", "embed", "frame", "frameset", "handler",
    "iframe", "ilayer", "import", "isindex", "layer", "link", "listener", "math",
    "meta", "object", "portal", "script", "set", "style", "svg", "vmlframe", "xml", "xss",
};

/* Attributes whose value is a URL the browser may navigate to or load. */
static const char *const url_attrs[] = {
    "action", "background", "by", "code", "codebase", "data", "dynsrc", "formaction",
    "from", "href", "lowsrc", "poster", "src", "srcdoc", "to", "values", "xlink:href",
};

/* JavaScript functions that only script calls. */
static const char *const js_calls[] = {
    "alert", "atob", "confirm", "eval", "fetch", "fromcharcode", "function", "import",
    "open", "print", "prompt", "setinterval", "settimeout", "write", "writeln",
};
/* JavaScript objects reached by property or index. */
static const char *const js_objects[] = {
    "constructor", "document", "location", "navigator", "self", "top", "window",
};

/* Is s[st..e) a JS sink, given the character after it? */
static bool js_sink(const uint8_t *w, size_t n, uint8_t next)
{
    if (next == '(' || next == '`')
        return mm_detect_in_set(w, n, js_calls, sizeof js_calls / sizeof js_calls[0]);
    if (next == '.' || next == '[')
        return mm_detect_in_set(w, n, js_objects, sizeof js_objects / sizeof js_objects[0]);
    return false;
}

typedef struct {
    int score;
    const char *rule;
    size_t pos;
    char tag[16];
    char attr[16];
} xss_t;

static void xhit(xss_t *x, int score, const char *rule, size_t pos,
                 const uint8_t *tag, size_t tag_len, const uint8_t *attr, size_t attr_len)
{
    if (score <= x->score)
        return;
    x->score = score;
    x->rule = rule;
    x->pos = pos;
    size_t k;
    for (k = 0; k < tag_len && k + 1 < sizeof x->tag; k++)
        x->tag[k] = (char)mm_detect_lower(tag[k]);
    x->tag[k] = 0;
    for (k = 0; k < attr_len && k + 1 < sizeof x->attr; k++)
        x->attr[k] = (char)mm_detect_lower(attr[k]);
    x->attr[k] = 0;
}

/* Does the URL value start with a scheme that runs script? Browsers ignore
 * whitespace and control characters inside the scheme ("jav&#9;ascript:"). */
static bool script_url(const uint8_t *v, size_t n)
{
    char buf[24];
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < sizeof buf && i < 96; i++) {
        uint8_t c = v[i];
        if (c <= ' ' || c == '"' || c == '\'' || c == '`')
            continue;
        buf[k++] = (char)mm_detect_lower(c);
    }
    buf[k] = 0;
    return strncmp(buf, "javascript:", 11) == 0 || strncmp(buf, "vbscript:", 9) == 0 ||
           strncmp(buf, "livescript:", 11) == 0 || strncmp(buf, "data:text/html", 14) == 0 ||
           strncmp(buf, "data:image/svg", 14) == 0 || strncmp(buf, "data:application", 16) == 0 ||
           strncmp(buf, "data:text/xml", 13) == 0 || strncmp(buf, "mocha:", 6) == 0;
}

/* Case-insensitive search of a lowercase needle in s[0..n). */
static const uint8_t *find_ci(const uint8_t *s, size_t n, const char *needle)
{
    size_t m = strlen(needle);
    if (m == 0 || n < m)
        return NULL;
    for (size_t i = 0; i + m <= n; i++) {
        if (mm_detect_lower(s[i]) != needle[0])
            continue;
        if (mm_detect_word_eq(s + i, m, needle))
            return s + i;
    }
    return NULL;
}

static bool css_exec(const uint8_t *v, size_t n)
{
    if (n > 4096)
        n = 4096;
    return find_ci(v, n, "expression(") || find_ci(v, n, "javascript:") ||
           find_ci(v, n, "behavior:") || find_ci(v, n, "-moz-binding") ||
           find_ci(v, n, "@import");
}

static bool is_event_name(const uint8_t *a, size_t n)
{
    if (n < 5 || (a[0] | 32) != 'o' || (a[1] | 32) != 'n')
        return false;
    for (size_t i = 2; i < n; i++)
        if (!mm_detect_isalpha(a[i]))
            return false;
    return true;
}

/* Does a JavaScript call or sink appear in s[0..n) (bounded look-ahead)? */
static bool js_call_near(const uint8_t *s, size_t n)
{
    if (n > 64)
        n = 64;
    for (size_t i = 0; i < n;) {
        if (mm_detect_isalpha(s[i]) || s[i] == '_') {
            size_t st = i;
            while (i < n && (mm_detect_isalnum(s[i]) || s[i] == '_'))
                i++;
            size_t j = i;
            while (j < n && (s[j] == ' ' || s[j] == '\t'))
                j++;
            if (j < n && js_sink(s + st, i - st, s[j]) && (s[j] != '.' || (j + 1 < n && mm_detect_isalpha(s[j + 1]))))
                return true;
            continue;
        }
        i++;
    }
    return false;
}

/* Parses the tag starting at s[i] == '<'. Returns the index where scanning
 * resumes. */
static size_t parse_tag(const uint8_t *s, size_t n, size_t i, xss_t *x)
{
    size_t lt = i;
    size_t k = i + 1;
    bool closing = false;
    if (k < n && s[k] == '/') {
        closing = true;
        k++;
    }
    if (k >= n || !mm_detect_isalpha(s[k]))
        return i + 1;
    size_t ts = k;
    while (k < n && (mm_detect_isalnum(s[k]) || s[k] == ':' || s[k] == '-' || s[k] == '_'))
        k++;
    const uint8_t *tag = s + ts;
    size_t tag_len = k - ts;
    /* Namespaced tags (svg:script) are judged by their local name. */
    const uint8_t *colon = memchr(tag, ':', tag_len);
    if (colon) {
        tag_len -= (size_t)(colon + 1 - tag);
        tag = colon + 1;
    }
    bool exec = mm_detect_in_set(tag, tag_len, exec_tags, sizeof exec_tags / sizeof exec_tags[0]);
    if (closing) {
        if (exec && mm_detect_word_eq(tag, tag_len, "script"))
            xhit(x, 55, "script-close", lt, tag, tag_len, NULL, 0);
        return k;
    }
    if (exec) {
        bool strong = mm_detect_word_eq(tag, tag_len, "script") || mm_detect_word_eq(tag, tag_len, "iframe") ||
                      mm_detect_word_eq(tag, tag_len, "object") || mm_detect_word_eq(tag, tag_len, "embed") ||
                      mm_detect_word_eq(tag, tag_len, "applet") || mm_detect_word_eq(tag, tag_len, "svg") ||
                      mm_detect_word_eq(tag, tag_len, "frameset") || mm_detect_word_eq(tag, tag_len, "vmlframe") ||
                      mm_detect_word_eq(tag, tag_len, "import") || mm_detect_word_eq(tag, tag_len, "isindex");
        /* A tag name must end like one: "<script>" or "<script src", not "<scripts". */
        bool svg = mm_detect_word_eq(tag, tag_len, "svg") || mm_detect_word_eq(tag, tag_len, "math");
        xhit(x, svg ? 40 : strong ? 75 : 45, "exec-tag", lt, tag, tag_len, NULL, 0);
    } else {
        xhit(x, 20, "tag", lt, tag, tag_len, NULL, 0);
    }
    /* Attributes. */
    while (k < n) {
        uint8_t c = s[k];
        if (c == '>')
            return k + 1;
        if (c == '<')
            return k; /* a broken tag: the next opener starts over */
        if (mm_detect_isspace(c) || c == '/' || c == '"' || c == '\'' || c == '`' || c == ',' || c == ';') {
            k++;
            continue;
        }
        size_t as = k;
        while (k < n && !mm_detect_isspace(s[k]) && s[k] != '=' && s[k] != '>' && s[k] != '/' &&
               s[k] != '<' && s[k] != '"' && s[k] != '\'')
            k++;
        const uint8_t *an = s + as;
        size_t an_len = k - as;
        if (an_len == 0) {
            k++;
            continue;
        }
        size_t j = k;
        while (j < n && mm_detect_isspace(s[j]))
            j++;
        const uint8_t *val = NULL;
        size_t val_len = 0;
        if (j < n && s[j] == '=') {
            j++;
            while (j < n && mm_detect_isspace(s[j]))
                j++;
            if (j < n && (s[j] == '"' || s[j] == '\'' || s[j] == '`')) {
                uint8_t q = s[j];
                const uint8_t *e = memchr(s + j + 1, q, n - j - 1);
                val = s + j + 1;
                val_len = e ? (size_t)(e - val) : n - j - 1;
                k = e ? (size_t)(e - s) + 1 : n;
            } else {
                size_t vs = j;
                while (j < n && !mm_detect_isspace(s[j]) && s[j] != '>')
                    j++;
                val = s + vs;
                val_len = j - vs;
                k = j;
            }
        }
        if (is_event_name(an, an_len))
            xhit(x, 85, "event-handler", lt, tag, tag_len, an, an_len);
        else if (val && mm_detect_in_set(an, an_len, url_attrs, sizeof url_attrs / sizeof url_attrs[0]) &&
                 script_url(val, val_len))
            xhit(x, 85, "script-url", lt, tag, tag_len, an, an_len);
        else if (val && mm_detect_word_eq(an, an_len, "style") && css_exec(val, val_len))
            xhit(x, 80, "css-exec", lt, tag, tag_len, an, an_len);
        else if (val && mm_detect_word_eq(an, an_len, "http-equiv") && mm_detect_word_eq(val, val_len < 7 ? val_len : 7, "refresh"))
            xhit(x, 70, "meta-refresh", lt, tag, tag_len, an, an_len);
    }
    return k;
}

/* Shapes the tag parser can miss because they hide inside quoted values or
 * broken markup: an event handler or script URL anywhere after a tag opener,
 * and a script sink called at the top level of the value. */
static void loose(const uint8_t *s, size_t n, xss_t *x)
{
    bool opener = false;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = s[i];
        if (c == '<' && i + 1 < n && (mm_detect_isalpha(s[i + 1]) || s[i + 1] == '/' || s[i + 1] == '!')) {
            opener = true;
            continue;
        }
        if (!mm_detect_isalpha(c) || (i > 0 && (mm_detect_isalnum(s[i - 1]) || s[i - 1] == '_' || s[i - 1] == '.')))
            continue;
        size_t e = i;
        while (e < n && (mm_detect_isalnum(s[e]) || s[e] == '_') && e - i < 32)
            e++;
        if (opener && i > 0 && (mm_detect_isspace(s[i - 1]) || s[i - 1] == '"' || s[i - 1] == '\'' ||
                                s[i - 1] == '/' || s[i - 1] == '`') && is_event_name(s + i, e - i)) {
            size_t j = e;
            while (j < n && mm_detect_isspace(s[j]))
                j++;
            if (j < n && s[j] == '=')
                xhit(x, 75, "event-handler", i, NULL, 0, s + i, e - i);
        }
        if (e < n && js_sink(s + i, e - i, s[e]) && (s[e] != '.' || (e + 1 < n && mm_detect_isalpha(s[e + 1])))) {
            /* A call of a script-only sink: alert(1), top['al'+'ert'](1) */
            bool strong = s[e] == '(' || s[e] == '`';
            xhit(x, strong ? 60 : 55, "js-sink", i, NULL, 0, s + i, e - i);
        }
        i = e - 1;
    }
}

int mm_detect_xss(const uint8_t *s, size_t n, mm_detect_hit_t *hit)
{
    xss_t x;
    memset(&x, 0, sizeof x);
    memset(hit, 0, sizeof *hit);
    size_t i = 0;
    while (i < n) {
        const uint8_t *lt = memchr(s + i, '<', n - i);
        size_t stop = lt ? (size_t)(lt - s) : n;
        /* Text between tags: look for break-outs and script URLs. */
        for (size_t k = i; k < stop; k++) {
            uint8_t c = s[k];
            if (c == '"' || c == '\'' || c == '`') {
                /* Attribute break-out: "onmouseover=... or ' autofocus onfocus=... */
                size_t j = k + 1;
                while (j < stop && (mm_detect_isspace(s[j]) || s[j] == '/'))
                    j++;
                size_t as = j;
                while (j < stop && mm_detect_isalpha(s[j]) && j - as < 40)
                    j++;
                /* allow other attributes before the handler */
                size_t guard = 0;
                while (j < stop && guard++ < 4 && !is_event_name(s + as, j - as) &&
                       (mm_detect_isspace(s[j]) || s[j] == '/')) {
                    while (j < stop && (mm_detect_isspace(s[j]) || s[j] == '/'))
                        j++;
                    as = j;
                    while (j < stop && mm_detect_isalpha(s[j]) && j - as < 40)
                        j++;
                }
                size_t e = j;
                while (e < stop && mm_detect_isspace(s[e]))
                    e++;
                if (is_event_name(s + as, j - as) && e < stop && s[e] == '=')
                    xhit(&x, 80, "attr-breakout", k, NULL, 0, s + as, j - as);
                /* JavaScript string break-out: '; alert(1)// or "-prompt(1)-" */
                e = k + 1;
                while (e < stop && mm_detect_isspace(s[e]))
                    e++;
                if (e < stop && (s[e] == ';' || s[e] == '-' || s[e] == '+' || s[e] == '*' ||
                                 s[e] == '|' || s[e] == '&' || s[e] == ')' || s[e] == '}' || s[e] == ',' || s[e] == '^')) {
                    size_t f = e + 1;
                    while (f < stop && (s[f] == s[e] || mm_detect_isspace(s[f]) || s[f] == ')' || s[f] == '}' || s[f] == ';'))
                        f++;
                    if (js_call_near(s + f, stop - f))
                        xhit(&x, 70, "js-breakout", k, NULL, 0, NULL, 0);
                }
            } else if ((c | 32) == 'j' || (c | 32) == 'v') {
                /* javascript: / vbscript: followed by a call. */
                size_t m = (c | 32) == 'j' ? 10 : 8;
                if (k + m < stop && mm_detect_word_eq(s + k, m, (c | 32) == 'j' ? "javascript" : "vbscript")) {
                    size_t j = k + m;
                    while (j < stop && mm_detect_isspace(s[j]))
                        j++;
                    if (j < stop && s[j] == ':' && js_call_near(s + j + 1, stop - j - 1))
                        xhit(&x, 75, "script-url", k, NULL, 0, NULL, 0);
                }
            } else if (c == '{' && k + 1 < stop && s[k + 1] == '{') {
                /* Client-side template injection: {{constructor.constructor('...')()}} */
                if (js_call_near(s + k + 2, stop - k - 2))
                    xhit(&x, 70, "template-expression", k, NULL, 0, NULL, 0);
            }
        }
        if (!lt)
            break;
        i = parse_tag(s, n, stop, &x);
        if (x.score >= 85)
            break;
    }
    if (x.score < 75)
        loose(s, n, &x);
    hit->score = x.score;
    hit->rule = x.rule;
    hit->pos = x.pos;
    if (x.score)
        snprintf(hit->tokens, sizeof hit->tokens, "tag=%.12s attr=%.12s", x.tag[0] ? x.tag : "-",
                 x.attr[0] ? x.attr : "-");
    return x.score;
}
