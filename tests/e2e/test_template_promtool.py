#!/usr/bin/env python3
"""Differential test of the alert template engine against Prometheus 2.42.

Renders the same label/annotation templates with promtool (`test rules`, which
prints the annotations it got) and with our engine (tests/unit/template's
tmpl_render), and requires byte-identical results. Cases: hand-written ones
covering the language, functions and error texts, plus every annotation of the
rules corpus in ../shared/rules-corpus/ (when present). Parse errors are
compared with `promtool check rules`.
"""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

try:
    import yaml
except ImportError:  # python3-yaml is in tools/bootstrap; without it skip corpus cases
    yaml = None

BUILD = os.environ.get("MM_BUILD_ROOT", "build-test")
SHARED = os.environ.get("MM_SHARED_DIR", os.path.join(os.path.dirname(__file__), "../../../shared"))
RENDER = os.path.join(BUILD, "tests", "unit", "template", "tmpl_render")
PROMTOOL = shutil.which("promtool")

EXT_LABELS = {"cluster": "prod-eu", "region": "eu west"}
EXT_URL = "http://prom.example.com:9090/prom/"

# Each job is one alert: (labels, value as promtool's series notation, templates).
LANG = {
    "var1": '{{ $value }}|{{ .Value }}|{{ $labels.job }}|{{ .Labels.job }}|{{ $labels.nope }}|x',
    "var2": '{{ $labels }}|{{ .ExternalLabels }}|{{ $externalLabels.cluster }}|{{ $externalURL }}',
    "var3": '{{ $x := 5 }}{{ $x }} {{ $x = "s" }}{{ $x }} {{ $y := $labels.job }}{{ $y }}',
    "trim": "a  \n {{- $labels.job -}} \n  b {{- 1 }} c{{ 2 -}}  d",
    "cmt": "a{{/* comment */}}b {{- /* c2 */ -}} c",
    "if1": '{{ if gt $value 100.0 }}big{{ else if gt $value 10.0 }}mid{{ else }}small{{ end }}',
    "if2": '{{ if $labels.job }}has{{ end }}{{ if not $labels.nope }}!nope{{ end }}',
    "if3": '{{ if and $labels.job (eq $labels.job "api") }}A{{ else }}B{{ end }}',
    "with1": '{{ with $labels.instance }}inst={{ . }}{{ else }}none{{ end }}',
    "with2": '{{ with $labels.nope }}x{{ else }}empty{{ end }}',
    "range1": '{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}',
    "range2": '{{ range $labels }}{{ . }},{{ end }}',
    "range3": '{{ range $i, $v := $labels }}{{ if eq $i "job" }}{{ break }}{{ end }}{{ $i }} {{ end }}',
    "range4": '{{ range $labels }}{{ if eq . "api" }}{{ continue }}{{ end }}[{{ . }}]{{ end }}',
    "andor": '{{ and 1 0 }}|{{ and 1 2 }}|{{ or 0 "" }}|{{ or 0 "x" }}|{{ not 0 }}|{{ not "a" }}',
    "cmp": '{{ eq 1 1 2 }}{{ ne "a" "b" }}{{ lt 1 2 }}{{ le 2 2 }}{{ gt 1.5 1.2 }}{{ ge "b" "a" }}',
    "len": '{{ len $labels }}|{{ len "héllo" }}|{{ index $labels "job" }}|{{ index "abc" 1 }}',
    "print": '{{ print 1 2 "a" "b" 3 }}|{{ println 1 "a" }}|{{ print }}|{{ print nil }}',
    "printf1": '{{ printf "%5.2f|%-8s|%08.3f|%x|%X|%q|%v" 3.14159 "ab" -3.5 "hi" 255 "a\\tb" nil }}',
    "printf2": '{{ printf "%d|%s|%e|%g|%G|%E|%.0f|%.1f" 3.5 3 1234567.0 1e-7 1e21 0.0 2.5 0.25 }}',
    "printf3": '{{ printf "%d %d" 1 }}|{{ printf "%d" 1 2 }}|{{ printf "%" }}|{{ printf "%z" 1 }}',
    "printf4": '{{ printf "%.4g|%.3e|%10.4v|%+.1f|% d|%x|%o|%b|%c|%U" 123456.0 0.000123 3.14159 2.25 5 -255 8 5 65 65 }}',
    "printf5": '{{ printf "%T %T %T %T %T" 1 1.5 "x" $labels nil }}|{{ printf "%s" $labels }}',
    "printf6": '{{ printf "%5t|%-5d|%+d|%05d|%x|%X|%#x|%#o" true 42 7 -42 "héllo" 3735928559 255 8 }}',
    "printf7": '{{ printf "%6.2f%%" 12.3456 }}|{{ printf "%[2]s-%[1]s" "a" "b" }}|{{ printf "%*d" 5 3 }}',
    "printf8": '{{ printf "%v %v %v %v" 1e6 1e-5 123456.0 0.1 }}|{{ printf "%08.2f|%-8.2f|%+08.2f" 3.14159 -2.5 2.5 }}',
    "printf9": '{{ printf "%q|%q|%#q|%+q" "héllo\\x00" 65 "back`tick" "é" }}',
    "printf10": '{{ printf "%12345678d|x" 1 }}|{{ printf "%.12345678f" 1.5 }}|{{ printf "%-0+ #8.3x" 255 }}',
    "num": '{{ 1e300 }} {{ -0.0 }} {{ 5e-324 }} {{ 0.1 }} {{ 1.0 }} {{ 0x1F }} {{ 0o17 }} {{ 1_000 }} {{ \'a\' }}',
    "num2": '{{ $value }} {{ 1234567.0 }} {{ 0.00001 }} {{ 100000.0 }} {{ 1e21 }} {{ 123456789012.0 }}',
    "esc": '{{ js "<a href=\\"x\\">&\'=é\\u2028" }}|{{ html "<a href=\\"x\\">&\'" }}|{{ urlquery "a b&c/é" }}',
    "esc2": '{{ html 1 2 }}|{{ js "a" 1 }}|{{ urlquery "x" "y" }}|{{ html (safeHtml "<b>") }}',
    "esc3": '{{ js nil }}|{{ html nil 1 }}|{{ urlquery (query "tmpl_q" | sortByLabel "k" | first) }}'
            '|{{ html (query "tmpl_q" | sortByLabel "k" | first) }}|{{ query "tmpl_q" | sortByLabel "k" | first }}'
            '|{{ print (query "tmpl_q" | sortByLabel "k" | first) }}|{{ printf "%v" (args nil) }}',
    "str": '{{ title "hello wORLD foo-bar_baz" }}|{{ toUpper "héllo ß" }}|{{ toLower "ÀÉÎ Straße" }}',
    "hum": '{{ humanize 0.000012345 }}|{{ humanize1024 1048576 }}|{{ humanizeDuration 90061.5 }}'
           '|{{ humanizeDuration 0.0005 }}|{{ humanizePercentage 0.12345 }}|{{ humanize -1234 }}',
    "hum2": '{{ humanize 0 }}|{{ humanize 1 }}|{{ humanize 999.99 }}|{{ humanize 1e30 }}|{{ humanize "1e9" }}'
            '|{{ humanize1024 0.5 }}|{{ humanize1024 1e30 }}|{{ humanizeDuration -3725 }}|{{ humanizeDuration 59.999 }}',
    "hum3": '{{ $value | humanize }}|{{ $value | humanize1024 }}|{{ $value | humanizeDuration }}'
            '|{{ $value | humanizePercentage }}|{{ $value | humanizeTimestamp }}',
    "hum4": '{{ humanizeDuration "3600" }}|{{ humanizeDuration 86400 }}|{{ humanizeTimestamp 1679000000.1234 }}'
            '|{{ humanizeTimestamp 0 }}|{{ humanizeTimestamp -1.5 }}',
    "time": '{{ toTime 1679000000 }}|{{ (toTime 1679000000.5).Unix }}',
    "re": '{{ reReplaceAll "(a+)(b)?" "[$1${2}x$3]" "caaabxaa" }}|{{ match "^a.c$" "abc" }}'
          '|{{ reReplaceAll "" "-" "abc" }}|{{ reReplaceAll "a*" "-" "baaac" }}|{{ match "b" "abc" }}',
    "re2": '{{ reReplaceAll "(?P<host>[^:]+):(?P<port>\\\\d+)" "${port}@$host" "web-1:9100" }}'
           '|{{ reReplaceAll "(?i)ERROR" "E" "error Error" }}|{{ reReplaceAll "\\\\." "_" "a.b.c" }}',
    "re3": '{{ reReplaceAll "x" "$$" "axb" }}|{{ reReplaceAll "(x)" "$1a" "axb" }}|{{ reReplaceAll "(x)" "${1}a" "axb" }}',
    "host": '{{ stripPort "host:90" }}|{{ stripPort "[::1]:90" }}|{{ stripPort "a:b:c" }}|{{ stripPort "plain" }}'
            '|{{ stripDomain "foo.bar.com:90" }}|{{ stripDomain "10.0.0.1:9" }}|{{ stripDomain "foo.bar" }}'
            '|{{ stripDomain "[::1]:80" }}',
    # pathPrefix and externalURL need the manager's URL, which promtool leaves nil.
    "links": '{{ graphLink "up == 0" }}|{{ tableLink "a{b=\\"c\\"}" }}',
    "misc": '{{ parseDuration "1h30m" }}|{{ parseDuration "1d2h" }}|{{ args 1 "a" }}|{{ (args 1).arg5 }}'
            '|{{ (args 1 2).arg1 }}|{{ strvalue (first (sortByLabel "k" (query "tmpl_q"))) }}',
    "pipe": '{{ $value | printf "%.2f" }}|{{ "x" | printf "%s-%s" "y" }}|{{ 3 | printf "%d" }}',
    "dot": '{{ . }}',
    "nested": '{{ with $labels }}{{ .job }}{{ with .instance }}@{{ . }}{{ end }}{{ end }}',
    "paren": '{{ (printf "%s" "x") }}{{ (len "ab") }}{{ printf "%d" (len $labels) }}',
    "query1": '{{ range sortByLabel "k" (query "tmpl_q") }}{{ .Labels.k }}={{ .Value }};{{ end }}',
    "query2": '{{ with sortByLabel "k" (query "tmpl_q") }}{{ . | first | value | humanize }}|{{ . | first | label "k" }}{{ end }}',
    "query3": '{{ range $i, $s := sortByLabel "k" (query "tmpl_q") }}{{ $i }}:{{ $s.Labels.k }} {{ end }}',
    "query4": '{{ range query "tmpl_none" }}x{{ else }}empty{{ end }}|{{ len (query "tmpl_q") }}',
    "query5": '{{ (query "tmpl_q" | sortByLabel "k" | first).Labels.k }}|{{ index (sortByLabel "k" (query "tmpl_q")) 1 | value }}',
    "err1": '{{ if gt $value 1 }}x{{ end }}',
    "err2": '{{ humanize "abc" }}',
    "err3": '{{ $labels.job.x }}',
    "err4": '{{ first (query "tmpl_none") }}',
    "err5": '{{ index $labels 1 }}',
    "err6": '{{ len 3 }}',
    "err7": '{{ printf 1 }}',
    "err8": '{{ humanize }}',
    "err9": '{{ label "a" 1 }}',
    "err10": '{{ $value.Foo }}',
    "err11": '{{ .Nope }}',
    "err12": '{{ reReplaceAll "(" "x" "y" }}',
    "err13": '{{ match "(" "y" }}',
    "err14": '{{ range 5 }}x{{ end }}',
    "err15": '{{ 1 2 }}',
    "err16": '{{ humanize true }}',
    "err17": '{{ lt true false }}',
    "err18": '{{ eq $labels 1 }}',
    "err19": '{{ parseDuration "5x" }}',
    "err20": '{{ toTime "x" }}',
    "err21": "line1\nline2 {{ humanize \"q\" }}",
    "err22": '{{ index "abc" 3 }}',
    "err23": '{{ value nil }}',
    "err24": '{{ query "tmpl_none" | first | printf "%v" }}',
    "err25": '{{ printf "%s" (humanize "zz") }}',
    "err26": '{{ eq $labels $labels }}',
    "err27": '{{ template "x" }}',
    "err28": '{{ lt $labels 1 }}',
    "err29": '{{ len nil }}|',
    "err30": '{{ index nil 1 }}',
    "err31": '{{ range $i, $e := "abc" }}{{ end }}',
    "iface1": '{{ range args nil 1 }}{{ . }},{{ end }}|{{ index (args (args 1)) "arg0" "arg0" }}|{{ range $k, $v := args "a" }}{{ $k }}={{ $v }}{{ end }}',
    "iface2": '{{ (args 1).arg5.x }}',
    "iface3": '{{ range args "s" }}{{ .x }}{{ end }}',
    "iface4": '{{ index (args 1) "arg7" "x" }}',
    "iface5": '{{ range args nil }}{{ printf "%s" . }}{{ len . }}{{ end }}',
    "eq2": '{{ eq (query "tmpl_q" | first) (query "tmpl_q" | first) }}|{{ eq nil nil }}|{{ eq $labels.job nil }}',
    "def1": '{{ define "x" }}X{{ . }}{{ end }}{{ template "x" }}|{{ template "x" 5 }}|{{ block "b" $value }}<{{ . }}>{{ end }}',
    "def2": '{{ define "y" }}{{ .job }}{{ end }}{{ template "y" $labels }}',
    "slice": '{{ slice "abcdef" 1 3 }}|{{ slice (query "tmpl_q") 0 1 | len }}|{{ slice "abc" 1 }}',
    "time3": '{{ (toTime 1679000000.123).Format "2006-01-02T15:04:05.000Z07:00 Mon Jan _2 3:4:5 PM 06 002 .999 -0700 MST January Monday" }}'
             '|{{ (toTime 1e9).Year }} {{ (toTime 1e9).YearDay }} {{ (toTime 1e9).Nanosecond }}|{{ "2006" | (toTime 1e9).Format }}'
             '|{{ ($value | toTime).Format "Jan 2, 2006 at 3:04pm (MST) .000000 ,999" }}',
    "time2": '{{ (toTime 1e9).Unix }}|{{ (toTime 1e9).UnixMilli }}|{{ printf "%v|%s" (toTime 1e9) (toTime 1e9) }}',
}

