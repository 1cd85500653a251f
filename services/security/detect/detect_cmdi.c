/* Command injection: a shell tokeniser (POSIX and cmd.exe forms) reads words,
 * separators, substitutions, redirections and variables, removing the quoting
 * tricks attackers use ('w'h"o"ami, $IFS, ${IFS}, backslashes, brace lists),
 * and flags a command word in command position: after a separator or inside
 * a substitution, or at the start with arguments shaped like a command line.
 * Also: shellshock, batch FOR/IF, and calls of code-execution functions. */
#include <stdio.h>
#include <string.h>

#include "detect_int.h"

/* Names that run something and are not ordinary words. */
static const char *const strong_cmds[] = {
    "ansible", "ansible-config", "ansible-doc", "ansible-playbook", "ansible-vault", "apt-get", "aptitude", "awk", "base64", "bash", "bitsadmin", "busybox", "cacls",
    "certutil", "chattr", "chef-client", "chgrp", "chmod", "chown", "cmd", "cpulimit", "crontab", "cscli", "cscript",
    "csh", "curl", "dash", "dmesg", "dpkg", "egrep", "fgrep", "gawk", "getent", "grep",
    "hostname", "htop", "icacls", "id", "iex", "ifconfig", "ipconfig", "irb", "iwr", "killall", "ksh",
    "ls", "lsb_release", "lsof", "lwp-download", "lwp-request", "mkfifo", "mknod", "mshta",
    "msiexec", "nc", "ncat", "net1", "netcat", "netsh", "netstat", "nmap", "nohup",
    "nslookup", "passwd", "perl", "php", "pip", "pip3", "pkill", "powershell", "printenv", "pwd", "pwsh",
    "python", "python2", "python3", "regedit", "regsvr32", "rm", "rmdir", "ruby",
    "rundll32", "schtasks", "sftp", "sh", "socat", "ssh", "ssh-copy-id", "sudo",
    "sysinfo", "systeminfo", "taskkill", "tasklist", "tcsh", "telnet", "tftp",
    "traceroute", "tracert", "uname", "useradd", "usermod", "vssadmin", "wget", "whoami",
    "wmic", "wscript", "xterm", "xxd", "zsh",
};

/* Short command names that are rarely words of prose (and the SQLite
 * shell's dot commands). */
static const char *const mid_cmds[] = {
    ".databases", ".dump", ".import", ".load", ".output", ".read", ".schema", ".tables", "alias", "bcdboot", "c89", "c99", "cd", "chdir", "cp", "dd", "del", "dir", "env", "erase", "gcc", "gdb", "ln",
    "mkdir", "mv", "nano", "od", "ps", "reg", "rmt", "rmt-dump", "rmt-tar", "sed", "su", "systemctl", "tar",
    "tr", "ver", "vi", "vim", "wc", "who", "xargs",
};

/* Commands that are also ordinary words; they need a command-line shape. */
static const char *const weak_cmds[] = {
    "at", "cat", "column", "copy", "cut", "date", "diff", "dig", "echo", "eval", "exec", "exit",
    "expr", "file", "find", "finger", "free", "head", "history", "host", "kill", "last",
    "less", "locate", "mail", "make", "man", "more", "mount", "net", "nice", "ping",
    "print", "printf", "read", "rev", "service", "set", "sleep", "sort", "source",
    "split", "start", "tail", "tee", "test", "time", "timeout", "top", "touch", "trap", "type",
    "uniq", "unzip", "wait", "watch", "which", "write", "zip",
};

/* Language interpreters: named in prose lists as often as run. */
static const char *const interpreters[] = {
    "irb", "perl", "php", "python", "python2", "python3", "ruby",
};

/* Commands whose first argument is a subcommand word (net user, reg add). */
static const char *const sub_cmds[] = {
    "net:accounts", "net:config", "net:group", "net:localgroup", "net:session", "net:share",
    "net:start", "net:stop", "net:use", "net:user", "net:view", "reg:add", "reg:delete",
    "reg:export", "reg:query", "reg:save", "sc:config", "sc:create", "sc:query", "sc:start",
    "sc:stop", "wmic:process", "wmic:useraccount",
};

/* Words that run the word after them (time curl ..., sudo id; the SQLite
 * shell's .shell and .system; '.', which sources its argument). */
static const char *const prefix_cmds[] = {
    ".", ".shell", ".system", "busybox", "command", "env", "exec", "nice", "nohup", "sudo", "time", "timeout", "xargs",
};

/* Functions of PHP, Perl, Python, Ruby and friends that run commands or code. */
static const char *const exec_funcs[] = {
    "assert", "eval", "exec", "include", "include_once", "passthru", "pcntl_exec",
    "phpinfo", "popen", "proc_open", "require", "require_once", "shell_exec", "spawn",
    "system",
};

enum { K_NONE = 0, K_WEAK, K_MID, K_STRONG };

/* A filter over the vocabularies above (a Bloom filter), for large values:
 * most words looked up are in none of them, and two table probes reject
 * them where binary searches of three lists would not. Each word of a list
 * sets the list's bit in two slots chosen by its hash; a word finding the
 * bit clear in either is in no such list. Built on the stack per call, so
 * it always agrees with the lists. */
enum { V_CMD = 1, V_PREFIX = 2, V_EXEC = 4, V_SUB = 8 };
#define VOCAB_BITS 12
#define VOCAB_SLOTS (1u << VOCAB_BITS)
#define VOCAB_MIN_LEN 2048
typedef struct {
    uint8_t slot[VOCAB_SLOTS];
} vocab_t;

/* Hashes the case-folded bytes of w[0..n); a word sets (and is tested at)
 * two slots, from two parts of the hash. */
static uint32_t vocab_hash(const uint8_t *w, size_t n)
{
    uint32_t h = (uint32_t)n;
    for (size_t i = 0; i < n; i++)
        h = h * 33u + (uint32_t)mm_detect_lower(w[i]);
    return h * 2654435761u;
}
#define SLOT1(h) ((h) >> (32 - VOCAB_BITS))
#define SLOT2(h) (((h) >> 8) & (VOCAB_SLOTS - 1))

static void vocab_add(vocab_t *v, unsigned bit, const char *const *set, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        uint32_t h = vocab_hash((const uint8_t *)set[i], strlen(set[i]));
        v->slot[SLOT1(h)] |= (uint8_t)bit;
        v->slot[SLOT2(h)] |= (uint8_t)bit;
    }
}

static void vocab_init(vocab_t *v)
{
    memset(v, 0, sizeof *v);
    vocab_add(v, V_CMD, strong_cmds, sizeof strong_cmds / sizeof strong_cmds[0]);
    vocab_add(v, V_CMD, mid_cmds, sizeof mid_cmds / sizeof mid_cmds[0]);
    vocab_add(v, V_CMD, weak_cmds, sizeof weak_cmds / sizeof weak_cmds[0]);
    vocab_add(v, V_PREFIX, prefix_cmds, sizeof prefix_cmds / sizeof prefix_cmds[0]);
    vocab_add(v, V_EXEC, exec_funcs, sizeof exec_funcs / sizeof exec_funcs[0]);
    vocab_add(v, V_SUB, sub_cmds, sizeof sub_cmds / sizeof sub_cmds[0]);
}

/* May w[0..n) (compared case-folded, as mm_detect_in_set() does) be in a
 * vocabulary of bit? Always true without a filter. */
static bool vocab_may_hold(const vocab_t *v, unsigned bit, const uint8_t *w, size_t n)
{
    if (!v)
        return true;
    if (n == 0 || n > 40)
        return false; /* mm_detect_in_set() finds no such word */
    uint32_t h = vocab_hash(w, n);
    return v->slot[SLOT1(h)] & v->slot[SLOT2(h)] & bit;
}

/* Token kinds. */
enum {
    C_WORD = 'w', C_SEP = ';', C_OPEN = '(', C_CLOSE = ')', C_REDIR = '>', C_VAR = '$',
    C_END = 'Z',
};

