package main

// TestDocs keeps README.md and docs/*.md true to the code (issue 14):
//
//   - every `pin-clientd …` command line (a fenced line or an inline code span that starts
//     with it) names a real command (and verb), and each of its flags is accepted by that
//     command's real flag set, called in-process with "-name=x -h" (so nothing runs);
//   - every flag quoted on its own (a code span starting with "-", e.g. `--json` or
//     `-n/--threads`) is accepted by some pin-clientd command, or is declared by one of the
//     repository's other programs (the desktop app, bench/relaybench, e2e/soak: read from
//     their source), or is one of the few external tools' flags listed in externalFlags;
//   - `go run ./bench/relaybench …` and `go run ./e2e/soak …` lines use their real flags;
//   - every `make <target>` exists in the Makefile (and `make run-daemon ARGS='…'` passes
//     the daemon real flags);
//   - every relative link points to an existing file, and its #anchor (if any) to a heading
//     of that file.
//
// TestDocsCheckerFindsMistakes runs the same checker on a small fixture with made-up
// flags, commands, targets and links, so the check itself is known to fail when it must.

import (
	"context"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// pendingMakeTargets are targets the docs may name before they exist, because another
// branch adds them in the same change. The lead removes an entry once that branch is
// merged; an entry whose target exists is reported, so none lingers.
var pendingMakeTargets = map[string]string{}

// hiddenVerbs are verbs the code accepts but the help does not list on purpose.
var hiddenVerbs = map[string]string{
	"service run": "what the installed unit runs (ExecStart); not for people, so not in the help",
}

// externalFlags are flags of tools that are not this repository's programs, quoted in
// the docs on their own. Keep this short: each entry says whose flag it is.
var externalFlags = map[string]string{
	"race":     "go test",
	"ldflags":  "go build",
	"X":        "go build -ldflags (the linker's -X)",
	"H":        "go build -ldflags (the linker's -H=windowsgui)",
	"parallel": "llama.cpp llama-server",
	"api-key":  "vLLM (also a pin-clientd detect/init flag)",
}

func TestDocs(t *testing.T) {
	root := filepath.Join("..", "..")
	files := []string{filepath.Join(root, "README.md")}
	more, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, more...)
	c := newDocChecker(t, root)
	for target, why := range pendingMakeTargets {
		if c.makeTargets[target] {
			t.Errorf("pendingMakeTargets: `make %s` exists now (%s); remove the entry", target, why)
		}
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, f)
		for _, p := range c.check(rel, string(data)) {
			t.Error(p)
		}
	}
	t.Logf("checked %d pin-clientd command lines, %d flags, %d make commands, %d links in %d files",
		c.commandLines, c.flagsChecked, c.makeChecked, c.linksChecked, len(files))
	if c.commandLines < 20 || c.flagsChecked < 30 || c.makeChecked < 10 || c.linksChecked < 20 {
		t.Errorf("the docs check saw too little to be trusted: %d pin-clientd command lines, %d flags, %d make commands, %d links",
			c.commandLines, c.flagsChecked, c.makeChecked, c.linksChecked)
	}
}