PARSE_ERRORS = [
    "{{ foo }}", "{{ if }}x", "{{ end }}", "{{ else }}", "{{ if 1 }}x", "{{ $x }}", "{{ 1 | 2 }}",
    "{{ \"abc }}", "{{ `abc }}", "{{ 'ab' }}", "{{ @ }}", "{{ 1.2.3 }}", "{{ ( }}", "{{ ) }}",
    "{{ $x := }}", "{{ range $a, $b, $c := . }}{{ end }}", "{{ break }}", "{{/* x */ 1 }}",
    "{{/* x", "{{ .a.b.c", "{{ with $x := 1 }}{{ end }}{{ $x }}", "a\nb\n{{ nope }}",
    "{{ 12345678901234567890 }}", "{{ \"a\".x }}", "{{ x- }}", "{{ $a := 1 }}{{ $a ", "{{ printf }",
    "{{ if 1 }}{{ else }}{{ else }}{{ end }}", "{{ -}}", "{{ 0x }}", "{{ \"\\q\" }}",
    "{{ continue }}", "{{ range . }}{{ else if 1 }}{{ end }}", "{{ template \"x\" }}",
    "{{ len 1 2 3 4 5 6 7 8 9 10 11 }}}", "{{ . | | }}", "{{ $x = 1 }}",
]

