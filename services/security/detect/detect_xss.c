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

/* HTML elements: markup with attributes built from these is HTML injection. */
static const char *const html_tags[] = {
    "abbr", "area", "audio", "body", "button", "canvas", "circle", "details", "dialog", "div",
    "doc", "foreignobject", "form", "h1", "h2", "h3", "head", "html", "image", "img", "input",
    "keygen", "label", "li", "marquee", "mask", "math", "menu", "mtext", "nav", "ol", "option",
    "p", "path", "picture", "rect", "section", "select", "source", "span", "svg", "table", "td",
    "template", "textarea", "title", "tr", "track", "ul", "use", "video",
};

/* Attributes whose value is a URL the browser may navigate to or load. */
static const char *const url_attrs[] = {
    "action", "background", "by", "code", "codebase", "data", "dynsrc", "formaction",
    "from", "href", "lowsrc", "poster", "src", "srcdoc", "to", "values", "xlink:href",
};

/* JavaScript functions that only script calls. */
static const char *const js_calls[] = {
    "alert", "atob", "confirm", "eval", "fetch", "fromcharcode", "function", "import",
    "prompt", "setinterval", "settimeout",
};
/* JavaScript objects reached by property or index. */
static const char *const js_objects[] = {
    "constructor", "document", "location", "navigator", "self", "top", "window",
};

/* Members that make an object access a script sink: document.cookie. */
static const char *const js_members[] = {
    "alert", "body", "cookie", "createelement", "documentelement", "domain", "eval", "execcommand",
    "fromcharcode", "hash", "href", "innerhtml", "location", "open", "write", "writeln",
};

/* Is w[0..n) a JS sink, given what follows it (rest, rn bytes, rest[0] is
 * the character right after the name)? */
static bool js_sink_at(const uint8_t *w, size_t n, const uint8_t *rest, size_t rn)
{
    if (rn == 0)
        return false;
    uint8_t next = rest[0];
    if (next == '(' || next == '`')
        return mm_detect_in_set(w, n, js_calls, sizeof js_calls / sizeof js_calls[0]);
    if (next == '[')
        return mm_detect_in_set(w, n, js_objects, sizeof js_objects / sizeof js_objects[0]);
    if (next == '.' && mm_detect_in_set(w, n, js_objects, sizeof js_objects / sizeof js_objects[0])) {
        size_t e = 1;
        while (e < rn && e < 24 && mm_detect_isalpha(rest[e]))
            e++;
        return mm_detect_in_set(rest + 1, e - 1, js_members, sizeof js_members / sizeof js_members[0]);
    }
    return false;
}

/* js_calls and js_objects again, by length, for js_name(). */
static const char *const js_by_len[13][3] = {
    [3] = {"top"},
    [4] = {"atob", "eval", "self"},
    [5] = {"alert", "fetch"},
    [6] = {"import", "prompt", "window"},
    [7] = {"confirm"},
    [8] = {"document", "function", "location"},
    [9] = {"navigator"},
    [10] = {"settimeout"},
    [11] = {"constructor", "setinterval"},
    [12] = {"fromcharcode"},
};
/* Bit l of the entry for a letter: a name of length l starts with it. */
static const uint16_t js_lens[26] = {
    ['a' - 'a'] = 1u << 4 | 1u << 5,  ['c' - 'a'] = 1u << 7 | 1u << 11,
    ['d' - 'a'] = 1u << 8,            ['e' - 'a'] = 1u << 4,
    ['f' - 'a'] = 1u << 5 | 1u << 8 | 1u << 12,
    ['i' - 'a'] = 1u << 6,            ['l' - 'a'] = 1u << 8,
    ['n' - 'a'] = 1u << 9,            ['p' - 'a'] = 1u << 6,
    ['s' - 'a'] = 1u << 4 | 1u << 10 | 1u << 11,
    ['t' - 'a'] = 1u << 3,            ['w' - 'a'] = 1u << 6,
};

/* Is w[0..n) (w[0] a letter) one of js_calls or js_objects? The same
 * words by length, so that most words are rejected by their length or
 * first letter: lets loose() skip its sink checks for them. */
static bool js_name(const uint8_t *w, size_t n)
{
    if (n < 3 || n > 12 || !(js_lens[(w[0] | 32) - 'a'] >> n & 1u))
        return false;
    for (size_t k = 0; k < 3 && js_by_len[n][k]; k++)
        if (js_by_len[n][k][0] == (w[0] | 32) && mm_detect_word_eq(w, n, js_by_len[n][k]))
            return true;
    return false;
}

bool mm_detect_xss_tables_ok(void)
{
    /* js_name() accepts every word of js_calls and js_objects ... */
    const char *const *lists[2] = {js_calls, js_objects};
    const size_t counts[2] = {sizeof js_calls / sizeof js_calls[0], sizeof js_objects / sizeof js_objects[0]};
    size_t words = 0;
    for (int l = 0; l < 2; l++) {
        for (size_t i = 0; i < counts[l]; i++) {
            if (!js_name((const uint8_t *)lists[l][i], strlen(lists[l][i])))
                return false;
            words++;
        }
    }
    /* ... and its table holds nothing else. */
    for (size_t n = 0; n < 13; n++) {
        for (size_t k = 0; k < 3 && js_by_len[n][k]; k++) {
            const uint8_t *w = (const uint8_t *)js_by_len[n][k];
            if (strlen(js_by_len[n][k]) != n || (!mm_detect_in_set(w, n, js_calls, counts[0]) &&
                                                 !mm_detect_in_set(w, n, js_objects, counts[1])))
                return false;
            words--;
        }
    }
    return words == 0;
}

/* The same for callers that only look at the next character: calls only. */
static bool js_sink(const uint8_t *w, size_t n, uint8_t next)
{
    return (next == '(' || next == '`') && mm_detect_in_set(w, n, js_calls, sizeof js_calls / sizeof js_calls[0]);
}