func TestDocsCheckerFindsMistakes(t *testing.T) {
	root := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("Makefile", "test: build ## tests\n\tgo test ./...\nbuild:\n\tgo build\nVAR := x\n")
	write("docs/page.md", "# A page\n\n## Some `code`: here\n")
	write("LICENSE", "MIT\n")

	good := "# Fixture\n\n" +
		"Run `pin-clientd status --json`, `pin-clientd secret set -c config.json`, `-n/--threads` and `--no-wait`.\n" +
		"`make test`, `make VAR=1 build`, [page](docs/page.md), [heading](docs/page.md#some-code-here), [me](#fixture), [licence](LICENSE), [web](https://example.com/x).\n\n" +
		"```sh\n$ sudo pin-clientd service install --user -c /x/config.json -n 2   # a comment --not-a-flag\n" +
		"PIN_API_SECRET=… bin/pin-clientd -c config.json -l debug --grace 5s\n" +
		"pin-clientd detect --port 11534 --json\n" +
		"some output that mentions pin-clientd --whatever is not a command line\n```\n"
	c := newDocChecker(t, root)
	if probs := c.check("README.md", good); len(probs) > 0 {
		t.Fatalf("problems in a correct fixture:\n%s", strings.Join(probs, "\n"))
	}

	bad := "# Fixture\n\n" +
		"Run `pin-clientd --made-up-flag` and `pin-clientd frobnicate`.\n" +
		"Then `pin-clientd secret frob`, `pin-clientd service stop -c config.json`, and `--also-made-up`.\n" +
		"`make nosuchtarget`, `make test -quick`, [gone](docs/missing.md), [bad anchor](docs/page.md#nope), [here](#nowhere).\n\n" +
		"```\n$ pin-clientd -c config.json -n 2 --bogus\n```\n"
	c = newDocChecker(t, root)
	probs := c.check("README.md", bad)
	want := []string{
		`--made-up-flag`,
		`unknown command "frobnicate"`,
		`secret frob`,
		`service stop: -c`,
		`--also-made-up`,
		`make nosuchtarget`,
		`-quick goes to make`,
		`docs/missing.md`,
		`#nope`,
		`#nowhere`,
		`--bogus`,
	}
	for _, w := range want {
		if !slices.ContainsFunc(probs, func(p string) bool { return strings.Contains(p, w) }) {
			t.Errorf("no problem reported for %s; got:\n%s", w, strings.Join(probs, "\n"))
		}
	}
	if len(probs) != len(want) {
		t.Errorf("%d problems, want %d:\n%s", len(probs), len(want), strings.Join(probs, "\n"))
	}
}

// docChecker checks markdown files against the real CLI, the Makefile and the file tree.
type docChecker struct {
	root        string
	makeTargets map[string]bool
	// programs: flags declared in the source of the repository's other programs.
	programs map[string]map[string]bool
	verbs    map[string][]string        // command → verbs its help lists
	accepts  map[string]map[string]bool // "cmd verb" → flag → accepted
	anchors  map[string]map[string]bool // file → anchors

	commandLines, flagsChecked, makeChecked, linksChecked int
}

func newDocChecker(t *testing.T, root string) *docChecker {
	t.Helper()
	c := &docChecker{root: root, verbs: map[string][]string{},
		accepts: map[string]map[string]bool{}, anchors: map[string]map[string]bool{}}
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	c.makeTargets = makefileTargets(string(mk))
	// The other programs are read from this repository, wherever the fixture lives.
	repo := filepath.Join("..", "..")
	c.programs = map[string]map[string]bool{
		"pin-client":         declaredFlags(t, repo),
		"./bench/relaybench": declaredFlags(t, filepath.Join(repo, "bench", "relaybench")),
		"./e2e/soak":         declaredFlags(t, filepath.Join(repo, "e2e", "soak")),
	}
	return c
}

var makeRule = regexp.MustCompile(`^([A-Za-z0-9][A-Za-z0-9_.-]*(?:[ \t]+[A-Za-z0-9][A-Za-z0-9_.-]*)*)[ \t]*:([^=]|$)`)

func makefileTargets(mk string) map[string]bool {
	targets := map[string]bool{}
	for _, line := range strings.Split(mk, "\n") {
		if m := makeRule.FindStringSubmatch(line); m != nil {
			for _, name := range strings.Fields(m[1]) {
				targets[name] = true
			}
		}
	}
	return targets
}