typedef struct {
    char kind;
    size_t pos;
    const uint8_t *raw;   /* word bytes as written */
    size_t raw_len;
    char norm[40];        /* lowercased, quoting removed, path stripped */
    bool has_eq;          /* NAME=value assignment */
    bool subst;           /* for C_OPEN: a command substitution */
} ctok_t;

typedef struct {
    int score;
    const char *rule;
    size_t pos;
    char toks[48];
    /* state */
    bool at_cmd;          /* next word is in command position */
    bool after_sep;       /* that position follows a separator or substitution */
    bool first;           /* no token yet */
    int pending_kind;     /* a command waiting for its first argument */
    bool pending_sep;
    bool pending_subst;   /* the command opens a substitution: `ping ...` */
    bool pending_second;  /* judging the second argument of a first command */
    bool pending_shape;   /* the command word carries its own switch: dir/s */
    bool pending_brace;   /* the command word is an item of a brace list */
    bool brace_list;      /* inside {a,b,...}: bash runs it as a command line */
    bool in_subst;        /* the last opener was a substitution */
    size_t pending_pos;
    char pending_name[40];
    int batch;            /* 3 = FOR seen, 1 = FOR with a batch variable, 4 = IF seen */
    int if_words;
    bool batch_quoted;    /* '%', a double quote or no ':' (code blocks end in one): batch, not code */
    bool var_cmd;         /* a $variable stood in command position */
    bool sep_pipe;        /* the last separator was a pipe */
    bool sep_amp;         /* the last separator was a single '&' (prose: "cats & dogs") */
    bool sep_real;        /* command position comes from a separator, not an opener */
    bool sep_lead;        /* the last separator opened the value: ;cmd, || cmd */
    bool pending_pipe;    /* the pending command reads a pipe: | sh */
    bool pending_lead;    /* the pending command follows a separator opening the value */
    bool pending_upper;   /* the pending command word has capitals: prose names it */
    bool pending_caps;    /* ... has no lowercase letter at all */
    bool unknown_pending; /* an unknown lowercase name after a separator awaits an option */
    const uint8_t *s;     /* the value */
    size_t n;
    const vocab_t *vocab; /* NULL for short values */
    size_t open_pos;      /* where the last opener (`, $(, ( ...) was */
    size_t pending_open;  /* ... when the pending command was read */
    int line_score;       /* a command line opening the value, judged at the next token */
    bool line_weak;       /* ... of an ordinary-word command */
    bool line_prose;      /* ... followed by one word of prose so far */
    size_t line_pos;
    char line_name[40];
    size_t unknown_pos;
    size_t var_pos;
} cmd_t;

static void chit(cmd_t *c, int score, const char *rule, size_t pos, const char *name)
{
    if (score <= c->score)
        return;
    c->score = score;
    c->rule = rule;
    c->pos = pos;
    snprintf(c->toks, sizeof c->toks, "%s", name ? name : "");
}

/* PowerShell Verb-Noun cmdlets that fetch or run code. */
static bool ps_cmdlet(const char *w)
{
    static const char *const verbs[] = {"invoke-", "start-process", "new-object", "get-content",
                                        "set-content", "remove-item", "get-childitem", "out-file",
                                        "set-executionpolicy", "add-mppreference", "get-wmiobject"};
    if (strlen(w) <= 7)
        return false;
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
        if (w[0] == verbs[i][0] && strncmp(w, verbs[i], strlen(verbs[i])) == 0)
            return true;
    return false;
}

static int cmd_kind(const vocab_t *v, const char *w)
{
    size_t n = strlen(w);
    const uint8_t *s = (const uint8_t *)w;
    if (n == 0)
        return K_NONE;
    if (memchr(w, '-', n) && ps_cmdlet(w))
        return K_STRONG;
    /* Tool families whose every member runs something: ansible-pull, chef-shell */
    if ((n > 8 && strncmp(w, "ansible-", 8) == 0) || (n > 5 && strncmp(w, "chef-", 5) == 0))
        return K_STRONG;
    if (!vocab_may_hold(v, V_CMD, s, n))
        return K_NONE;
    if (mm_detect_in_set(s, n, strong_cmds, sizeof strong_cmds / sizeof strong_cmds[0]))
        return K_STRONG;
    if (mm_detect_in_set(s, n, mid_cmds, sizeof mid_cmds / sizeof mid_cmds[0]))
        return K_MID;
    if (mm_detect_in_set(s, n, weak_cmds, sizeof weak_cmds / sizeof weak_cmds[0]))
        return K_WEAK;
    return K_NONE;
}

/* Does an argument look like part of a command line rather than prose? */
static bool arg_shape(const ctok_t *t)
{
    if (t->kind == C_REDIR || t->kind == C_VAR || (t->kind == C_OPEN && t->subst))
        return true;
    if (t->kind != C_WORD || t->raw_len == 0)
        return false;
    const uint8_t *r = t->raw;
    size_t n = t->raw_len;
    uint8_t c = r[0];
    if ((c == '-' || c == '/') && n >= 2 && (mm_detect_isalnum(r[1]) || r[1] == '-' || r[1] == '/' ||
                                             r[1] == '?' || r[1] == '*' || r[1] == '[' || r[1] == '.'))
        return true;
    if (c == '/' && n == 1)
        return true;
    if (c == '~' || (c == '.' && n >= 2 && (r[1] == '/' || r[1] == '.' || r[1] == '\\')))
        return true;
    if (n >= 3 && mm_detect_isalpha(c) && r[1] == ':' && (r[2] == '\\' || r[2] == '/'))
        return true;
    if (c == '\\' && n >= 2)
        return true;
    for (size_t i = 0; i + 2 < n; i++)
        if (r[i] == ':' && r[i + 1] == '/' && r[i + 2] == '/')
            return true;
    /* A relative path with a directory: etc/passwd */
    for (size_t i = 1; i + 1 < n; i++)
        if ((r[i] == '/' || r[i] == '\\') && mm_detect_isalnum(r[i - 1]) && mm_detect_isalnum(r[i + 1]))
            return true;
    if (c == '*' || c == '%' || c == '$')
        return true;
    return false;
}

/* A host name or dotted address (coreruleset.org, 10.0.0.1). */
static bool host_shape(const ctok_t *t)
{
    if (t->kind != C_WORD || t->raw_len < 4)
        return false;
    size_t dots = 0;
    for (size_t i = 0; i < t->raw_len; i++) {
        uint8_t c = t->raw[i];
        if (c == '.') {
            if (i == 0 || i + 1 == t->raw_len || !mm_detect_isalnum(t->raw[i - 1]) || !mm_detect_isalnum(t->raw[i + 1]))
                return false;
            dots++;
        } else if (!mm_detect_isalnum(c) && c != '-' && c != ':') {
            return false;
        }
    }
    return dots > 0 && mm_detect_isalpha(t->raw[t->raw_len - 1]) ? true : dots >= 3;
}

static void on_token(cmd_t *c, const ctok_t *t);

/* Copies the string src into dst of capacity cap, cut to fit (no printf:
 * this runs for every word in command position). */
static void copy_name(char *dst, size_t cap, const char *src)
{
    size_t l = strlen(src);
    if (l >= cap)
        l = cap - 1;
    memcpy(dst, src, l);
    dst[l] = 0;
}
static void hold_line(cmd_t *c, int score);
static bool prose_word(const vocab_t *v, const ctok_t *t);
static bool markdown_span(const cmd_t *c, size_t open);

/* Copies s[0..n) lowercased without quotes into w; false when it is empty,
 * too long or holds anything but name characters. */
static bool unquoted_word(const uint8_t *s, size_t n, char *w, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t ch = s[i];
        if (ch == '\'' || ch == '"')
            continue;
        if (!mm_detect_isalnum(ch) && ch != '-' && ch != '_' && ch != '.')
            return false;
        if (k + 1 >= cap)
            return false;
        w[k++] = (char)mm_detect_lower(ch);
    }
    w[k] = 0;
    return k > 0;
}