/* Is the sink at s[i..e) called other than by name(: by .call( .apply(
 * .bind(, by optional chaining ?.(, wrapped as (alert)(, or with a tab or
 * line break before its '(' (ordinary spaces are left to prose: "please
 * confirm (by mail)")? */
static bool indirect_call(const uint8_t *s, size_t n, size_t i, size_t e)
{
    size_t k = e;
    while (k < n && k < e + 8 && s[k] != ' ' && mm_detect_isspace(s[k]))
        k++;
    if (k > e && k < n && s[k] == '(')
        return true;
    if (e + 2 < n && s[e] == '?' && s[e + 1] == '.' && s[e + 2] == '(')
        return true;
    if (i > 0 && s[i - 1] == '(' && e + 1 < n && s[e] == ')' && s[e + 1] == '(')
        return true;
    if (e + 5 < n && s[e] == '.') {
        static const char *const how[] = {"apply", "bind", "call"};
        for (size_t h = 0; h < 3; h++) {
            size_t l = strlen(how[h]);
            if (e + 1 + l < n && mm_detect_word_eq(s + e + 1, l, how[h]) && s[e + 1 + l] == '(')
                return true;
        }
    }
    return false;
}

static bool known_event(const uint8_t *a, size_t n);

/* Is the sink at s[i..e) assigned to a name that is called next
 * (a=alert,a(1)) or to an event handler (onerror=alert;)? */
static bool sink_assigned(const uint8_t *s, size_t n, size_t i, size_t e)
{
    if (i < 2 || s[i - 1] != '=' || e >= n || (s[e] != ',' && s[e] != ';'))
        return false;
    size_t b = i - 1;
    while (b > 0 && i - 1 - b < 32 && (mm_detect_isalnum(s[b - 1]) || s[b - 1] == '_' || s[b - 1] == '$'))
        b--;
    size_t nl = i - 1 - b;
    if (nl == 0)
        return false;
    if (known_event(s + b, nl))
        return true;
    size_t k = e + 1;
    while (k < n && k < e + 4 && s[k] == ' ')
        k++;
    return k + nl < n && memcmp(s + k, s + b, nl) == 0 && (s[k + nl] == '(' || s[k + nl] == '`');
}

typedef struct {
    int score;
    const char *rule;
    size_t pos;
    char tag[16];
    char attr[16];
    bool noclose[3];      /* no closing " ' ` after noclose_at */
    unsigned closers;     /* closing tags of structural elements seen */
    bool foreign;         /* an <svg> or <math> opened: links inside are live */
    unsigned decls;       /* <!DOCTYPE / <!ENTITY declarations read (at most 16) */
    size_t noclose_at[3];
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

/* Does the URL's host hide an address in octal, hex or one number
 * (http://0102.0146.0007.00000223/, http://0x7f000001/, http://1113982867/)? */
static bool numeric_host(const uint8_t *v, size_t n)
{
    size_t i = 0;
    while (i < n && i < 12 && v[i] != '/')
        i++;
    if (i + 1 >= n || v[i + 1] != '/' || (i > 0 && v[i - 1] != ':'))
        return false;
    i += 2;
    size_t st = i, digits = 0, dots = 0;
    bool lead0 = false, hex = false;
    for (; i < n && v[i] != '/' && v[i] != ':' && v[i] != '?'; i++) {
        uint8_t c = v[i];
        if (c == '.') {
            dots++;
        } else if (mm_detect_isdigit(c)) {
            if (c == '0' && (i == st || v[i - 1] == '.') && i + 1 < n && mm_detect_isalnum(v[i + 1]))
                lead0 = true;
            digits++;
        } else if ((c | 32) == 'x' && i > 0 && v[i - 1] == '0') {
            hex = true;
        } else if (!(hex && mm_detect_isalnum(c))) {
            return false;
        }
    }
    return digits > 0 && (lead0 || hex || (dots == 0 && digits >= 8));
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
           find_ci(v, n, "behavior:") || find_ci(v, n, "behaviour:") || find_ci(v, n, "binding:") ||
           find_ci(v, n, "@import");
}

static bool is_event_name(const uint8_t *a, size_t n)
{
    /* The first letter first: it rejects nearly every name, and its test
     * is predicted better than the length's. */
    if (n == 0 || (a[0] | 32) != 'o' || n < 5 || (a[1] | 32) != 'n')
        return false;
    for (size_t i = 2; i < n; i++)
        if (!mm_detect_isalpha(a[i]))
            return false;
    return true;
}

/* Outside a tag an "on..." word must be a real handler family to count
 * ("online=yes" is not one). */
static bool known_event(const uint8_t *a, size_t n)
{
    static const char *const fam[] = {
        "onabort", "onactivate", "onafter", "onanimation", "onaux", "onbefore", "onbegin", "onblur",
        "onbounce", "oncancel", "oncanplay", "onchange", "onclick", "onclose", "oncontent", "oncontext",
        "oncopy", "oncuechange", "oncut", "ondbl", "ondeactivate", "ondrag", "ondrop", "ondurationchange",
        "onemptied", "onend", "onerror", "onfilterchange", "onfinish", "onfocus", "onform",
        "onfullscreen", "onhash", "onhelp", "oninput", "oninvalid", "onkey", "onlanguagechange", "onload",
        "onlosecapture", "onmessage", "onmouse", "onmove", "onmoz", "onoffline", "ononline", "onpage",
        "onpaste", "onpause", "onplay", "onpointer", "onpop", "onprogress", "onpropertychange",
        "onratechange", "onreadystatechange", "onrejectionhandled", "onrepeat", "onreset", "onresize",
        "onrow", "onscroll", "onsearch", "onsecuritypolicy", "onseek", "onselect", "onshow", "onslotchange",
        "onstalled", "onstart", "onstorage", "onsubmit", "onsuspend", "ontimeupdate", "ontoggle", "ontouch",
        "ontransition", "onunhandledrejection", "onunload", "onvolume", "onwaiting", "onwebkit", "onwheel",
        "onzoom",
    };
    if (!is_event_name(a, n))
        return false;
    for (size_t i = 0; i < sizeof fam / sizeof fam[0]; i++) {
        size_t fl = strlen(fam[i]);
        if (fl <= n && mm_detect_word_eq(a, fl, fam[i]))
            return true;
    }
    return false;
}

/* Does a JavaScript call or sink appear in s[0..n) (bounded look-ahead)?
 * Reading the window word by word, a word counts when the first byte after
 * it and its spaces and tabs is one js_sink_at() looks at: ( ` [ or '.'.
 * So only those bytes are searched for, and the word before each is found
 * backwards: the alphanumeric run before the spaces, from its first letter
 * or '_' (the word reading skips leading digits). Any order of finding
 * gives the same answer. */
static bool js_call_near(const uint8_t *s, size_t n)
{
    static const bool sink_next[256] = {['('] = true, ['`'] = true, ['['] = true, ['.'] = true};
    if (n > 64)
        n = 64;
    uint64_t m = 0;
    for (size_t p = 1; p < n; p++)
        m |= (uint64_t)sink_next[s[p]] << p;
    for (; m; m &= m - 1) {
        size_t p = (size_t)__builtin_ctzll(m);
        size_t q = p, rest = p;
        if (s[p] == '.' && p >= 2 && s[p - 1] == '?') {
            /* optional chaining: alert?.(1), top?.["x"], window?.alert */
            q = p - 1;
            if (p + 1 < n && (s[p + 1] == '(' || s[p + 1] == '[' || s[p + 1] == '`'))
                rest = p + 1;
        }
        while (q > 0 && (s[q - 1] == ' ' || s[q - 1] == '\t'))
            q--;
        size_t r = q;
        while (r > 0 && (mm_detect_isalnum(s[r - 1]) || s[r - 1] == '_'))
            r--;
        while (r < q && mm_detect_isdigit(s[r]))
            r++;
        if (r < q && js_sink_at(s + r, q - r, s + rest, n - rest))
            return true;
    }
    return false;
}

/* Does a script sink get called anywhere in v[0..n)? */
static bool js_sink_in(const uint8_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!mm_detect_isalpha(v[i]) || (i > 0 && (mm_detect_isalnum(v[i - 1]) || v[i - 1] == '_')))
            continue;
        size_t e = i;
        while (e < n && (mm_detect_isalnum(v[e]) || v[e] == '_') && e - i < 32)
            e++;
        if (e < n && js_sink_at(v + i, e - i, v + e, n - e))
            return true;
        i = e > i ? e - 1 : i;
    }
    return false;
}