// declaredFlags reads the flag names a Go program in dir declares with the flag package
// (fs.StringVar(&x, "name", …), fs.Bool("name", …), fs.Var(v, "name", …), …).
func declaredFlags(t *testing.T, dir string) map[string]bool {
	t.Helper()
	nameArg := map[string]int{
		"String": 0, "Bool": 0, "Int": 0, "Int64": 0, "Uint": 0, "Uint64": 0, "Float64": 0, "Duration": 0,
		"Func": 0, "BoolFunc": 0,
		"StringVar": 1, "BoolVar": 1, "IntVar": 1, "Int64Var": 1, "UintVar": 1, "Uint64Var": 1,
		"Float64Var": 1, "DurationVar": 1, "Var": 1, "TextVar": 1,
	}
	fset := token.NewFileSet()
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no Go files in %s (%v)", dir, err)
	}
	flags := map[string]bool{}
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		if f.Name.Name != "main" {
			continue
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			i, ok := nameArg[sel.Sel.Name]
			if !ok || len(call.Args) <= i+1 {
				return true
			}
			if lit, ok := call.Args[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil && s != "" {
					flags[s] = true
				}
			}
			return true
		})
	}
	if len(flags) == 0 {
		t.Fatalf("no flags declared in %s", dir)
	}
	return flags
}

// probe runs `pin-clientd args…` in-process with a cancelled context and no real I/O,
// and returns its error and output. Only ever called with "-h" last: commands parse
// their flags before they do anything, so nothing runs.
func probe(args ...string) (string, error) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out strings.Builder
	cio := cmdIO{
		Stdin: strings.NewReader(""), Stdout: &out, Stderr: &out,
		Env:          func(string) string { return "" },
		IsTerminal:   func() bool { return false },
		ReadPassword: func() ([]byte, error) { return nil, io.EOF },
	}
	err := dispatch(ctx, args, cio)
	return out.String(), err
}

// verbsOf lists the verbs `pin-clientd cmd -h` names ("pin-clientd secret set …",
// "pin-clientd service uninstall | start | …"); none for a command without verbs.
func (c *docChecker) verbsOf(cmd string) []string {
	if v, ok := c.verbs[cmd]; ok {
		return v
	}
	help, _ := probe(cmd, "-h")
	var verbs []string
	re := regexp.MustCompile(`pin-clientd ` + regexp.QuoteMeta(cmd) + ` ([^\n]*)`)
	for _, m := range re.FindAllStringSubmatch(help, -1) {
		rest, _, _ := strings.Cut(m[1], "[")
		for _, alt := range strings.Split(rest, "|") {
			if w := strings.Fields(alt); len(w) > 0 && regexp.MustCompile(`^[a-z][a-z-]*$`).MatchString(w[0]) {
				verbs = append(verbs, w[0])
			}
		}
	}
	c.verbs[cmd] = verbs
	return verbs
}

// accepted reports whether `pin-clientd path… -name=x` parses (the flag exists there), and
// whether it is a boolean flag (which takes no separate value).
func (c *docChecker) accepted(path []string, name string) (ok, isBool bool) {
	args := append(slices.Clone(path), "-"+name+"=x", "-h")
	out, err := probe(args...)
	msg := out
	if err != nil {
		msg += err.Error()
	}
	if strings.Contains(msg, "flag provided but not defined") {
		return false, false
	}
	return true, strings.Contains(msg, "invalid boolean value")
}

// anyCommandAccepts reports whether some pin-clientd command (or verb) takes the flag.
func (c *docChecker) anyCommandAccepts(name string) bool {
	paths := [][]string{nil}
	names := make([]string, 0, len(subcommands))
	for n := range subcommands {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		verbs := c.verbsOf(n)
		if len(verbs) == 0 {
			paths = append(paths, []string{n})
		}
		for _, v := range verbs {
			paths = append(paths, []string{n, v})
		}
	}
	for _, p := range paths {
		if ok, _ := c.accepted(p, name); ok {
			return true
		}
	}
	return false
}