JOBS = [
    ({"job": "api", "instance": "web-1.example.com:9100", "severity": "critical"}, "1234.5678"),
    ({"job": "db", "instance": "10.0.0.7:5432"}, "0.000123"),
    ({"job": "x", "instance": "h"}, "1234567"),
    ({"job": "y"}, "-42"),
    ({"job": "z", "instance": "[::1]:80"}, "0"),
    ({"job": "n"}, "NaN"),
    ({"job": "i"}, "+Inf"),
    ({"job": "big"}, "123456789012345678"),
    ({"job": "small"}, "1e-300"),
    ({"job": "frac", "instance": "a.b.c"}, "0.5"),
    ({"job": "pct"}, "0.98765"),
    ({"job": "ts"}, "1700000000.987"),
]

# The order a query returns is the PromQL engine's business (and not stable in
# promtool), so cases that depend on it sort by label first.
QUERY_SERIES = [({"k": "b"}, 2.5), ({"k": "a", "__value__": "va"}, 1e6), ({"k": "c"}, -3.0)]


def random_jobs(seed, count):
    """Random values and number-formatting templates (printf verbs, flags, width,
    precision; humanize*): the part of Go's fmt most annotations depend on."""
    import random
    rnd = random.Random(seed)
    jobs = []
    for _ in range(count):
        kind = rnd.randrange(8)
        if kind == 0:
            v = float(rnd.randrange(-10**6, 10**6))
        elif kind == 1:
            v = rnd.randrange(-2000, 2000) / 8.0  # exact binary halves and eighths: rounding ties
        elif kind == 2:
            v = rnd.uniform(-1, 1) * 10 ** rnd.randrange(-30, 30)
        elif kind == 3:
            v = rnd.uniform(0, 2e9)  # timestamps and durations
        elif kind == 4:
            v = float(rnd.choice([0, 1, -1, 0.5, 1e21, 1e20, 999999, 1e6, 123456, 1234567, 0.0001, 0.00001]))
        elif kind == 5:
            v = rnd.uniform(0, 1)  # ratios
        elif kind == 6:
            v = float(rnd.randrange(0, 2**53))
        else:
            v = rnd.uniform(-1e300, 1e300)
        parts = ["{{ $value }}", "{{ $value | humanize }}", "{{ $value | humanize1024 }}",
                 "{{ $value | humanizePercentage }}", "{{ $value | humanizeDuration }}"]
        if abs(v) < 9e9:
            parts.append("{{ $value | humanizeTimestamp }}")
        for _ in range(12):
            verb = rnd.choice("vfeEgGFdsx")
            flags = "".join(rnd.sample("+- 0", rnd.randrange(3)))
            width = str(rnd.randrange(1, 25)) if rnd.random() < 0.5 else ""
            prec = "." + str(rnd.randrange(0, 18)) if rnd.random() < 0.6 else ""
            parts.append('{{ printf "%%%s%s%s%s" $value }}' % (flags, width, prec, verb))
        i = rnd.randrange(-10**9, 10**9)
        verb = rnd.choice("dvxXobcqU")
        parts.append('{{ printf "%%%s%s" %d }}' % (rnd.choice(["", "+", "-8", "08", " ", "#", ".3"]), verb, i))
        jobs.append(({"job": "rnd"}, repr(v), {"r": "|".join(parts)}))
    return jobs