/* The command a word in command position names, beyond its normal form:
 * a version suffix (gcc7.4, python-3.11), a switch written onto it after a
 * separator (bcdboot/r, dir/s), or the value of a query-style assignment
 * (cmd=curl). Fills name; *attached says the word carries an argument. */
static int command_name(const vocab_t *v, const ctok_t *t, bool after_sep, char *name, size_t cap,
                        bool *attached)
{
    *attached = false;
    copy_name(name, cap, t->norm);
    int k = cmd_kind(v, name);
    if (k != K_NONE)
        return k;
    size_t l = strlen(name);
    if (t->has_eq) {
        const char *eq = strchr(name, '=');
        if (eq && eq > name && eq[1]) {
            memmove(name, eq + 1, strlen(eq + 1) + 1);
            k = cmd_kind(v, name);
            return k >= K_MID ? k : K_NONE;
        }
        return K_NONE;
    }
    /* A version suffix: -9, 7.4, -3.11 (not a bracket range: tr[3-7]) */
    size_t e = l;
    while (e > 2 && (mm_detect_isdigit(name[e - 1]) || name[e - 1] == '.'))
        e--;
    bool dash = e > 3 && name[e - 1] == '-';
    bool version = e < l && mm_detect_isdigit(name[e]) && mm_detect_isdigit(name[l - 1]) &&
                   (dash || memchr(name + e, '.', l - e)) && !memchr(t->raw, '[', t->raw_len);
    e -= dash;
    if (version) {
        name[e] = 0;
        k = cmd_kind(v, name);
        if (k >= K_MID)
            return k;
        name[e] = t->norm[e];
    }
    const uint8_t *sl = memchr(t->raw, '/', t->raw_len);
    if (after_sep && sl && sl - t->raw >= 2) {
        size_t sw = (size_t)(t->raw + t->raw_len - sl - 1);
        bool alpha = sw >= 1 && sw <= 2 && mm_detect_isalpha(sl[1]) && (sw == 1 || mm_detect_isalpha(sl[2]));
        if (alpha && unquoted_word(t->raw, (size_t)(sl - t->raw), name, cap)) {
            k = cmd_kind(v, name);
            if (k >= K_MID) {
                *attached = true;
                return k;
            }
        }
    }
    copy_name(name, cap, t->norm);
    return K_NONE;
}

/* Judges a command word that has just been followed by token t. */
static void judge_pending(cmd_t *c, const ctok_t *t)
{
    int k = c->pending_kind;
    c->pending_kind = K_NONE;
    bool shape = arg_shape(t) || c->pending_shape;
    if (c->pending_brace) {
        /* {cat,/etc/passwd}: bash expands the list into a command line */
        chit(c, k == K_WEAK ? 65 : 75, "brace-command", c->pending_pos, c->pending_name);
        return;
    }
    if (strcmp(c->pending_name, "alias") == 0 && t->kind == C_WORD && t->raw_len > 2) {
        /* alias x=curl: a name defined to run a command */
        const uint8_t *eq = memchr(t->raw, '=', t->raw_len);
        char w[40];
        if (eq && unquoted_word(eq + 1, (size_t)(t->raw + t->raw_len - eq - 1), w, sizeof w) &&
            cmd_kind(c->vocab, w) != K_NONE) {
            chit(c, 70, "alias-command", c->pending_pos, w);
            return;
        }
    }
    if (t->kind == C_WORD && t->raw_len > 0 && t->raw_len < 16) {
        /* A bare number (sleep 5, ping -n 3) or a known subcommand (net user). */
        bool num = true;
        for (size_t i = 0; i < t->raw_len; i++)
            num = num && mm_detect_isdigit(t->raw[i]);
        char sc[96];
        size_t pl = strlen(c->pending_name), tl = strlen(t->norm);
        memcpy(sc, c->pending_name, pl); /* both under 40 bytes: sc holds them */
        sc[pl] = ':';
        memcpy(sc + pl + 1, t->norm, tl + 1);
        size_t scl = pl + 1 + tl;
        if (vocab_may_hold(c->vocab, V_SUB, (const uint8_t *)sc, scl) &&
            mm_detect_in_set((const uint8_t *)sc, scl, sub_cmds, sizeof sub_cmds / sizeof sub_cmds[0])) {
            chit(c, 70, "command-subcommand", c->pending_pos, c->pending_name);
            return;
        }
        shape = shape || num;
    }
    /* An ordinary-word command before a substitution is prose more often
     * than not ("type `show c' for details"). */
    if (k == K_WEAK && t->kind == C_OPEN)
        shape = false;
    if (c->pending_subst && k != K_NONE) {
        /* A command name opening a substitution: `cut x`, $(dig y); but a
         * code span between words of prose is Markdown: "run `make` to build" */
        bool fin = t->kind == C_END || t->kind == C_SEP || t->kind == C_CLOSE || t->kind == C_OPEN;
        if (markdown_span(c, c->pending_open))
            chit(c, 40, "code-span", c->pending_pos, c->pending_name);
        else if (c->pending_caps)
            /* $(MAKE), `CC`: make variables; commands are lowercase where $( runs */
            chit(c, 40, "make-variable", c->pending_pos, c->pending_name);
        else
            chit(c, shape || fin || t->kind == C_WORD ? 70 : 45, "substitution-command", c->pending_pos,
                 c->pending_name);
        return;
    }
    /* A quoted argument that is itself a command line: trap 'rm -rf x'
     * (the quote goes on past the space that ended the word). */
    if (t->kind == C_WORD && t->raw_len > 2 && (t->raw[0] == '\'' || t->raw[0] == '"')) {
        size_t e = 1;
        while (e < t->raw_len && e < 32 && (mm_detect_isalnum(t->raw[e]) || t->raw[e] == '-'))
            e++;
        char w[40];
        size_t wl = e - 1 < sizeof w - 1 ? e - 1 : sizeof w - 1;
        for (size_t q = 0; q < wl; q++)
            w[q] = (char)mm_detect_lower(t->raw[1 + q]);
        w[wl] = 0;
        if (cmd_kind(c->vocab, w) >= K_MID && (e == t->raw_len || t->raw[e] == ' ') && wl >= 2)
            shape = true;
    }
    /* First in the value, a word and a colon is a phrase of prose: "curl
     * issues: see ...", "make targets: all, install". */
    if (!c->pending_sep && !c->pending_second && t->kind == C_WORD && t->raw_len >= 3 &&
        t->raw[t->raw_len - 1] == ':') {
        bool letters = true;
        for (size_t i = 0; i + 1 < t->raw_len; i++)
            letters = letters && mm_detect_isalpha(t->raw[i]);
        if (letters)
            return;
    }
    /* First in the value, a plain first argument may be a subcommand: look
     * at the next one too (ansible all -m ping). */
    if (!c->pending_sep && !shape && !host_shape(t) && k >= K_MID && t->kind == C_WORD && !c->pending_second) {
        c->pending_second = true;
        c->pending_kind = k;
        return;
    }
    c->pending_second = false;
    bool end = t->kind == C_END || t->kind == C_SEP || t->kind == C_CLOSE;
    if (c->pending_sep) {
        /* A capitalised name or a language's interpreter alone after '&' or
         * ';' is a list in prose: "Lua & Python", "I like Ruby; SSH". */
        bool named = end && !c->pending_pipe && !c->pending_lead &&
                     (c->pending_upper || mm_detect_in_set((const uint8_t *)c->pending_name, strlen(c->pending_name),
                                                           interpreters, sizeof interpreters / sizeof interpreters[0]));
        if (k == K_STRONG && named)
            chit(c, 45, "separator-name", c->pending_pos, c->pending_name);
        else if (k == K_STRONG)
            chit(c, 80, "separator-command", c->pending_pos, c->pending_name);
        else if (k == K_MID)
            chit(c, shape || end || c->pending_lead ? 75 : 40, "separator-command", c->pending_pos, c->pending_name);
        else if (shape)
            chit(c, 70, "separator-command-args", c->pending_pos, c->pending_name);
        else if (c->pending_lead && !c->pending_upper && !(t->kind == C_SEP && t->raw && t->raw[0] == '|'))
            /* The value opens with a separator and a command: ;echo x, || set */
            chit(c, 60, "leading-separator-command", c->pending_pos, c->pending_name);
        else
            chit(c, 30, "separator-word", c->pending_pos, c->pending_name);
    } else {
        /* A command line opening the value is judged once the token after
         * its first argument is seen: "rm -rf is dangerous", "ping x.com to
         * check" and "last 7 days" go on as sentences. */
        if (k == K_STRONG && (shape || host_shape(t)))
            hold_line(c, 65);
        else if (k == K_STRONG && (t->kind == C_SEP || (t->kind == C_OPEN && t->subst)))
            chit(c, 60, "command-then-separator", c->pending_pos, c->pending_name);
        else if (k == K_STRONG)
            chit(c, 35, "command-word", c->pending_pos, c->pending_name);
        else if (k == K_MID && shape)
            hold_line(c, 60);
        else if (k == K_WEAK && (shape || host_shape(t)))
            hold_line(c, 55);
    }
}