/* How parse_tag() reads the bytes of a tag's attribute list: ATTR_END ends
 * an attribute name (whitespace, = > / < " '), ATTR_GAP is passed over
 * between attributes (whitespace, / " ' ` , ;). */
enum { ATTR_END = 1, ATTR_GAP = 2 };
static const uint8_t attr_class[256] = {
    [' '] = ATTR_END | ATTR_GAP,  ['\t'] = ATTR_END | ATTR_GAP, ['\n'] = ATTR_END | ATTR_GAP,
    ['\r'] = ATTR_END | ATTR_GAP, ['\v'] = ATTR_END | ATTR_GAP, ['\f'] = ATTR_END | ATTR_GAP,
    ['/'] = ATTR_END | ATTR_GAP,  ['"'] = ATTR_END | ATTR_GAP,  ['\''] = ATTR_END | ATTR_GAP,
    ['`'] = ATTR_GAP,             [','] = ATTR_GAP,             [';'] = ATTR_GAP,
    ['='] = ATTR_END,             ['>'] = ATTR_END,             ['<'] = ATTR_END,
};

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
    if (k + 7 < n && s[k] == '?' && (mm_detect_word_eq(s + k + 1, 7, "import ") ||
                                     (k + 15 < n && mm_detect_word_eq(s + k + 1, 15, "xml-stylesheet ")) ||
                                     (k + 15 < n && mm_detect_word_eq(s + k + 1, 14, "xml:namespace "))))
        /* Processing instructions that load behaviour or a stylesheet that
         * can carry script: <?import implementation=...>, <?xml-stylesheet
         * href=...?>, <?xml:namespace ns=...> */
        xhit(x, 60, "processing-instruction", lt, s + k + 1, 6, NULL, 0);
    if (k + 1 < n && s[k] == ':' && mm_detect_isalpha(s[k + 1]))
        k++; /* <:vmlframe, an empty namespace prefix */
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
    bool svgmath = mm_detect_word_eq(tag, tag_len, "svg") || mm_detect_word_eq(tag, tag_len, "math");
    if (closing) {
        if (exec && mm_detect_word_eq(tag, tag_len, "script"))
            xhit(x, 55, "script-close", lt, tag, tag_len, NULL, 0);
        /* Closing structural elements twice: a value that ends the page's
         * markup (</body></html>, </svg>...</div>) is markup injection. */
        if ((exec || mm_detect_in_set(tag, tag_len, html_tags, sizeof html_tags / sizeof html_tags[0])) &&
            ++x->closers >= 2)
            xhit(x, 50, "markup-closers", lt, tag, tag_len, NULL, 0);
        return k;
    }
    if (svgmath)
        x->foreign = true;
    if (exec) {
        bool strong = mm_detect_word_eq(tag, tag_len, "script") || mm_detect_word_eq(tag, tag_len, "iframe") ||
                      mm_detect_word_eq(tag, tag_len, "object") || mm_detect_word_eq(tag, tag_len, "embed") ||
                      mm_detect_word_eq(tag, tag_len, "applet") || mm_detect_word_eq(tag, tag_len, "svg") ||
                      mm_detect_word_eq(tag, tag_len, "frameset") || mm_detect_word_eq(tag, tag_len, "vmlframe") ||
                      mm_detect_word_eq(tag, tag_len, "import") || mm_detect_word_eq(tag, tag_len, "isindex");
        /* A tag name must end like one: "<script>" or "<script src", not "<scripts". */
        xhit(x, svgmath ? 40 : strong ? 75 : 45, "exec-tag", lt, tag, tag_len, NULL, 0);
        if (mm_detect_word_eq(tag, tag_len, "style") && css_exec(s + k, n - k < 512 ? n - k : 512))
            xhit(x, 70, "style-exec", lt, tag, tag_len, NULL, 0);
    } else {
        xhit(x, 20, "tag", lt, tag, tag_len, NULL, 0);
    }
    /* Attributes. */
    size_t rescan = 0, nattr = 0, nvals = 0;
    while (k < n && rescan == 0) {
        uint8_t c = s[k];
        if (c == '>') {
            k++;
            break;
        }
        if (c == '<')
            break; /* a broken tag: the next opener starts over */
        if (attr_class[c] & ATTR_GAP) {
            k++;
            continue;
        }
        size_t as = k;
        while (k < n && !(attr_class[s[k]] & ATTR_END))
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
                int qi = q == '"' ? 0 : q == '\'' ? 1 : 2;
                /* Once a quote has no closer after some point it has none
                 * after any later point: remembering that keeps this linear. */
                const uint8_t *e = x->noclose[qi] && j + 1 >= x->noclose_at[qi] ? NULL
                                                                             : memchr(s + j + 1, q, n - j - 1);
                if (!e && !x->noclose[qi]) {
                    x->noclose[qi] = true;
                    x->noclose_at[qi] = j + 1;
                }
                val = s + j + 1;
                val_len = e ? (size_t)(e - val) : n - j - 1;
                k = e ? (size_t)(e - s) + 1 : n;
                /* Markup inside a quoted value (<a title="<img onerror=..>">)
                 * is read again as markup. */
                for (size_t m = 0; m + 1 < val_len && m < 4096; m++)
                    if (val[m] == '<' && (mm_detect_isalpha(val[m + 1]) || val[m + 1] == '/' || val[m + 1] == '!'))
                    {
                        rescan = (size_t)(val - s) + m;
                        break;
                    }
            } else {
                size_t vs = j;
                while (j < n && !mm_detect_isspace(s[j]) && s[j] != '>')
                    j++;
                val = s + vs;
                val_len = j - vs;
                k = j;
            }
        }
        nattr++;
        nvals += val != NULL;
        if (is_event_name(an, an_len))
            xhit(x, 85, "event-handler", lt, tag, tag_len, an, an_len);
        else if (exec && val && !svgmath)
            xhit(x, 60, "exec-tag-attr", lt, tag, tag_len, an, an_len);
        else if (val && val_len < 4096 && js_sink_in(val, val_len))
            xhit(x, 60, "attr-script", lt, tag, tag_len, an, an_len);
        else if (val && mm_detect_in_set(an, an_len, url_attrs, sizeof url_attrs / sizeof url_attrs[0]) &&
                 script_url(val, val_len))
            xhit(x, 85, "script-url", lt, tag, tag_len, an, an_len);
        else if (val && mm_detect_in_set(an, an_len, url_attrs, sizeof url_attrs / sizeof url_attrs[0]) &&
                 numeric_host(val, val_len))
            xhit(x, 55, "obfuscated-host", lt, tag, tag_len, an, an_len);
        else if (val && mm_detect_word_eq(an, an_len, "style") && css_exec(val, val_len))
            xhit(x, 80, "css-exec", lt, tag, tag_len, an, an_len);
        else if (val && mm_detect_word_eq(an, an_len, "http-equiv") && mm_detect_word_eq(val, val_len < 7 ? val_len : 7, "refresh"))
            xhit(x, 70, "meta-refresh", lt, tag, tag_len, an, an_len);
        else if (val && an_len >= 5 && mm_detect_word_eq(an, 5, "xmlns") &&
                 (find_ci(val, val_len < 128 ? val_len : 128, "xinclude") ||
                  find_ci(val, val_len < 128 ? val_len : 128, "xsl/transform")))
            /* XInclude fetches what it names, XSLT runs a stylesheet */
            xhit(x, 60, "xml-active-namespace", lt, tag, tag_len, an, an_len);
        else if (val && an_len >= 14 && mm_detect_word_eq(an + an_len - 14, 14, "schemalocation") &&
                 find_ci(val, val_len < 512 ? val_len : 512, "://"))
            /* xsi:schemaLocation="ns http://...": the parser fetches the URL */
            xhit(x, 60, "external-schema", lt, tag, tag_len, an, an_len);
        else if (val && x->foreign && !svgmath &&
                 mm_detect_in_set(an, an_len, url_attrs, sizeof url_attrs / sizeof url_attrs[0]))
            /* <math><a xlink:href=...>: a link planted in SVG or MathML */
            xhit(x, 55, "foreign-link", lt, tag, tag_len, an, an_len);
    }
    if (nattr > 0 && nvals > 0 && mm_detect_in_set(tag, tag_len, html_tags, sizeof html_tags / sizeof html_tags[0]))
        xhit(x, 50, "html-injection", lt, tag, tag_len, NULL, 0);
    return rescan ? rescan : k;
}