ALPHABET = (list("abcXYZ019 _-.:/@%&<>='\"\\{}()[]|$^*+?") +
            ["\t", "\n", "\x01", "\x7f", "é", "ß", "Ä", "ÿ", "ŀ", "İ", "ı", "ſ", "Σ", "ς", "ά", "ж", "Ё",
             "ѣ", "ǅ", "ǆ", "µ", "ﬁ", "中", "文", "😀", "\u00a0", "\u00ad", "\u2028", "\u200b", "\ufeff",
             "\u0301", "Ω", "ⅷ", "Ⓐ", "Ꭰ", "ꭰ", "Ա", "ա", "ɐ", "Ɐ", "ᾳ", "ǰ", "\U0001d400", "\ue000"])


def go_literal(text):
    out = []
    for ch in text:
        o = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 0x20 <= o < 0x7f:
            out.append(ch)
        elif o < 0x10000:
            out.append("\\u%04x" % o)
        else:
            out.append("\\U%08x" % o)
    return '"' + "".join(out) + '"'


def random_string_jobs(seed, count):
    """Random strings through the string functions: case mapping, escapers, quoting,
    hosts and regexes, where Unicode tables and Go's escaping rules matter."""
    import random
    rnd = random.Random(seed)
    jobs = []
    for _ in range(count):
        parts = []
        for _ in range(8):
            lit = go_literal("".join(rnd.choice(ALPHABET) for _ in range(rnd.randrange(0, 12))))
            fn = rnd.choice(["toUpper", "toLower", "title", "js", "html", "urlquery", "len", "stripPort",
                             "stripDomain", "printf \"%q\"", "printf \"%+q\"", "printf \"%x\"",
                             "printf \"%-8.3s|\"", "printf \"%#q\"", "graphLink", "print", "humanize"])
            parts.append("{{ %s %s }}" % (fn, lit))
        host = rnd.choice(["h", "h.example.org", "10.1.2.3", "::1", "[::1]", "[fe80::1]", "a:b", ""])
        port = rnd.choice(["", ":9100", ":", ":x"])
        parts.append("{{ stripPort %s }}/{{ stripDomain %s }}" % (go_literal(host + port), go_literal(host + port)))
        pat = rnd.choice(["a", "[a-c]+", "(?i)X", "^.", ".$", "\\d+", "(\\w)(\\w)?", "", "é|ß", "\\s", "[^a]",
                          "(?:ab)*", "\\b", "x*", "\\pL+", "[[:alpha:]]+", "\\.", "a{2}", "(?s).+"])
        subj = "".join(rnd.choice(ALPHABET) for _ in range(rnd.randrange(0, 10)))
        repl = rnd.choice(["-", "$1", "${1}x", "$2$1", "[$0]", "$$", "$x", "${", ""])
        parts.append("{{ match %s %s }}|{{ reReplaceAll %s %s %s }}" % (
            go_literal(pat), go_literal(subj), go_literal(pat), go_literal(repl), go_literal(subj)))
        jobs.append(({"job": "str"}, "1", {"s": "\u241e".join(parts)}))
    return jobs