static void hold_line(cmd_t *c, int score)
{
    c->line_score = score;
    c->line_weak = c->pending_name[0] && cmd_kind(c->vocab, c->pending_name) == K_WEAK;
    c->line_prose = false;
    c->line_pos = c->pending_pos;
    copy_name(c->line_name, sizeof c->line_name, c->pending_name);
}

/* Is t a plain word of prose: lowercase or capitalised letters (an
 * apostrophe inside), and not itself a command name? */
static bool prose_word(const vocab_t *v, const ctok_t *t)
{
    char w[40];
    size_t l = t->raw_len;
    /* a sentence's punctuation may end the word: "check." */
    while (l > 2 && (t->raw[l - 1] == '.' || t->raw[l - 1] == ',' || t->raw[l - 1] == ':' || t->raw[l - 1] == '!' ||
                     t->raw[l - 1] == '?'))
        l--;
    if (t->kind != C_WORD || l < 2 || l >= sizeof w || !mm_detect_isalpha(t->raw[0]) ||
        !mm_detect_isalpha(t->raw[l - 1]))
        return false;
    for (size_t i = 0; i < l; i++) {
        if (!mm_detect_isalpha(t->raw[i]) && t->raw[i] != '\'')
            return false;
        w[i] = (char)mm_detect_lower(t->raw[i]);
    }
    w[l] = 0;
    /* "more", "last", "time": commands that are also ordinary words */
    return cmd_kind(v, w) <= K_WEAK;
}

/* Counts the plain words (2 to 32 letters, each followed by one space) that
 * end right before s[a], up to three. */
static int words_before(const uint8_t *s, size_t a)
{
    int w = 0;
    while (w < 3 && a >= 3 && s[a - 1] == ' ') {
        size_t b = a - 1;
        while (b > 0 && a - 1 - b < 33 && mm_detect_isalpha(s[b - 1]))
            b--;
        if (a - 1 - b < 2 || a - 1 - b > 32)
            break;
        w++;
        a = b;
    }
    return w;
}

/* Is the backquote at o the opener of a Markdown code span in prose ("run
 * `make install` to build", "the ``test`` command", "use `ls`.")? A word
 * must follow the closing backquotes, a word stand before the opener and
 * punctuation follow the closer, or the span end the prose. Looks at most
 * 80 bytes ahead. */
static bool code_span(const uint8_t *s, size_t n, size_t o)
{
    size_t a = o;
    while (a > 0 && o - a < 3 && s[a - 1] == '`')
        a--;
    size_t e = o + 1, lim = n - o < 80 ? n : o + 80;
    while (e < lim && s[e] != '`' && s[e] != '\'')
        e++; /* `quote' is the old typewriter style */
    /* A span left open at the end of prose (a line cut short) runs
     * nothing: an unclosed backtick is a shell syntax error. */
    if (e >= lim)
        return e == n && words_before(s, a) >= 2;
    size_t f = e;
    while (f < n && f - e < 3 && (s[f] == '`' || (f == e && s[f] == '\'')))
        f++;
    bool word_after = f + 2 < n && s[f] == ' ' && mm_detect_isalpha(s[f + 1]) && mm_detect_isalpha(s[f + 2]);
    /* after a word, or after another span and a comma: "akin to `sed`,`awk`" */
    bool word_before = (a >= 2 && s[a - 1] == ' ' && mm_detect_isalpha(s[a - 2])) ||
                       (a >= 2 && s[a - 1] == ',' && s[a - 2] == '`') ||
                       (a >= 3 && s[a - 1] == ' ' && s[a - 2] == ',' && s[a - 3] == '`');
    bool punct_after = (f < n && (s[f] == '.' || s[f] == ',' || s[f] == ':' || s[f] == ')' || s[f] == '\'')) ||
                       (f == n && s[e] == '\''); /* "hook for `make check'" */
    /* the last words of a sentence: "use `grep -E` instead of `egrep`" */
    bool ends_prose = f == n && words_before(s, a) >= 2;
    return word_after || (word_before && punct_after) || ends_prose;
}

/* Is the substitution opened at open a backquoted code span of prose? */
static bool markdown_span(const cmd_t *c, size_t open)
{
    return c->s[open] == '`' && code_span(c->s, c->n, open);
}

/* Makes the command word t (named name, of kind k) wait for its first argument. */
static void set_pending(cmd_t *c, int k, const ctok_t *t, const char *name, bool attached)
{
    c->pending_kind = k;
    c->pending_sep = c->after_sep;
    c->pending_subst = c->in_subst;
    c->pending_shape = attached;
    c->pending_brace = c->brace_list;
    c->pending_pipe = c->after_sep && c->sep_pipe;
    c->pending_open = c->open_pos;
    c->pending_lead = c->after_sep && c->sep_lead;
    c->pending_upper = false;
    c->pending_caps = t->raw_len >= 2;
    for (size_t i = 0; i < t->raw_len; i++) {
        c->pending_upper |= t->raw[i] >= 'A' && t->raw[i] <= 'Z';
        c->pending_caps &= !(t->raw[i] >= 'a' && t->raw[i] <= 'z');
    }
    c->pending_pos = t->pos;
    copy_name(c->pending_name, sizeof c->pending_name, name);
}

/* Is t an option: -x or --name? */
static bool option_shape(const ctok_t *t)
{
    const uint8_t *r = t->raw;
    if (t->kind != C_WORD || t->raw_len < 2 || r[0] != '-')
        return false;
    return mm_detect_isalpha(r[1]) || (t->raw_len >= 3 && r[1] == '-' && mm_detect_isalpha(r[2]));
}

/* Could the raw word name a program: lowercase letters, digits, '-', '_'? */
static bool program_name(const ctok_t *t)
{
    if (t->kind != C_WORD || t->raw_len < 2 || t->raw_len > 24 || !(t->raw[0] >= 'a' && t->raw[0] <= 'z'))
        return false;
    for (size_t i = 0; i < t->raw_len; i++) {
        uint8_t ch = t->raw[i];
        if (!(ch >= 'a' && ch <= 'z') && !mm_detect_isdigit(ch) && ch != '-' && ch != '_')
            return false;
    }
    return true;
}