static int b64val(uint8_t c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (mm_detect_isdigit(c))
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Does a base64 run of at least 16 characters start with the encoding of
 * an HTML tag ("<svg", "<script", "<img ")? Decodes its first 12 characters. */
static bool base64_markup(const uint8_t *s, size_t n)
{
    if (n < 16)
        return false;
    for (size_t i = 0; i < 16; i++)
        if (b64val(s[i]) < 0)
            return false;
    uint8_t d[9];
    for (size_t q = 0; q < 3; q++) {
        uint32_t v = 0;
        for (size_t j = 0; j < 4; j++)
            v = v << 6 | (uint32_t)b64val(s[q * 4 + j]);
        d[q * 3] = (uint8_t)(v >> 16);
        d[q * 3 + 1] = (uint8_t)(v >> 8);
        d[q * 3 + 2] = (uint8_t)v;
    }
    if (d[0] != '<')
        return false;
    size_t k = 1;
    while (k < 9 && mm_detect_isalpha(d[k]))
        k++;
    if (k == 1 || k == 9)
        return false;
    return mm_detect_in_set(d + 1, k - 1, exec_tags, sizeof exec_tags / sizeof exec_tags[0]) ||
           mm_detect_in_set(d + 1, k - 1, html_tags, sizeof html_tags / sizeof html_tags[0]);
}

/* Skips spaces, closing parentheses and short comments from m. */
static size_t skip_js_gap(const uint8_t *s, size_t n, size_t m)
{
    for (int g = 0; g < 8 && m + 1 < n; g++) {
        if (s[m] == ')' || s[m] == ' ') {
            m++;
        } else if (s[m] == '/' && s[m + 1] == '*') {
            size_t z = m + 2;
            while (z + 1 < n && z - m < 64 && !(s[z] == '*' && s[z + 1] == '/'))
                z++;
            if (z + 1 >= n || s[z] != '*')
                break;
            m = z + 2;
        } else {
            break;
        }
    }
    return m;
}

/* Judges the declaration at s[i] == '!' (DOCTYPE or ENTITY). */
static void xml_declaration(const uint8_t *s, size_t n, size_t i, xss_t *x)
{
    size_t lim = n - i < 160 ? n - i : 160;
    const uint8_t *gt = memchr(s + i, '>', lim);
    size_t span = gt ? (size_t)(gt - (s + i)) : lim;
    bool entity = (s[i + 1] | 32) == 'e';
    const uint8_t *sys = find_ci(s + i, span, " system");
    if (!sys && entity)
        sys = find_ci(s + i, span, " public");
    const uint8_t *end = s + i + span;
    /* HTML's own <!DOCTYPE html SYSTEM "about:legacy-compat"> loads nothing */
    if (sys && (sys + 7 == end || (sys + 8 < end && (sys[8] == '"' || sys[8] == '\'') && sys[7] == ' ')) &&
        (entity || sys + 7 < end) && !find_ci(sys, (size_t)(end - sys), "about:")) {
        xhit(x, 65, "xml-external-entity", i, NULL, 0, NULL, 0);
        return;
    }
    if (!entity && i > 0 && s[i - 1] == '<') {
        size_t k = i + 8;
        while (k < i + span && (mm_detect_isspace(s[k]) || mm_detect_isalnum(s[k]) || s[k] == ':' || s[k] == '_'))
            k++;
        if (k < i + span && s[k] == '[')
            xhit(x, 55, "xml-internal-dtd", i, NULL, 0, NULL, 0);
    }
}

/* Shapes the tag parser can miss because they hide inside quoted values or
 * broken markup: an event handler or script URL anywhere after a tag opener,
 * and a script sink called at the top level of the value. */
/* Where script written with []()!+ only (JSFuck; spaces where '+' was read
 * as one) first reaches 40 such characters with 4 '!' among them, with no
 * other byte between: n for never. Such a run holds a '!': only the runs
 * around one are read. */
static size_t jsfuck_at(const uint8_t *s, size_t n)
{
    /* 1: counts in a run ([]()+); 2: a '!', counted twice; 3: a space,
     * which keeps the run without counting. Any other byte ends it. */
    static const uint8_t jsf[256] = {
        ['['] = 1, [']'] = 1, ['('] = 1, [')'] = 1, ['+'] = 1, ['!'] = 2, [' '] = 3,
    };
    size_t from = 0; /* s[from - 1], when there, ends a run already read */
    while (from < n) {
        const uint8_t *bang_at = memchr(s + from, '!', n - from);
        if (!bang_at)
            return n;
        size_t st = (size_t)(bang_at - s);
        while (st > from && jsf[s[st - 1]])
            st--;
        size_t run = 0, bang = 0, i = st;
        for (; i < n && jsf[s[i]]; i++) {
            run += jsf[s[i]] != 3;
            bang += jsf[s[i]] == 2;
            if (run >= 40 && bang >= 4)
                return i;
        }
        from = i + 1;
    }
    return n;
}

/* Designated initialisers giving every ASCII letter the value v. */
#define LETTERS(v)                                                                                  \
    ['a'] = v, ['b'] = v, ['c'] = v, ['d'] = v, ['e'] = v, ['f'] = v, ['g'] = v, ['h'] = v, ['i'] = v, \
    ['j'] = v, ['k'] = v, ['l'] = v, ['m'] = v, ['n'] = v, ['o'] = v, ['p'] = v, ['q'] = v, ['r'] = v, \
    ['s'] = v, ['t'] = v, ['u'] = v, ['v'] = v, ['w'] = v, ['x'] = v, ['y'] = v, ['z'] = v, ['A'] = v, \
    ['B'] = v, ['C'] = v, ['D'] = v, ['E'] = v, ['F'] = v, ['G'] = v, ['H'] = v, ['I'] = v, ['J'] = v, \
    ['K'] = v, ['L'] = v, ['M'] = v, ['N'] = v, ['O'] = v, ['P'] = v, ['Q'] = v, ['R'] = v, ['S'] = v, \
    ['T'] = v, ['U'] = v, ['V'] = v, ['W'] = v, ['X'] = v, ['Y'] = v, ['Z'] = v

/* What loose() stops at, compared with word_cont of the byte before: 3
 * for '!' and '<' (always), 2 for letters (where no word continues). */
static const uint8_t loose_ev[256] = {
    ['!'] = 3, ['<'] = 3,
    LETTERS(2),
};

/* 2 for the bytes after which a letter continues a word or a dotted name:
 * letters, digits, '_' and '.'. */
static const uint8_t word_cont[256] = {
    ['0'] = 2, ['1'] = 2, ['2'] = 2, ['3'] = 2, ['4'] = 2, ['5'] = 2, ['6'] = 2, ['7'] = 2, ['8'] = 2,
    ['9'] = 2, ['_'] = 2, ['.'] = 2,
    LETTERS(2),
};

/* Judges the word that starts at s[i] for loose(); opener says a tag
 * opener came before. Returns where the word ends. */
static size_t loose_word(const uint8_t *s, size_t n, size_t i, bool opener, xss_t *x)
{
    uint8_t c = s[i];
    size_t e = i;
    while (e < n && (mm_detect_isalnum(s[e]) || s[e] == '_') && e - i < 64)
        e++;
    /* Every check below needs a script name, an "on..." word, a 'P'
     * (base64) or a short word followed by a certain byte (url(,
     * moz-binding, adw-, data:, expression( or \28): any other word
     * is passed over at once. */
    bool js = js_name(s + i, e - i);
    uint8_t next = e < n ? s[e] : 0;
    size_t wl = e - i;
    if (!js && (c | 32) != 'o' && c != 'P' && !(wl == 3 && (next == '(' || next == '-')) &&
        !(wl == 4 && next == ':') && !(wl == 10 && (next == '(' || next == '\\'))) {
        return e;
    }
    if (opener && i > 0 && (mm_detect_isspace(s[i - 1]) || s[i - 1] == '"' || s[i - 1] == '\'' ||
                            s[i - 1] == '/' || s[i - 1] == '`') && is_event_name(s + i, e - i)) {
        size_t j = e;
        while (j < n && mm_detect_isspace(s[j]))
            j++;
        if (j < n && s[j] == '=')
            xhit(x, 75, "event-handler", i, NULL, 0, s + i, e - i);
    }
    /* A sink passed as a callback or spliced into a template:
     * [1].find(alert), setTimeout(alert), `${alert}` */
    size_t bp = i, ap = e;
    while (bp > 1 && bp + 4 > i && s[bp - 1] == ' ')
        bp--;
    while (ap < n && ap < e + 4 && s[ap] == ' ')
        ap++;
    /* "(alert)" in prose is no call: the parenthesis must follow a name */
    bool callp = bp > 1 && s[bp - 1] == '(' &&
                 (mm_detect_isalnum(s[bp - 2]) || s[bp - 2] == '_' || s[bp - 2] == ')' || s[bp - 2] == ']');
    if (js && bp > 0 && (callp || s[bp - 1] == ',' || (s[bp - 1] == '{' && bp > 1 && s[bp - 2] == '$')) &&
        ap < n && (s[ap] == ')' || s[ap] == ',' || s[ap] == '}') && js_sink(s + i, e - i, '('))
        xhit(x, 55, "js-sink-ref", i, NULL, 0, s + i, e - i);
    /* A tagged template behind backslashes: alert\`1\` */
    if (js && e + 1 < n && s[e] == '\\') {
        size_t b = e;
        while (b < n && b - e < 4 && s[b] == '\\')
            b++;
        if (b < n && s[b] == '`' && js_sink(s + i, e - i, '`'))
            xhit(x, 60, "js-sink", i, NULL, 0, s + i, e - i);
    }
    /* An event handler opening the value: " onload= ..." */
    if ((c | 32) == 'o' && known_event(s + i, e - i)) {
        size_t b = 0;
        while (b < i && (mm_detect_isspace(s[b]) || s[b] == '"' || s[b] == '\'' || s[b] == '/'))
            b++;
        size_t j = e;
        while (j < n && mm_detect_isspace(s[j]))
            j++;
        if (b == i && j < n && s[j] == '=')
            xhit(x, 65, "event-handler", i, NULL, 0, s + i, e - i);
    }
    /* CSS that runs script: url(javascript:...), -moz-binding, expression( */
    if (e - i == 3 && mm_detect_word_eq(s + i, 3, "url") && e < n && s[e] == '(') {
        size_t j = e + 1;
        while (j < n && (mm_detect_isspace(s[j]) || s[j] == '"' || s[j] == '\''))
            j++;
        if (j + 10 <= n && mm_detect_word_eq(s + j, 10, "javascript"))
            xhit(x, 70, "css-script-url", i, NULL, 0, s + i, e - i);
    }
    if (e - i == 3 && mm_detect_word_eq(s + i, 3, "moz") && i > 0 && s[i - 1] == '-' &&
        e + 8 <= n && mm_detect_word_eq(s + e, 8, "-binding"))
        xhit(x, 65, "css-binding", i, NULL, 0, s + i, e - i);
    if (e - i == 10 && mm_detect_word_eq(s + i, 10, "expression") && e < n &&
        (s[e] == '(' || (e + 2 < n && s[e] == '\\' && s[e + 1] == '2' && s[e + 2] == '8')) && i > 0 &&
        (s[i - 1] == ':' || s[i - 1] == ' ' || s[i - 1] == '='))
        xhit(x, 60, "css-expression", i, NULL, 0, s + i, e - i);
    /* A data: URL of markup given as a value: data:text/html;base64,... */
    if (e - i == 4 && mm_detect_word_eq(s + i, 4, "data") && e < n && s[e] == ':' && script_url(s + i, n - i))
        xhit(x, 65, "data-url", i, NULL, 0, s + i, e - i);
    /* Markup in base64: "PHN2Zy..." decodes to "<svg..." */
    if (c == 'P' && base64_markup(s + i, n - i))
        xhit(x, 60, "base64-markup", i, NULL, 0, NULL, 0);
    /* UTF-7 markup: +ADw-script+AD4- */
    if (e - i == 3 && mm_detect_word_eq(s + i, 3, "adw") && e < n && s[e] == '-' && i > 0 &&
        (s[i - 1] == '+' || s[i - 1] == ' ' || s[i - 1] == '&'))
        xhit(x, 60, "utf7-markup", i, NULL, 0, s + i, e - i);
    if (!js) {
        return e;
    }
    /* Comments and a closing parenthesis may stand between an object
     * and its member: (document/ *x* /)["cookie"] */
    size_t m = e < n && (s[e] == ')' || s[e] == ' ' || s[e] == '/') ? skip_js_gap(s, n, e) : e;
    if (m > e && m < n && s[m] == '[' && js_sink_at(s + i, e - i, s + m, n - m))
        xhit(x, 55, "js-sink", i, NULL, 0, s + i, e - i);
    if (m < n && s[m] == '.' && m > e &&
        mm_detect_in_set(s + i, e - i, js_objects, sizeof js_objects / sizeof js_objects[0])) {
        /* document /x/ . cookie: the member, past spaces and comments */
        size_t a = skip_js_gap(s, n, m + 1), b = a;
        while (b < n && b - a < 24 && mm_detect_isalpha(s[b]))
            b++;
        if (b > a && mm_detect_in_set(s + a, b - a, js_members, sizeof js_members / sizeof js_members[0]))
            xhit(x, 55, "js-sink", i, NULL, 0, s + i, e - i);
    }
    if (e < n && js_sink_at(s + i, e - i, s + e, n - e)) {
        /* A call of a script-only sink: alert(1), top['al'+'ert'](1) */
        bool strong = s[e] == '(' || s[e] == '`';
        xhit(x, strong ? 60 : 55, "js-sink", i, NULL, 0, s + i, e - i);
    }
    if (e < n && js_sink(s + i, e - i, '(')) {
        if (indirect_call(s, n, i, e))
            xhit(x, 60, "js-sink", i, NULL, 0, s + i, e - i);
        else if (sink_assigned(s, n, i, e))
            xhit(x, 55, "js-sink-ref", i, NULL, 0, s + i, e - i);
    }
    /* An object indexed by optional chaining: top?.["al"+"ert"] */
    if (e + 2 < n && s[e] == '?' && s[e + 1] == '.' && s[e + 2] == '[' &&
        js_sink_at(s + i, e - i, s + e + 2, n - e - 2))
        xhit(x, 55, "js-sink", i, NULL, 0, s + i, e - i);
    return e;
}

/* Shapes the tag parser can miss because they hide inside quoted values or
 * broken markup: an event handler or script URL anywhere after a tag opener,
 * and a script sink called at the top level of the value. Stops only at
 * '!', '<' and word starts, found 64 bytes at a time without a branch per
 * byte (on prose a per-byte test is mispredicted so often that it costs
 * most of the time); JSFuck is found apart and reported in its place. */
static void loose(const uint8_t *s, size_t n, xss_t *x)
{
    bool opener = false;
    size_t jsf = jsfuck_at(s, n);
    bool jsf_done = jsf == n;
    for (size_t base = 0; base < n; base += 64) {
        size_t len = n - base < 64 ? n - base : 64;
        uint64_t m = (uint64_t)(loose_ev[s[base]] > word_cont[base ? s[base - 1] : 0]);
        for (size_t k = 1; k < len; k++)
            m |= (uint64_t)(loose_ev[s[base + k]] > word_cont[s[base + k - 1]]) << k;
        while (m) {
            size_t i = base + (size_t)__builtin_ctzll(m);
            m &= m - 1;
            if (!jsf_done && jsf < i) {
                xhit(x, 65, "jsfuck", jsf, NULL, 0, NULL, 0);
                jsf_done = true;
            }
            uint8_t c = s[i];
            if (c == '!') {
                /* An XML document type or entity that loads an external
                 * resource (<!DOCTYPE x SYSTEM "...">, <!ENTITY e SYSTEM
                 * "...">, a parameter entity !ENTITY % e SYSTEM) or declares
                 * entities (<!DOCTYPE x [): XXE */
                if (i + 8 < n && x->decls < 16 &&
                    (mm_detect_word_eq(s + i + 1, 7, "doctype") || mm_detect_word_eq(s + i + 1, 6, "entity"))) {
                    x->decls++; /* a document has one DOCTYPE and a few entities: bound the reading */
                    xml_declaration(s, n, i, x);
                }
                if (!jsf_done && jsf == i) {
                    xhit(x, 65, "jsfuck", jsf, NULL, 0, NULL, 0);
                    jsf_done = true;
                }
            } else if (c == '<') {
                if (i + 1 < n && (mm_detect_isalpha(s[i + 1]) || s[i + 1] == '/' || s[i + 1] == '!'))
                    opener = true;
            } else {
                /* The rest of the word has no stop: its bytes continue it. */
                loose_word(s, n, i, opener, x);
            }
        }
    }
    if (!jsf_done)
        xhit(x, 65, "jsfuck", jsf, NULL, 0, NULL, 0);
}

/* An attribute break-out after the quote at s[k]: "onmouseover=... or
 * ' autofocus onfocus=... (other attributes, bare or name=value, may come
 * before the handler). */
static void attr_breakout(const uint8_t *s, size_t stop, size_t k, xss_t *x)
{
    size_t j = k + 1;
    while (j < stop && (mm_detect_isspace(s[j]) || s[j] == '/'))
        j++;
    size_t as = j;
    while (j < stop && mm_detect_isalpha(s[j]) && j - as < 40)
        j++;
    size_t guard = 0;
    while (j < stop && guard++ < 4 && !is_event_name(s + as, j - as)) {
        if (s[j] == '=' && j > as) {
            j++;
            while (j < stop && !mm_detect_isspace(s[j]) && s[j] != '"' && s[j] != '\'' && j - as < 80)
                j++;
        }
        if (j >= stop || !(mm_detect_isspace(s[j]) || s[j] == '/'))
            break;
        while (j < stop && (mm_detect_isspace(s[j]) || s[j] == '/'))
            j++;
        as = j;
        while (j < stop && mm_detect_isalpha(s[j]) && j - as < 64)
            j++;
    }
    size_t e = j;
    while (e < stop && mm_detect_isspace(s[e]))
        e++;
    if (known_event(s + as, j - as) && e < stop && s[e] == '=')
        xhit(x, 80, "attr-breakout", k, NULL, 0, s + as, j - as);
}

/* A script URL at k ("javascript:", "vbscript:", any case, spaces before
 * the colon) followed by a call. */
static void script_url_call(const uint8_t *s, size_t stop, size_t k, const char *scheme, xss_t *x)
{
    size_t m = strlen(scheme);
    if (k + m >= stop || !mm_detect_word_eq(s + k, m, scheme))
        return;
    size_t j = k + m;
    while (j < stop && mm_detect_isspace(s[j]))
        j++;
    if (j < stop && s[j] == ':' && js_call_near(s + j + 1, stop - j - 1))
        xhit(x, 75, "script-url", k, NULL, 0, NULL, 0);
}

/* The bytes that start a shape in the text between tags: quotes (break-outs),
 * j and v (script URLs), '{' (template expressions). */
static const bool text_lead[256] = {
    ['"'] = true, ['\''] = true, ['`'] = true, ['j'] = true, ['J'] = true, ['v'] = true, ['V'] = true,
    ['{'] = true,
};

/* Judges the shape that the byte s[k] starts in the text between tags
 * (which ends at stop): a break-out after a quote, a script URL, a template
 * expression. *eq is the next '=' at or after where it was last looked for
 * (n: none). */
static void text_shape(const uint8_t *s, size_t n, size_t stop, size_t k, xss_t *x, size_t *eq)
{
    uint8_t c = s[k];
    if (c == '"' || c == '\'' || c == '`') {
        /* Attribute break-out: "onmouseover=... or ' autofocus onfocus=...
         * It needs an '=' after the quote: the next one is found
         * again only once passed, which keeps this linear. */
        if (*eq < k + 1) {
            const uint8_t *p = memchr(s + k + 1, '=', n - k - 1);
            *eq = p ? (size_t)(p - s) : n;
        }
        if (*eq < stop)
            attr_breakout(s, stop, k, x);
        /* JavaScript string break-out: '; alert(1)// or "-prompt(1)-" */
        size_t e = k + 1;
        while (e < stop && mm_detect_isspace(s[e]))
            e++;
        if (e < stop && (s[e] == ';' || s[e] == '-' || s[e] == '+' || s[e] == '*' ||
                         s[e] == '|' || s[e] == '&' || s[e] == ')' || s[e] == '}' || s[e] == ',' || s[e] == '^')) {
            size_t f = e + 1;
            while (f < stop && (s[f] == s[e] || mm_detect_isspace(s[f]) || s[f] == ')' || s[f] == '}' || s[f] == ';'))
                f++;
            if (js_call_near(s + f, stop - f))
                xhit(x, 70, "js-breakout", k, NULL, 0, NULL, 0);
        }
    } else if ((c | 32) == 'j' && (k == 0 || !mm_detect_isalnum(s[k - 1]))) {
        /* "java\nscript:" (whitespace inside the scheme) is an evasion by itself. */
        char w[12];
        size_t m = 0, j = k;
        bool gap = false;
        while (j < stop && m < 10 && j - k < 40) {
            if (s[j] == '\t' || s[j] == '\n' || s[j] == '\r') {
                gap = m > 0;
                j++;
                continue;
            }
            if (!mm_detect_isalpha(s[j]))
                break;
            w[m++] = (char)mm_detect_lower(s[j++]);
        }
        if (gap && m == 10 && memcmp(w, "javascript", 10) == 0 && j < stop && s[j] == ':')
            xhit(x, 70, "script-url", k, NULL, 0, NULL, 0);
        script_url_call(s, stop, k, "javascript", x);
    } else if ((c | 32) == 'v') {
        script_url_call(s, stop, k, "vbscript", x);
    } else if (c == '{' && k + 1 < stop && s[k + 1] == '{') {
        /* Client-side template injection: {{constructor.constructor('...')()}} */
        if (js_call_near(s + k + 2, stop - k - 2))
            xhit(x, 70, "template-expression", k, NULL, 0, NULL, 0);
    }
}

int mm_detect_xss(const uint8_t *s, size_t n, mm_detect_hit_t *hit)
{
    xss_t x;
    memset(&x, 0, sizeof x);
    memset(hit, 0, sizeof *hit);
    size_t i = 0;
    size_t eq = 0; /* the next '=' at or after it was last looked for (n: none) */
    while (i < n) {
        const uint8_t *lt = memchr(s + i, '<', n - i);
        size_t stop = lt ? (size_t)(lt - s) : n;
        /* Text between tags: look for break-outs and script URLs. Only the
         * bytes that start a shape are looked at, found 64 at a time
         * without a branch per byte. */
        for (size_t base = i; base < stop; base += 64) {
            size_t len = stop - base < 64 ? stop - base : 64;
            uint64_t m = 0;
            for (size_t b = 0; b < len; b++)
                m |= (uint64_t)text_lead[s[base + b]] << b;
            for (; m; m &= m - 1)
                text_shape(s, n, stop, base + (size_t)__builtin_ctzll(m), &x, &eq);
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