ARITY = {"and": 2, "or": 2, "not": 1, "len": 1, "index": 2, "slice": 2, "print": 2, "printf": 2, "println": 1,
         "html": 1, "js": 1, "urlquery": 1, "eq": 2, "ne": 2, "lt": 2, "le": 2, "gt": 2, "ge": 2, "first": 1,
         "label": 2, "value": 1, "strvalue": 1, "args": 2, "reReplaceAll": 3, "match": 2, "sortByLabel": 2}
FUNCS = ["and", "or", "not", "len", "index", "slice", "print", "printf", "println", "html", "js",
         "urlquery", "eq", "ne", "lt", "le", "gt", "ge", "first", "label", "value", "strvalue", "args",
         "reReplaceAll", "safeHtml", "match", "title", "toUpper", "toLower", "graphLink", "tableLink",
         "sortByLabel", "stripPort", "stripDomain", "humanize", "humanize1024", "humanizeDuration",
         "humanizePercentage", "humanizeTimestamp", "toTime", "parseDuration"]


def random_struct_jobs(seed, count):
    """Random but well-formed templates: nested actions, pipelines, variables and
    calls with random arguments, so argument checks, truth, comparisons, printing
    and error texts with their positions are compared too."""
    import random
    rnd = random.Random(seed)

    def literal():
        return rnd.choice(['1', '0', '-3', '2.5', '1e3', '"job"', '"a b"', '""', '"12.5"', 'true', 'false',
                           'nil', "'x'", '`raw`', '"%d-%s"', '"(a)"', '"1h"', '0x10'])

    def operand(vars_, depth):
        r = rnd.random()
        if r < 0.25:
            return literal()
        if r < 0.45:
            return rnd.choice(["$value", "$labels", "$labels.job", "$labels.instance", "$labels.nope",
                               ".Labels.job", ".Value", "$externalLabels", "$externalURL", ".",
                               "$externalLabels.cluster"] + vars_)
        if depth > 2:
            return literal()
        return "(" + pipeline(vars_, depth + 1) + ")"

    def nargs(fn, piped):
        if rnd.random() < 0.15:
            return rnd.choice([0, 1, 2, 3])
        return max(ARITY.get(fn, 1) - (1 if piped else 0), 0)

    def command(vars_, depth):
        if rnd.random() < 0.3:
            return operand(vars_, depth)
        fn = rnd.choice(FUNCS)
        args = [operand(vars_, depth) for _ in range(nargs(fn, False))]
        return " ".join([fn] + args)

    def pipeline(vars_, depth):
        cmds = [command(vars_, depth)]
        while rnd.random() < 0.3:
            fn = rnd.choice(FUNCS)
            args = [operand(vars_, depth) for _ in range(nargs(fn, True))]
            cmds.append(" ".join([fn] + args))
        return " | ".join(cmds)

    def block(vars_, depth):
        out = []
        vars_ = list(vars_)
        for _ in range(rnd.randrange(1, 4)):
            r = rnd.random()
            lt = "{{- " if rnd.random() < 0.2 else "{{ "
            rt = " -}}" if rnd.random() < 0.2 else " }}"
            if r < 0.25:
                out.append(rnd.choice(["x", " ", "\n", "|", "  a  "]))
            elif r < 0.55 or depth > 2:
                out.append(lt + pipeline(vars_, depth) + rt)
            elif r < 0.65:
                name = "$v%d" % len(vars_)
                out.append(lt + name + " := " + pipeline(vars_, depth) + rt)
                vars_.append(name)
            else:
                kw = rnd.choice(["if", "with", "range"])
                head = pipeline(vars_, depth)
                inner_vars = vars_
                if kw == "range" and rnd.random() < 0.5:
                    head = "$k, $e := " + head
                    inner_vars = vars_ + ["$k", "$e"]
                body = block(inner_vars, depth + 1)
                alt = ("{{ else }}" + block(vars_, depth + 1)) if rnd.random() < 0.4 else ""
                out.append(lt + kw + " " + head + rt + body + alt + "{{ end }}")
        return "".join(out)

    jobs = []
    for _ in range(count):
        templates = {"t%d" % i: block([], 0) for i in range(10)}
        jobs.append(({"job": "api", "instance": "h.example.com:9100"}, rnd.choice(["3.5", "0", "-1", "1e6"]),
                     templates))
    return jobs