static void on_token(cmd_t *c, const ctok_t *t)
{
    if (c->line_score) {
        /* After an ordinary-word command one word of prose ends it; after
         * another command, two in a row ("rm -rf is dangerous"). */
        if (c->line_weak && t->kind == C_OPEN && !t->subst) {
            /* "test 701 (SOCKS5) and ...": a '(' inside a simple command
             * is a shell syntax error; in prose it opens an aside */
            c->line_score = 0;
        } else if (!prose_word(c->vocab, t)) {
            chit(c, c->line_score, "command-line", c->line_pos, c->line_name);
            c->line_score = 0;
        } else if (c->line_weak || c->line_prose) {
            c->line_score = 0;
        } else {
            c->line_prose = true;
        }
    }
    if (c->pending_kind != K_NONE)
        judge_pending(c, t);
    if (c->unknown_pending) {
        /* ;lastlog -u root: a program we do not know, run with an option */
        c->unknown_pending = false;
        if (option_shape(t))
            chit(c, 55, "separator-program-option", c->unknown_pos, "?");
    }
    if (c->var_cmd && t->kind != C_VAR) {
        c->var_cmd = false;
        if (arg_shape(t) && t->kind == C_WORD && t->raw_len >= 2 && t->raw[0] == '-')
            chit(c, 60, "variable-command", c->var_pos, "$var");
    }

    bool was_subst = c->in_subst;
    if (t->kind == C_OPEN) {
        c->in_subst = t->subst;
        c->open_pos = t->pos;
        c->sep_real = false;
    }
    else if (t->kind != C_WORD || !c->at_cmd)
        c->in_subst = c->in_subst && t->kind == C_WORD && t->has_eq;
    switch (t->kind) {
    case C_SEP:
        c->at_cmd = true;
        c->after_sep = true;
        c->sep_pipe = t->raw && t->raw[0] == '|';
        c->sep_amp = t->raw && t->raw[0] == '&' && t->raw_len == 1;
        c->sep_real = true;
        c->sep_lead = c->first;
        break;
    case C_CLOSE:
        /* After a group or a substitution closes, a word is an argument
         * ("$(id) x"), or a syntax error ("(a, b) at /path" is prose). */
        c->at_cmd = false;
        break;
    case C_OPEN:
        c->at_cmd = true;
        if (t->subst) {
            c->after_sep = true;
            chit(c, 40, "substitution", t->pos, "$(");
        }
        break;
    case C_WORD: {
        if (c->batch == 1 && mm_detect_word_eq(t->raw, t->raw_len, "do"))
            chit(c, 65, "batch-for", t->pos, "for..do");
        if (c->at_cmd && t->has_eq) {
            /* NAME=value keeps command position: a=1 b=2 cmd; but a value
             * that names a command (cmd=id) is one in a query-style value. */
            c->first = false;
            char name[40];
            bool attached;
            int k = command_name(c->vocab, t, c->after_sep, name, sizeof name, &attached);
            if (k != K_NONE) {
                c->at_cmd = false;
                set_pending(c, k, t, name, false);
            }
            break;
        }
        if (c->at_cmd) {
            bool was_first = c->first;
            c->first = false;
            c->at_cmd = false;
            (void)was_first;
            if (strcmp(t->norm, "for") == 0) {
                c->batch = 3;
            } else if (strcmp(t->norm, "if") == 0) {
                c->batch = 4;
                c->if_words = 0;
            }
            size_t nl = strlen(t->norm);
            if (vocab_may_hold(c->vocab, V_PREFIX, (const uint8_t *)t->norm, nl) &&
                mm_detect_in_set((const uint8_t *)t->norm, nl, prefix_cmds, sizeof prefix_cmds / sizeof prefix_cmds[0])) {
                /* The next word is the command; judge this one too, weakly. */
                c->at_cmd = true;
                c->first = was_first;
            }
            char name[40];
            bool attached;
            int k = command_name(c->vocab, t, c->after_sep, name, sizeof name, &attached);
            /* <time>, <date>: a markup tag, not a redirection around a command */
            bool tag = t->pos > 0 && c->s[t->pos - 1] == '<' && t->pos + t->raw_len < c->n &&
                       c->s[t->pos + t->raw_len] == '>';
            if (k != K_NONE && !tag)
                set_pending(c, k, t, name, attached);
            else if (c->after_sep && c->sep_real && !c->sep_amp && program_name(t)) {
                c->unknown_pending = true;
                c->unknown_pos = t->pos;
            }
            /* Wildcards standing in for a command: /???/??t, /bin/c?t */
            if (t->raw_len >= 3 && (t->raw[0] == '/' || t->raw[0] == '\\')) {
                /* Short components only: /???/c?t, /bin/ca*, not /articles/ssh-????/ */
                size_t wild = 0, comp = 0, longest = 0;
                for (size_t i = 0; i < t->raw_len; i++) {
                    wild += t->raw[i] == '?' || t->raw[i] == '*';
                    comp = (t->raw[i] == '/' || t->raw[i] == '\\') ? 0 : comp + 1;
                    longest = comp > longest ? comp : longest;
                }
                if (longest <= 6 && (wild >= 2 || (wild >= 1 && c->after_sep)))
                    chit(c, 70, "wildcard-command", t->pos, "glob");
            }
            break;
        }
        if (c->batch == 3) {
            /* FOR /F ... or FOR %%x ... */
            c->batch = (t->raw_len >= 2 && (t->raw[0] == '/' || t->raw[0] == '%')) ? 1 : 0;
        } else if (c->batch == 4) {
            /* IF [NOT] EXIST|DEFINED|ERRORLEVEL ..., IF a == b, IF a GEQ b */
            static const char *const conds[] = {"cmdextversion", "defined", "equ", "errorlevel", "exist", "geq", "gtr", "leq", "lss", "neq"};
            bool cond = mm_detect_in_set(t->raw, t->raw_len, conds, sizeof conds / sizeof conds[0]) ||
                        memchr(t->raw, '%', t->raw_len) != NULL ||
                        (t->raw_len >= 2 && memmem(t->raw, t->raw_len, "==", 2) != NULL &&
                         c->batch_quoted);
            if (cond)
                chit(c, 60, "batch-if", t->pos, "if");
            if (cond || ++c->if_words > 3)
                c->batch = 0;
        }
        break;
    }
    case C_VAR:
        /* $c $a$b, $SHELL -c ...: a variable run as the command */
        if (c->at_cmd && c->after_sep && t->raw_len > 1 && t->raw[0] == '$' &&
            !(was_subst && markdown_span(c, c->open_pos)))
            chit(c, 60, "variable-command", t->pos, "$var"); /* not "set in `$HOME` or" */
        if (c->at_cmd && t->raw_len > 1 && t->raw[0] == '$') {
            c->var_cmd = true;
            c->var_pos = t->pos;
        }
        if (c->batch == 3)
            c->batch = 1;
        if (c->batch == 4) {
            chit(c, 60, "batch-if", t->pos, "if");
            c->batch = 0;
        }
        c->first = false;
        break;
    default:
        break;
    }
    if (t->kind != C_SEP && t->kind != C_OPEN && !(t->kind == C_WORD && c->at_cmd))
        c->after_sep = c->after_sep && t->kind == C_WORD && t->has_eq;
    if (t->kind != C_WORD)
        c->first = c->first && (t->kind == C_VAR);
}

/* After a spliced $X, does the word go on in lowercase (c$_at)? */
static bool continues_lower(const uint8_t *r, size_t j)
{
    return r[j] >= 'a' && r[j] <= 'z' && r[j - 1] == '_';
}

/* Bytes normalise() does more with than lowercase them. */
static const bool norm_special[256] = {
    ['$'] = true, ['<'] = true, ['>'] = true, ['\''] = true, ['"'] = true, ['\\'] = true,
    ['['] = true, [']'] = true, ['^'] = true, ['`'] = true, ['/'] = true, ['='] = true,
};

/* Normalises a raw word into t->norm: lowercase, quotes, backslashes and
 * brackets removed, directory prefix and .exe suffix dropped. */