// shellWords splits a command line like a shell: quotes group, # starts a comment,
// and ;, &&, |, < and > end the command.
func shellWords(s string) []string {
	var words []string
	var cur strings.Builder
	inWord, angle := false, false // angle: inside a <placeholder>
	var quote rune
	flush := func() {
		if inWord {
			words = append(words, cur.String())
		}
		cur.Reset()
		inWord, angle = false, false
	}
	rs := []rune(s)
	for i, r := range rs {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case unicode.IsSpace(r):
			flush()
		case !inWord && r == '#':
			flush()
			return words
		case !inWord && r == '<' && i+1 < len(rs) && !unicode.IsSpace(rs[i+1]):
			cur.WriteRune(r)
			inWord, angle = true, true
		case angle && r == '>':
			cur.WriteRune(r)
			angle = false
		case r == ';' || r == '|' || r == '<' || r == '>' || r == '&':
			flush()
			return words
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	flush()
	return words
}

var envAssign = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

// commandOf strips a prompt, sudo and VAR=value prefixes and returns the program and
// its arguments.
func commandOf(line string) (prog string, args []string) {
	line = strings.TrimSpace(line)
	line = strings.TrimPrefix(line, "$ ")
	w := shellWords(line)
	for len(w) > 0 && (w[0] == "sudo" || envAssign.MatchString(w[0])) {
		w = w[1:]
	}
	if len(w) == 0 {
		return "", nil
	}
	prog, args = w[0], w[1:]
	if prog == "go" && len(w) >= 3 && w[1] == "run" {
		prog, args = w[2], w[3:]
		if prog == "./cmd/pin-clientd" || prog == "." {
			prog = map[string]string{".": "pin-client"}[prog] + map[string]string{"./cmd/pin-clientd": "pin-clientd"}[prog]
		}
	}
	// pin-clientd, bin/pin-clientd, /usr/bin/pin-clientd, dist/windows/pin-clientd.exe…
	// (not cmd/pin-clientd, a folder).
	switch base := strings.TrimSuffix(filepath.Base(prog), ".exe"); {
	case base != "pin-clientd" && base != "pin-client":
	case prog == base || strings.Contains(prog, "bin/") || strings.HasSuffix(prog, ".exe"):
		prog = base
	}
	return prog, args
}

func isFlag(w string) bool {
	name := strings.TrimLeft(w, "-")
	return len(name) > 0 && len(name) < len(w) && len(w)-len(name) <= 2 && unicode.IsLetter(rune(name[0]))
}

func flagName(w string) string {
	name, _, _ := strings.Cut(strings.TrimLeft(w, "-"), "=")
	return name
}

// checkDaemonLine checks one `pin-clientd …` command line.
func (c *docChecker) checkDaemonLine(where string, args []string) []string {
	c.commandLines++
	var probs []string
	var path []string
	// Brackets of a usage line ([-c config.json]) are dropped; <placeholders> are values.
	var words []string
	for _, w := range args {
		bracketed := strings.HasPrefix(w, "[")
		w = strings.Trim(w, "[]")
		if bracketed && !isFlag(w) {
			continue // `[flags]`: a placeholder
		}
		if w == "" || w == "..." || w == "…" || w == `\` {
			continue
		}
		words = append(words, w)
	}
	// `pin-clientd [flags] …` has no command; the daemon's words that follow are prose.
	if len(words) > 0 && !isFlag(words[0]) && !strings.HasPrefix(args[0], "[") {
		cmd := words[0]
		if strings.HasPrefix(cmd, "<") {
			return nil // `pin-clientd <command> [flags]`: nothing to check
		}
		if _, ok := subcommands[cmd]; !ok && cmd != "run" && cmd != "help" {
			return []string{fmt.Sprintf("%s: `pin-clientd %s`: unknown command %q (see pin-clientd -h)", where, strings.Join(args, " "), cmd)}
		}
		path, words = []string{cmd}, words[1:]
		if verbs := c.verbsOf(cmd); len(verbs) > 0 && len(words) > 0 && !isFlag(words[0]) {
			v := words[0]
			if !slices.Contains(verbs, v) && hiddenVerbs[cmd+" "+v] == "" {
				return []string{fmt.Sprintf("%s: `pin-clientd %s %s`: the help of pin-clientd %s lists no verb %q (it has %s)", where, cmd, v, cmd, v, strings.Join(verbs, ", "))}
			}
			path, words = append(path, v), words[1:]
			if slices.Equal(path, []string{"service", "run"}) && len(words) > 0 && (words[0] == "--user" || words[0] == "-user") {
				c.flagsChecked++
				words = words[1:] // serviceRun takes --user first, before its flag set
			}
		}
	}
	for i := 0; i < len(words); i++ {
		w := words[i]
		if !isFlag(w) {
			continue // a positional word or a placeholder
		}
		c.flagsChecked++
		name := flagName(w)
		ok, isBool := c.accepted(path, name)
		if !ok {
			probs = append(probs, fmt.Sprintf("%s: `pin-clientd %s: %s`: no such flag (the real flag set refuses it)", where, strings.Join(path, " "), w))
			continue
		}
		if !isBool && !strings.Contains(w, "=") {
			i++ // its value
		}
	}
	return probs
}

// checkCode checks one code line or span.
func (c *docChecker) checkCode(where, code string, span bool) []string {
	code = strings.ReplaceAll(code, `\|`, "|")
	trimmed := strings.TrimSpace(code)
	if span && isFlag(trimmed) {
		// A flag quoted on its own, e.g. `--json`, `-n/--threads`, `-c, --config <FILE>`.
		var probs []string
		for _, w := range strings.FieldsFunc(trimmed, func(r rune) bool { return unicode.IsSpace(r) || r == ',' || r == '/' }) {
			if !isFlag(w) {
				continue
			}
			c.flagsChecked++
			name := flagName(w)
			if externalFlags[name] != "" || c.declaredAnywhere(name) || c.anyCommandAccepts(name) {
				continue
			}
			probs = append(probs, fmt.Sprintf("%s: `%s`: no pin-clientd command, no program in this repository and no tool in externalFlags has the flag %s", where, trimmed, w))
		}
		return probs
	}
	prog, args := commandOf(code)
	switch prog {
	case "pin-clientd":
		return c.checkDaemonLine(where, args)
	case "make":
		return c.checkMake(where, args)
	case "pin-client", "./bench/relaybench", "./e2e/soak":
		flags := c.programs[prog]
		var probs []string
		for _, w := range args {
			if isFlag(w) {
				c.flagsChecked++
				if !flags[flagName(w)] {
					probs = append(probs, fmt.Sprintf("%s: `%s`: %s declares no flag %s", where, strings.TrimSpace(code), prog, w))
				}
			}
		}
		return probs
	}
	return nil
}

func (c *docChecker) declaredAnywhere(name string) bool {
	for _, flags := range c.programs {
		if flags[name] {
			return true
		}
	}
	return false
}

func (c *docChecker) checkMake(where string, args []string) []string {
	c.makeChecked++
	var probs []string
	for _, w := range args {
		if k, v, ok := strings.Cut(w, "="); ok && envAssign.MatchString(w) {
			// The Makefile passes these to a program: check them as its flags.
			switch {
			case k == "ARGS" && slices.Contains(args, "run-daemon"):
				probs = append(probs, c.checkDaemonLine(where+" (make run-daemon ARGS)", shellWords(v))...)
			case k == "BENCH_ARGS":
				probs = append(probs, c.checkCode(where+" (make BENCH_ARGS)", "go run ./bench/relaybench "+v, false)...)
			case k == "SOAK_ARGS":
				probs = append(probs, c.checkCode(where+" (make SOAK_ARGS)", "go run ./e2e/soak "+v, false)...)
			}
			continue
		}
		if w == "..." || w == "…" {
			continue
		}
		if strings.HasPrefix(w, "-") {
			probs = append(probs, fmt.Sprintf("%s: `make %s`: %s goes to make, not to the program; pass it in the target's variable (e.g. BENCH_ARGS=-quick)", where, strings.Join(args, " "), w))
			continue
		}
		if !c.makeTargets[w] && pendingMakeTargets[w] == "" {
			probs = append(probs, fmt.Sprintf("%s: `make %s`: the Makefile has no target %q", where, strings.Join(args, " "), w))
		}
	}
	return probs
}

var (
	fence      = regexp.MustCompile("^\\s*(```|~~~)")
	codeSpan   = regexp.MustCompile("(`+)(.+?)(`+)")
	mdLink     = regexp.MustCompile(`\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)
	htmlAnchor = regexp.MustCompile(`<a\s+(?:id|name)="([^"]+)"`)
	heading    = regexp.MustCompile(`^#{1,6}\s+(.*?)\s*#*\s*$`)
)