def go_unquote(s, i):
    """Decodes a Go strconv.Quote'd string starting at s[i] == '"'; returns (bytes, next index)."""
    assert s[i] == '"', s[i:i + 20]
    i += 1
    out = bytearray()
    simple = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92, '"': 34, "'": 39}
    while s[i] != '"':
        c = s[i]
        if c != "\\":
            out += c.encode("utf-8", "surrogateescape")
            i += 1
            continue
        d = s[i + 1]
        if d in simple:
            out.append(simple[d])
            i += 2
        elif d == "x":
            out.append(int(s[i + 2:i + 4], 16))
            i += 4
        elif d == "u":
            out += chr(int(s[i + 2:i + 6], 16)).encode("utf-8", "surrogatepass")
            i += 6
        elif d == "U":
            out += chr(int(s[i + 2:i + 10], 16)).encode("utf-8")
            i += 10
        else:
            out.append(int(s[i + 1:i + 4], 8))
            i += 4
    return bytes(out), i + 1


def parse_got(text):
    """Maps alertname -> {annotation: bytes} from promtool test rules' failure output."""
    res = {}
    for m in re.finditer(r"alertname: (\S+), time: ", text):
        name = m.group(1)
        j = text.find("Annotations:{", m.end())
        if j < 0:
            continue
        i = j + len("Annotations:{")
        ann = {}
        while text[i] != "}":
            k = re.match(r"([A-Za-z0-9_]+)=", text[i:])
            key = k.group(1)
            val, i = go_unquote(text, i + len(k.group(0)))
            ann[key] = val
            if text[i] == ",":
                i += 2
        res[name] = ann
    return res


def series_str(name, labels):
    parts = ['%s="%s"' % (k, v.replace("\\", "\\\\").replace('"', '\\"')) for k, v in sorted(labels.items())]
    return "%s{%s}" % (name, ",".join(parts))