static void normalise(ctok_t *t, unsigned *flags)
{
    char buf[64];
    size_t k = 0;
    const uint8_t *r = t->raw;
    size_t n = t->raw_len;
    size_t base = 0;
    t->has_eq = false;
    for (size_t i = 0; i < n && k + 1 < sizeof buf; i++) {
        uint8_t c = r[i];
        if (!norm_special[c]) {
            buf[k++] = (char)mm_detect_lower(c);
            continue;
        }
        if ((c == '$' || c == '<' || c == '>') && i + 2 < n && r[i + 1] == '(' && r[i + 2] == ')') {
            i += 2; /* an empty substitution inside a name: pi$()ng */
            continue;
        }
        if (c == '$' && i + 1 < n && (r[i + 1] == '"' || r[i + 1] == '\'')) {
            *flags |= MM_DETECT_DEC_SHELLQUOTE;
            continue; /* $"..." and $'...' are quotes too */
        }
        if (c == '\'' || c == '"' || c == '\\' || c == '[' || c == ']' || c == '^' || c == '`') {
            if (c != '\\' || i + 1 == n || r[i + 1] != '\\')
                *flags |= MM_DETECT_DEC_SHELLQUOTE;
            if (c == '\\' && k > 0 && buf[k - 1] == ':')
                base = k; /* c:\windows\... */
            continue;
        }
        if (c == '$' && i + 1 < n && (r[i + 1] == '@' || r[i + 1] == '*' || mm_detect_isdigit(r[i + 1]) ||
                                      ((r[i + 1] == '_' || r[i + 1] == '?' || r[i + 1] == '#') && k > 0))) {
            /* $@ $* $1 and bash's $_ $? $# inside a name: c$@at, c$_at, c$?at */
            *flags |= MM_DETECT_DEC_SHELLQUOTE;
            i++;
            continue;
        }
        if (c == '$' && k > 0 && i + 1 < n && (mm_detect_isalpha(r[i + 1]) || r[i + 1] == '_')) {
            /* c$_at, sh$XX, n$u: a short unset variable spliced into a name */
            size_t j = i + 1;
            while (j < n && j - i <= 3 && (mm_detect_isalnum(r[j]) || r[j] == '_'))
                j++;
            if (j - i <= 3 && (j == n || !mm_detect_isalnum(r[j]) || continues_lower(r, j))) {
                *flags |= MM_DETECT_DEC_SHELLQUOTE;
                i = j - 1;
                continue;
            }
        }
        if (c == '/')
            base = k + 1;
        if (c == '=' && k > 0 && !t->has_eq) {
            bool name = true;
            for (size_t j = base; j < k; j++)
                if (!mm_detect_isalnum((uint8_t)buf[j]) && buf[j] != '_')
                    name = false;
            t->has_eq = name;
        }
        buf[k++] = (char)mm_detect_lower(c);
    }
    buf[k] = 0;
    /* A Windows path's last component: c:\windows\system32\cmd.exe */
    for (size_t j = base; j < k; j++)
        if (r && (buf[j] == '/'))
            base = j + 1;
    const char *w = buf + base;
    size_t wl = k - base;
    if (wl > 4 && (strcmp(w + wl - 4, ".exe") == 0 || strcmp(w + wl - 4, ".com") == 0))
        wl -= 4;
    if (wl >= sizeof t->norm)
        wl = sizeof t->norm - 1;
    memcpy(t->norm, w, wl);
    t->norm[wl] = 0;
}

/* Windows-path-aware basename: the part after the last backslash when the
 * raw word starts with a drive or a backslash. */
static void windows_base(ctok_t *t)
{
    const uint8_t *r = t->raw;
    size_t n = t->raw_len;
    if (n < 3 || !((mm_detect_isalpha(r[0]) && r[1] == ':') || r[0] == '\\'))
        return;
    const uint8_t *last = NULL;
    for (size_t i = 0; i < n; i++)
        if (r[i] == '\\')
            last = r + i;
    if (!last || (size_t)(r + n - last - 1) >= sizeof t->norm)
        return;
    size_t wl = (size_t)(r + n - last - 1);
    for (size_t i = 0; i < wl; i++)
        t->norm[i] = (char)mm_detect_lower(last[1 + i]);
    t->norm[wl] = 0;
    if (wl > 4 && strcmp(t->norm + wl - 4, ".exe") == 0)
        wl -= 4;
    t->norm[wl] = 0;
}

/* A word with one apostrophe followed by one or two final letters. */
static bool contraction(const uint8_t *r, size_t n)
{
    /* Words are short: a loop beats a call of memchr() */
    const uint8_t *q = r, *end = r + n;
    while (q < end && *q != '\'')
        q++;
    if (q == end || q == r || !mm_detect_isalpha(q[-1]))
        return false;
    size_t tail = (size_t)(r + n - q - 1);
    if (tail == 0 || tail > 2 || memchr(q + 1, '\'', tail))
        return false;
    for (size_t i = 1; i <= tail; i++)
        if (!mm_detect_isalpha(q[i]))
            return false;
    return true;
}

static bool is_meta(uint8_t c)
{
    return c == ';' || c == '&' || c == '|' || c == '\n' || c == '\r' || c == '(' || c == ')' ||
           c == '<' || c == '>' || c == '`' || c == '{' || c == '}' || c == ',' ||
           mm_detect_isspace(c);
}

/* Bytes the word reader must look at: metacharacters (is_meta) and the
 * starts of escapes, substitutions and variables ('\\', '`', '$', '<', '>'). */
static const bool word_special[256] = {
    [';'] = true, ['&'] = true, ['|'] = true, ['\n'] = true, ['\r'] = true, ['('] = true,
    [')'] = true, ['<'] = true, ['>'] = true, ['`'] = true, ['{'] = true, ['}'] = true,
    [','] = true, [' '] = true, ['\t'] = true, ['\v'] = true, ['\f'] = true, ['\\'] = true,
    ['$'] = true,
};

/* Bytes code_shapes() looks at: everything else is skipped in a tight loop. */
static const bool shape_start[256] = {
    ['('] = true, ['<'] = true, ['$'] = true, ['{'] = true, ['/'] = true,
};

/* Does the lowercase word w appear at s[i], within s[0..n)? */
static bool at(const uint8_t *s, size_t n, size_t i, const char *w)
{
    size_t l = strlen(w);
    return i <= n && l <= n - i && mm_detect_word_eq(s + i, l, w);
}