// check returns the problems of one markdown file (path relative to root).
func (c *docChecker) check(rel, text string) []string {
	var probs []string
	var prose []string
	c.anchors[filepath.Clean(rel)] = anchorsFromText(text)
	start := 1 // the line the paragraph in prose starts on
	flushProse := func(next int) {
		para := strings.Join(prose, " ")
		prose = prose[:0]
		where := fmt.Sprintf("%s:%d", rel, start)
		start = next
		for _, m := range codeSpan.FindAllStringSubmatch(para, -1) {
			if len(m[1]) != len(m[3]) {
				continue
			}
			probs = append(probs, c.checkCode(where, strings.TrimSpace(m[2]), true)...)
		}
		for _, m := range mdLink.FindAllStringSubmatch(codeSpan.ReplaceAllString(para, ""), -1) {
			probs = append(probs, c.checkLink(where, rel, m[1])...)
		}
	}
	inFence := false
	lines := strings.Split(text, "\n")
	for i, line := range lines {
		if fence.MatchString(line) {
			flushProse(i + 2)
			inFence = !inFence
			continue
		}
		if inFence {
			probs = append(probs, c.checkCode(fmt.Sprintf("%s:%d", rel, i+1), line, false)...)
			start = i + 2
			continue
		}
		if strings.TrimSpace(line) == "" || heading.MatchString(line) || strings.HasPrefix(strings.TrimSpace(line), "|") {
			flushProse(i + 1)
		}
		prose = append(prose, line)
		if strings.TrimSpace(line) == "" || heading.MatchString(line) || strings.HasPrefix(strings.TrimSpace(line), "|") {
			flushProse(i + 2) // a heading or a table row is a paragraph of its own
		}
	}
	flushProse(len(lines))
	return probs
}