def corpus_templates():
    """Every annotation and label template of the corpus that does not call query."""
    out = {}
    if yaml is None or not os.path.isdir(os.path.join(SHARED, "rules-corpus")):
        return out
    n = 0
    for path in sorted(glob.glob(os.path.join(SHARED, "rules-corpus", "**", "*.y*ml"), recursive=True)):
        try:
            doc = yaml.safe_load(open(path, encoding="utf-8"))
        except Exception:
            continue
        if not isinstance(doc, dict):
            continue
        for g in doc.get("groups") or []:
            for r in g.get("rules") or []:
                if "alert" not in r:
                    continue
                for part in ("annotations", "labels"):
                    for k, v in (r.get(part) or {}).items():
                        if not isinstance(v, str) or "{{" not in v or "query" in v:
                            continue
                        n += 1
                        out["c%d" % n] = v
    return out


def label_names(templates):
    names = set()
    for t in templates.values():
        names.update(re.findall(r"\$labels\.([A-Za-z_][A-Za-z0-9_]*)", t))
        names.update(re.findall(r"\.Labels\.([A-Za-z_][A-Za-z0-9_]*)", t))
    return names


def run_promtool_rules(tmp, jobs):
    rules = {"groups": [{"name": "g", "rules": []}]}
    tests = {"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": [{
        "interval": "1m", "external_labels": EXT_LABELS, "external_url": EXT_URL,
        "input_series": [], "alert_rule_test": []}]}
    t = tests["tests"][0]
    for q in QUERY_SERIES:
        t["input_series"].append({"series": series_str("tmpl_q", q[0]), "values": repr(q[1])})
    for idx, labels, value, templates in jobs:
        alert = "J%d" % idx
        rules["groups"][0]["rules"].append({"alert": alert, "expr": "tmpl_j%d" % idx, "annotations": templates})
        t["input_series"].append({"series": series_str("tmpl_j%d" % idx, labels), "values": value})
        t["alert_rule_test"].append({"eval_time": "0m", "alertname": alert, "exp_alerts": []})
    with open(os.path.join(tmp, "rules.yml"), "w", encoding="utf-8") as f:
        json.dump(rules, f, ensure_ascii=False)
    with open(os.path.join(tmp, "test.yml"), "w", encoding="utf-8") as f:
        json.dump(tests, f, ensure_ascii=False)
    p = subprocess.run([PROMTOOL, "test", "rules", "test.yml"], cwd=tmp, capture_output=True, text=True,
                       errors="surrogateescape")
    got = parse_got(p.stdout + p.stderr)
    if not got:
        print(p.stdout[-3000:], p.stderr[-3000:])
    return got


def run_ours_batch(tmp, jobs):
    """Renders [(idx, labels, value, templates)] in one tmpl_render run."""
    batch = []
    for idx, labels, value, templates in jobs:
        batch.append({"alert": "J%d" % idx, "value": value, "labels": dict(labels, __name__="tmpl_j%d" % idx),
                      "external_labels": EXT_LABELS, "external_url": EXT_URL, "templates": templates,
                      "queries": {"tmpl_q": [{"labels": dict(l, __name__="tmpl_q"), "value": v}
                                             for l, v in QUERY_SERIES], "tmpl_none": []}})
    path = os.path.join(tmp, "jobs.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(batch, f)
    p = subprocess.run([RENDER, path], capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit("tmpl_render failed: %s" % p.stderr)
    return [{k: bytes.fromhex(v) for k, v in r.items()} for r in json.loads(p.stdout)]


def run_ours(tmp, idx, labels, value, templates):
    return run_ours_batch(tmp, [(idx, labels, value, templates)])[0]


def random_token_soups(seed, count):
    """Random token sequences: most fail to parse, and each failure's text must match."""
    import random
    rnd = random.Random(seed)
    toks = ["{{", "}}", "{{- ", " -}}", " ", "\n", "$x", "$", ":=", "=", "|", "(", ")", '"a"', "`b`", "'c'",
            "if", "else", "end", "range", "with", "break", "continue", "define", "template", "block",
            "$labels", ".", ".Labels", ".job", "printf", "1", "1.5", "-", "/*", "*/", "nil", "true",
            "humanize", "index", "$value", ",", "@", "x", "0x", "1e", '"\\q"', "{{/*", "*/}}", "$x :=",
            "nope", "\"", "'", "`"]
    inner = [t for t in toks if "{{" not in t and "}}" not in t]
    out = []
    for _ in range(count):
        text = ""
        for _ in range(rnd.randrange(1, 4)):
            r = rnd.random()
            if r < 0.2:
                text += "".join(rnd.choice(toks) for _ in range(rnd.randrange(1, 6)))
            else:
                body = " ".join(rnd.choice(inner) for _ in range(rnd.randrange(0, 6)))
                text += rnd.choice(["{{", "{{ ", "{{- "]) + body + ("" if r > 0.95 else rnd.choice(["}}", " }}", " -}}"]))
        out.append(text)
    return out


def check_parse_errors(tmp):
    cases = PARSE_ERRORS + random_token_soups(int(os.environ.get("MM_TMPL_SEED", "42")),
                                              int(os.environ.get("MM_TMPL_RANDOM_JOBS", "150")) * 2)
    files = []
    for i, text in enumerate(cases):
        path = os.path.join(tmp, "p%d.yml" % i)
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"groups": [{"name": "g", "rules": [{"alert": "P", "expr": "m",
                                                              "annotations": {"a": text}}]}]}, f)
        files.append("p%d.yml" % i)
    p = subprocess.run([PROMTOOL, "check", "rules"] + files, cwd=tmp, capture_output=True, text=True)
    theirs = {}
    for m in re.finditer(r'^p(\d+)\.yml: group "g", rule 1, "P": annotation "a": (.*)$',
                         p.stdout + p.stderr, re.M):
        theirs[int(m.group(1))] = m.group(2)
    ours = run_ours(tmp, 0, {}, "1", {"p%d" % i: t for i, t in enumerate(cases)})
    bad = 0
    prefix = b"<error expanding template: error parsing template __alert_J0: "
    for i, text in enumerate(cases):
        o = ours["p%d" % i]
        o = o[len(prefix):-1].decode() if o.startswith(prefix) else "(parsed: %r)" % o
        t = theirs.get(i, "(accepted)").replace("__alert_P", "__alert_J0")
        if t == "(accepted)" and o.startswith("(parsed: "):
            continue  # both parse it (its error, if any, comes at execution)
        if o != t:
            bad += 1
            print("PARSE MISMATCH %r\n  promtool: %s\n  ours:     %s" % (text, t, o))
    return len(cases), bad