/* Scans for calls of code-execution functions and template/SSI forms. */
static void code_shapes(const uint8_t *s, size_t n, cmd_t *c)
{
    for (size_t i = 0; i < n; i++) {
        while (i < n && !shape_start[s[i]])
            i++;
        if (i == n)
            break;
        uint8_t ch = s[i];
        if (ch == '(') {
            /* shellshock: () { */
            size_t j = i + 1;
            while (j < n && j - i < 4 && s[j] == ' ')
                j++;
            if (j < n && s[j] == ')') {
                j++;
                while (j < n && j - i < 8 && s[j] == ' ')
                    j++;
                if (j < n && s[j] == '{')
                    chit(c, 90, "shellshock", i, "(){");
            }
        }
        if (ch == '(' && i > 0) {
            size_t e = i;
            while (e > 0 && (s[e - 1] == ' ' || s[e - 1] == '\t'))
                e--;
            size_t b = e;
            while (b > 0 && e - b < 16 && (mm_detect_isalnum(s[b - 1]) || s[b - 1] == '_'))
                b--;
            if (e > b && (b == 0 || !mm_detect_isalnum(s[b - 1])) && vocab_may_hold(c->vocab, V_EXEC, s + b, e - b) &&
                mm_detect_in_set(s + b, e - b, exec_funcs, sizeof exec_funcs / sizeof exec_funcs[0])) {
                /* include(...) and require(...) read as prose parentheses too
                 * ("include (optional)"); they need a quote or $ inside. */
                bool strong = !(mm_detect_word_eq(s + b, e - b, "include") || mm_detect_word_eq(s + b, e - b, "require") ||
                                mm_detect_word_eq(s + b, e - b, "assert") || mm_detect_word_eq(s + b, e - b, "eval") ||
                                mm_detect_word_eq(s + b, e - b, "exec") || mm_detect_word_eq(s + b, e - b, "system"));
                bool arg = i + 1 < n && (s[i + 1] == '\'' || s[i + 1] == '"' || s[i + 1] == '$' || s[i + 1] == ')' || s[i + 1] == '`');
                if (strong || arg || e == i)
                    chit(c, 65, "exec-function", b, "call");
            }
        } else if (ch == '<' && i + 4 < n && s[i + 1] == '?') {
            if (mm_detect_word_eq(s + i + 2, 3, "php") || s[i + 2] == '=')
                chit(c, 70, "php-open", i, "<?php");
        } else if (ch == '<' && i + 5 < n && s[i + 1] == '!' && s[i + 2] == '-' && s[i + 3] == '-' && s[i + 4] == '#') {
            chit(c, 85, "ssi", i, "<!--#");
        } else if (ch == '$' && i + 1 < n && s[i + 1] == '{') {
            /* ${jndi:...} lookups, also nested ${${lower:j}ndi:...}; PHP ${@...} */
            size_t lim = i + 80 < n ? i + 80 : n;
            for (size_t k = i + 2; k + 4 < lim; k++)
                if (mm_detect_word_eq(s + k, 4, "ndi:") || (s[k] == ':' && s[k + 1] == '-')) {
                    chit(c, 80, "lookup-injection", i, "${jndi");
                    break;
                }
            if (i + 2 < n && s[i + 2] == '@')
                chit(c, 65, "php-expression", i, "${@");
        } else if (ch == '{' && i + 2 < n && (s[i + 1] == '{' || s[i + 1] == '%')) {
            /* Server-side templates: {{ x.__class__ }}, {{ f(...) }}, {% for %} */
            uint8_t close = s[i + 1] == '{' ? '}' : '%';
            size_t lim = i + 200 < n ? i + 200 : n;
            bool dunder = false, call = false, closed = false, stmt = s[i + 1] == '%';
            for (size_t k = i + 2; k + 1 < lim; k++) {
                if (s[k] == '_' && s[k + 1] == '_')
                    dunder = true;
                if (s[k] == '(' && k > 0 && (mm_detect_isalnum(s[k - 1]) || s[k - 1] == '_' || s[k - 1] == ' '))
                    call = true;
                if (s[k] == close && s[k + 1] == '}') {
                    closed = true;
                    break;
                }
            }
            if (stmt) {
                size_t k = i + 2;
                while (k < n && (s[k] == ' ' || s[k] == '-'))
                    k++;
                size_t e = k;
                while (e < n && mm_detect_isalpha(s[e]))
                    e++;
                static const char *const tags[] = {"for", "if", "import", "include", "load", "macro", "print", "set", "with"};
                stmt = mm_detect_in_set(s + k, e - k, tags, sizeof tags / sizeof tags[0]);
            }
            if (closed && (dunder || call || stmt))
                chit(c, 60, "template-injection", i, "{{");
        } else if (ch == '$' && i + 3 < n && s[i + 1] == '_' &&
                   (at(s, n, i + 2, "get") || at(s, n, i + 2, "post") || at(s, n, i + 2, "request") ||
                    at(s, n, i + 2, "server"))) {
            chit(c, 55, "php-superglobal", i, "$_GET");
        } else if (ch == '/' && i + 9 <= n && mm_detect_lower(s[i + 1]) == 'd' && (mm_detect_word_eq(s + i, 9, "/dev/tcp/") || mm_detect_word_eq(s + i, 9, "/dev/udp/"))) {
            chit(c, 85, "dev-tcp", i, "/dev/tcp");
        }
    }
}

/* Would a word token leave c as it is? So it does when the word is in no
 * command position, nothing waits for an argument, no command line or
 * batch statement is open and the flags on_token() clears after a word are
 * clear already. The tokeniser then only needs the word's end. */
static bool word_is_noop(const cmd_t *c)
{
    return !c->at_cmd && c->pending_kind == K_NONE && !c->line_score && !c->unknown_pending &&
           !c->var_cmd && c->batch == 0 && !c->in_subst && !c->after_sep;
}

/* Is r[0..n) only quotes ('' or "")? */
static bool only_quotes(const uint8_t *r, size_t n)
{
    for (size_t q = 0; q < n; q++)
        if (r[q] != '\'' && r[q] != '"')
            return false;
    return true;
}

/* Passes s[from..to) on as a variable token; returns to. */
static size_t var_token(cmd_t *c, ctok_t *t, const uint8_t *s, size_t from, size_t to)
{
    t->kind = C_VAR;
    t->raw = s + from;
    t->raw_len = to - from;
    on_token(c, t);
    return to;
}

/* Is v[0..n) a shell variable name? */
static bool plain_name(const uint8_t *v, size_t n)
{
    if (mm_detect_isdigit(v[0]))
        return false;
    for (size_t k = 0; k < n; k++)
        if (!mm_detect_isalnum(v[k]) && v[k] != '_')
            return false;
    return true;
}

/* Is v[0..n) NAME:offset:length (or NAME:offset)? */
static bool substring_expansion(const uint8_t *v, size_t n)
{
    size_t k = 0;
    while (k < n && (mm_detect_isalnum(v[k]) || v[k] == '_'))
        k++;
    if (k == 0 || k >= n || v[k] != ':' || k + 1 >= n || !mm_detect_isdigit(v[k + 1]))
        return false;
    for (k++; k < n; k++)
        if (!mm_detect_isdigit(v[k]) && v[k] != ':' && v[k] != '-' && v[k] != ' ')
            return false;
    return true;
}

/* Is s[i] == '{' a bash brace list, {a,b} with a comma and no space, closed
 * within 64 bytes? */
static bool brace_list_at(const uint8_t *s, size_t n, size_t i)
{
    bool comma = false;
    for (size_t k = i + 1; k < n && k - i < 64; k++) {
        if (s[k] == '}')
            return comma;
        if (s[k] == ',')
            comma = true;
        else if (mm_detect_isspace(s[k]) || s[k] == '{' || s[k] == ':')
            return false;
    }
    return false;
}