func (c *docChecker) checkLink(where, rel, target string) []string {
	if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
		return nil
	}
	c.linksChecked++
	file, anchor, _ := strings.Cut(target, "#")
	path := filepath.Clean(rel)
	if file != "" {
		path = filepath.Join(filepath.Dir(rel), file)
		if _, err := os.Stat(filepath.Join(c.root, path)); err != nil {
			return []string{fmt.Sprintf("%s: link %s: %s does not exist", where, target, filepath.ToSlash(path))}
		}
	}
	if anchor == "" || !strings.HasSuffix(path, ".md") {
		return nil
	}
	if !c.anchorsOf(path)[anchor] {
		return []string{fmt.Sprintf("%s: link %s: %s has no heading with the anchor #%s", where, target, filepath.ToSlash(path), anchor)}
	}
	return nil
}

// anchorsOf lists the anchors GitHub makes for a markdown file's headings (lower case,
// punctuation dropped, spaces to hyphens, -1, -2… for repeats) and its <a id> tags.
func (c *docChecker) anchorsOf(path string) map[string]bool {
	if a, ok := c.anchors[path]; ok {
		return a
	}
	data, _ := os.ReadFile(filepath.Join(c.root, path))
	a := anchorsFromText(string(data))
	c.anchors[path] = a
	return a
}

func anchorsFromText(text string) map[string]bool {
	a := map[string]bool{}
	inFence := false
	for _, line := range strings.Split(text, "\n") {
		if fence.MatchString(line) {
			inFence = !inFence
			continue
		}
		if inFence {
			continue
		}
		for _, m := range htmlAnchor.FindAllStringSubmatch(line, -1) {
			a[m[1]] = true
		}
		m := heading.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		slug := githubSlug(m[1])
		s := slug
		for n := 1; a[s]; n++ {
			s = fmt.Sprintf("%s-%d", slug, n)
		}
		a[s] = true
	}
	return a
}

func githubSlug(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r) || r == '_' || r == '-':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('-')
		}
	}
	return b.String()
}