def main():
    if not PROMTOOL:
        print("SKIP: promtool not installed")
        return 77
    if not os.path.exists(RENDER):
        print("SKIP: %s not built" % RENDER)
        return 77
    corpus = corpus_templates()
    if not corpus:
        print("SKIPPED part: rules-corpus templates (%s/rules-corpus or python3-yaml missing)" % SHARED)
    tmp = tempfile.mkdtemp(prefix="mm-tmpl-")
    try:
        jobs = []
        for labels, value in JOBS:
            jobs.append((labels, value, dict(LANG)))
        jobs += random_jobs(int(os.environ.get("MM_TMPL_SEED", "42")),
                            int(os.environ.get("MM_TMPL_RANDOM_JOBS", "150")))
        jobs += random_struct_jobs(int(os.environ.get("MM_TMPL_SEED", "42")),
                                   int(os.environ.get("MM_TMPL_RANDOM_JOBS", "150")) // 5)
        jobs += random_string_jobs(int(os.environ.get("MM_TMPL_SEED", "42")),
                                   int(os.environ.get("MM_TMPL_RANDOM_JOBS", "150")))
        if corpus:
            names = sorted(label_names(corpus))
            for v in ("97.53", "0.0421", "123456789"):
                labels = {n: "%s-val" % n for n in names}
                labels["instance"] = "node-1.example.com:9100"
                jobs.append((labels, v, corpus))
        # promtool slows down more than linearly with huge rule files: one run for
        # the small jobs, one per corpus-wide job.
        indexed = [(i, l, v, t) for i, (l, v, t) in enumerate(jobs)]
        small = [j for j in indexed if len(j[3]) < 500]
        got = run_promtool_rules(tmp, small)
        for j in indexed:
            if len(j[3]) >= 500:
                got.update(run_promtool_rules(tmp, [j]))
        total = bad = 0
        all_ours = run_ours_batch(tmp, [(i, l, v, t) for i, (l, v, t) in enumerate(jobs)])
        for idx, (labels, value, templates) in enumerate(jobs):
            theirs = got.get("J%d" % idx)
            if theirs is None:
                print("no promtool result for job %d" % idx)
                bad += 1
                continue
            ours = all_ours[idx]
            for k in sorted(templates):
                total += 1
                if ours.get(k) != theirs.get(k):
                    bad += 1
                    print("MISMATCH job %d (%s) %s: %r\n  promtool: %r\n  ours:     %r" % (
                        idx, value, k, templates[k], theirs.get(k), ours.get(k)))
        ptotal, pbad = check_parse_errors(tmp)
        print("templates: %d rendered, %d differ; corpus templates: %d; parse errors: %d, %d differ" % (
            total, bad, len(corpus), ptotal, pbad))
        return 1 if bad or pbad else 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