int mm_detect_cmdi(const uint8_t *s, size_t n, mm_detect_hit_t *hit, unsigned *flags)
{
    cmd_t c;
    memset(&c, 0, sizeof c);
    memset(hit, 0, sizeof *hit);
    c.at_cmd = true;
    c.first = true;
    c.s = s;
    c.n = n;
    /* Building the filter costs about as much as judging 250 bytes of
     * prose: only values of VOCAB_MIN_LEN bytes and more get one. */
    vocab_t vocab;
    if (n >= VOCAB_MIN_LEN) {
        vocab_init(&vocab);
        c.vocab = &vocab;
    }
    c.batch_quoted = memchr(s, '%', n) != NULL || memchr(s, '"', n) != NULL || !memchr(s, ':', n);
    ctok_t t;
    size_t i = 0;
    int brace = 0;
    unsigned ticks = 0;
    unsigned f = 0;
    /* Leading quotes and spaces belong to the context the value ends. */
    while (i < n && (s[i] == '\'' || s[i] == '"' || s[i] == ' ' || s[i] == '\t'))
        i++;
    while (i < n && c.score < 80) {
        uint8_t ch = s[i];
        if (ch == ' ' || ch == '\t' || ch == '\v' || ch == '\f') {
            i++;
            continue;
        }
        t.kind = 0;
        t.raw = NULL;
        t.raw_len = 0;
        t.norm[0] = 0;
        t.has_eq = false;
        t.subst = false;
        t.pos = i;
        if (ch == '\\' && i + 1 < n && (s[i + 1] == 'n' || s[i + 1] == 'r' || s[i + 1] == 't')) {
            /* A written-out \n (payload lists, JSON, echo -e) is a newline to
             * whatever decodes it next. */
            f |= MM_DETECT_DEC_ESCAPE;
            if (s[i + 1] == 't') {
                i += 2;
                continue;
            }
            t.kind = C_SEP;
            i += 2;
            on_token(&c, &t);
            continue;
        }
        if (ch == '\n' || ch == '\r' || ch == ';' || ch == '|' || ch == '&') {
            if (ch == '&' && i + 1 < n && s[i + 1] == '>') {
                t.kind = C_REDIR;
                i += 2;
            } else {
                t.kind = C_SEP;
                t.raw = s + i;
                t.raw_len = (i + 1 < n && s[i + 1] == ch && (ch == '|' || ch == '&')) ? 2 : 1;
                i += t.raw_len;
            }
            on_token(&c, &t);
            continue;
        }
        if (ch == '`') {
            /* Backquotes pair up: the second one closes the substitution */
            ticks++;
            t.kind = (ticks & 1) ? C_OPEN : C_CLOSE;
            t.subst = ticks & 1;
            i++;
            on_token(&c, &t);
            continue;
        }
        if (ch == '(' || ch == '{') {
            if (ch == '{') {
                brace++;
                /* A list glued to a name (SEEK_{SET,END}) expands a name, not a command */
                c.brace_list = (i == 0 || !(mm_detect_isalnum(s[i - 1]) || s[i - 1] == '_')) &&
                               brace_list_at(s, n, i);
            }
            t.kind = C_OPEN;
            t.raw = s + i;
            t.raw_len = 1;
            i++;
            on_token(&c, &t);
            continue;
        }
        if (ch == ')' || ch == '}') {
            if (ch == '}' && brace > 0)
                brace--;
            if (ch == '}')
                c.brace_list = false;
            t.kind = C_CLOSE;
            i++;
            on_token(&c, &t);
            continue;
        }
        if (ch == ',' && brace > 0) {
            i++;
            continue;
        }
        if (ch == '<' || ch == '>') {
            size_t k = i + 1;
            while (k < n && k - i < 3 && (s[k] == '<' || s[k] == '>' || s[k] == '&'))
                k++;
            if (k < n && s[k] == '(') {
                t.kind = C_OPEN;
                t.subst = true;
                i = k + 1;
            } else {
                t.kind = C_REDIR;
                i = k;
            }
            on_token(&c, &t);
            continue;
        }
        if (ch == '$' && i + 1 < n) {
            uint8_t nx = s[i + 1];
            if (nx == '(') {
                t.kind = C_OPEN;
                t.subst = true;
                i += 2;
                on_token(&c, &t);
                continue;
            }
            if (nx == '{') {
                const uint8_t *e = memchr(s + i + 2, '}', n - i - 2 < 64 ? n - i - 2 : 64);
                size_t end = e ? (size_t)(e - s) + 1 : i + 2;
                if (e && mm_detect_word_eq(s + i + 2, (size_t)(e - s) - i - 2, "ifs")) {
                    f |= MM_DETECT_DEC_SHELLQUOTE;
                    chit(&c, 60, "ifs", i, "${IFS}");
                    i = end;
                    /* ${IFS} is a word break */
                    continue;
                }
                /* ${NAME} is $NAME: it may stand in command position (${SHELL} -c) */
                if (e && e > s + i + 2 && plain_name(s + i + 2, (size_t)(e - s) - i - 2)) {
                    i = var_token(&c, &t, s, i, end);
                    continue;
                }
                /* ${NAME:n:m} cuts characters out of a variable: ${PATH:0:1} is a slash */
                if (e && substring_expansion(s + i + 2, (size_t)(e - s) - i - 2)) {
                    f |= MM_DETECT_DEC_SHELLQUOTE;
                    chit(&c, 65, "substring-expansion", i, "${:n:m}");
                }
                /* ${...} may hold a substitution (${`id`}) or a lookup
                 * (${jndi:...}): tokenise inside it. */
                t.kind = C_VAR;
                i += 2;
                brace++;
                on_token(&c, &t);
                c.at_cmd = true;
                continue;
            }
            if (i + 3 < n && mm_detect_word_eq(s + i + 1, 3, "ifs")) {
                f |= MM_DETECT_DEC_SHELLQUOTE;
                chit(&c, 60, "ifs", i, "$IFS");
                i += 4;
                if (i + 1 < n && s[i] == '$' && mm_detect_isdigit(s[i + 1]))
                    i += 2;
                continue;
            }
            if (mm_detect_isalpha(nx) || nx == '_' ||
                (nx == '0' && c.at_cmd && i + 3 < n && s[i + 2] == ' ' && s[i + 3] == '-')) {
                /* $name, and $0 (the shell itself) run with an option; not $100 */
                size_t k = i + 1;
                while (k < n && (mm_detect_isalnum(s[k]) || s[k] == '_'))
                    k++;
                i = var_token(&c, &t, s, i, k);
                continue;
            }
        }
        if (ch == '%' && i + 2 < n && (mm_detect_isalpha(s[i + 1]) || s[i + 1] == '_')) {
            /* %SYSTEMROOT% */
            size_t k = i + 1;
            while (k < n && k - i < 40 && (mm_detect_isalnum(s[k]) || s[k] == '_' || s[k] == '(' || s[k] == ')'))
                k++;
            if (k < n && s[k] == '%' && k > i + 1) {
                i = var_token(&c, &t, s, i, k + 1);
                continue;
            }
        }
        /* A word: runs to the next metacharacter; quotes and escapes inside
         * do not end it ('w'h"o"ami is whoami). */
        size_t st = i;
        while (i < n) {
            /* Most bytes of a word neither end it nor need a look around. */
            while (i < n && !word_special[s[i]])
                i++;
            if (i == n)
                break;
            uint8_t w = s[i];
            if (w == '\\' && i + 1 < n && (s[i + 1] == 'n' || s[i + 1] == 'r' || s[i + 1] == 't'))
                break;
            if (w == '\\' && i + 1 < n && s[i + 1] != '\n') {
                i += 2;
                continue;
            }
            /* Empty substitutions split a word without ending it: pi``ng, pi$()ng */
            if (i > st && ((w == '`' && i + 1 < n && s[i + 1] == '`') ||
                           ((w == '$' || w == '<' || w == '>') && i + 2 < n && s[i + 1] == '(' && s[i + 2] == ')'))) {
                f |= MM_DETECT_DEC_SHELLQUOTE;
                i += w == '`' ? 2 : 3;
                continue;
            }
            if (is_meta(w) && !(w == ',' && brace == 0))
                break;
            if (w == '$' && i + 1 < n && (s[i + 1] == '(' || s[i + 1] == '{' ))
                break;
            if (w == '$' && i + 3 < n && mm_detect_word_eq(s + i + 1, 3, "ifs"))
                break;
            i++;
        }
        if (i == st) {
            i++;
            continue;
        }
        if (word_is_noop(&c))
            continue; /* most words of prose */
        t.kind = C_WORD;
        t.raw = s + st;
        t.raw_len = i - st;
        /* Only words that can name a command (or a subcommand) need the
         * normal form; arguments are judged by their raw shape. */
        if (c.at_cmd || c.pending_kind != K_NONE) {
            normalise(&t, &f);
            if (contraction(t.raw, t.raw_len))
                t.norm[0] = 0; /* I'd, don't: prose, not w'h'o'ami */
        }
        if (only_quotes(t.raw, t.raw_len))
            continue; /* '' or "" */
        if (c.at_cmd)
            windows_base(&t);
        on_token(&c, &t);
    }
    memset(&t, 0, sizeof t);
    t.kind = C_END;
    t.pos = n;
    on_token(&c, &t);
    if (c.score < 80)
        code_shapes(s, n, &c);

    hit->score = c.score;
    hit->rule = c.rule;
    hit->pos = c.pos;
    if (c.score)
        snprintf(hit->tokens, sizeof hit->tokens, "cmd=%.30s", c.toks);
    *flags |= c.score ? f : 0;
    return c.score;
}
