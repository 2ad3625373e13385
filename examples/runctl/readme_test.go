package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// block is one fenced code block of the README.
type block struct {
	lang string
	line int // of the opening fence, 1-based
	body string
}

func readmeBlocks(t *testing.T, lang ...string) []block {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot(t), "README.md"))
	require.NoError(t, err)
	defer f.Close()

	var (
		out []block
		cur *block
		n   int
	)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		n++
		line := sc.Text()
		switch {
		case cur == nil && strings.HasPrefix(line, "```"):
			cur = &block{lang: strings.TrimSpace(strings.TrimPrefix(line, "```")), line: n}
		case cur != nil && strings.TrimSpace(line) == "```":
			if len(lang) == 0 || slicesContains(lang, cur.lang) {
				out = append(out, *cur)
			}
			cur = nil
		case cur != nil:
			cur.body += line + "\n"
		}
	}
	require.NoError(t, sc.Err())
	require.Nil(t, cur, "README.md ends inside a code block")
	return out
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

var shellLangs = []string{"sh", "bash", "shell", "console"}

const goRunCLI = "go run ./examples/runctl"

// TestREADMEFirstCommand runs the README's first command, the one a newcomer
// runs first, from the repository root with the built binary in place of
// go run, and checks that it shows every step of the run.
func TestREADMEFirstCommand(t *testing.T) {
	t.Parallel()
	blocks := readmeBlocks(t, shellLangs...)
	require.NotEmpty(t, blocks, "README.md has no shell block")
	first := strings.TrimSpace(strings.SplitN(blocks[0].body, "\n", 2)[0])
	require.True(t, strings.HasPrefix(first, goRunCLI+" "), "the first command runs the CLI: %q", first)
	epochs := 10 // train.py's default
	if m := regexp.MustCompile(`--epochs[ =](\d+)`).FindStringSubmatch(first); m != nil {
		epochs, _ = strconv.Atoi(m[1])
	}

	dir := sandboxDir(t)
	script := strconv.Quote(runctlBin(t)) + strings.TrimPrefix(first, goRunCLI)
	res := bash(t, repoRoot(t), procEnv(t, dir), script)
	require.Equal(t, 0, res.code, "%s", res)

	launched := regexp.MustCompile(`(?m)^launched (i-[0-9a-f]+): spot t3\.micro in us-east-1[a-z] at \$0\.\d+/h$`).
		FindStringSubmatch(res.stderr)
	require.NotNil(t, launched, "a spot launch on stderr:\n%s", res.stderr)
	assert.Regexp(t, `(?m)^sync: uploaded \d+ files, [\d.]+ KiB$`, res.stderr)
	assert.Regexp(t, `(?m)^code shipped \(`, res.stderr)
	for i := 1; i <= epochs; i++ {
		assert.Regexp(t, fmt.Sprintf(`(?m)^epoch %d/%d loss=[\d.]+ train_acc=[\d.]+ test_acc=[\d.]+ `, i, epochs),
			res.stderr)
	}
	assert.Regexp(t, `(?m)^final test_acc=0\.\d{3}$`, res.stderr)
	assert.Regexp(t, `(?m)^result: job job-\S+ exit code 0 after `, res.stdout)
	assert.Regexp(t, `(?m)^cost: \$\d+\.\d{4} for \S+ of spot instance time at \$\d+\.\d{4}/h(, billed as EC2.s one-minute minimum)? `+
		`\(on-demand: \$\d+\.\d{4}; saved \d+%\) \(estimate\)$`, res.stdout)
	assert.Regexp(t, `(?m)^terminated `+launched[1]+`$`, res.stderr)
	for _, line := range strings.Split(strings.TrimSuffix(res.stdout, "\n"), "\n") {
		assert.Regexp(t, `^(result|cost): `, line, "stdout holds the result only")
	}
	assertNothingRunning(t, dir)
}

// TestREADMEShellBlocks runs every shell block of the README with bash
// against the sandbox, each runctl line as its own process.
func TestREADMEShellBlocks(t *testing.T) {
	t.Parallel()
	blocks := readmeBlocks(t, shellLangs...)
	require.NotEmpty(t, blocks)
	ran := 0
	for _, b := range blocks {
		script, lines, dropped := translate(b.body)
		for _, d := range dropped {
			assert.NotContains(t, d, "runctl", "README.md:%d: a runctl command is left out", b.line)
		}
		if lines == 0 {
			t.Logf("README.md:%d: no runctl command to run in:\n%s", b.line, b.body)
			continue
		}
		ran += lines
		t.Run(fmt.Sprintf("line %d", b.line), func(t *testing.T) {
			t.Parallel()
			runBlock(t, b, script, lines, "RUNCTL_SANDBOX=1")
		})
		if strings.Contains(script, "$(runctl ") {
			// The separate-process workflow, each process with --sandbox.
			flagged := runctlCall.ReplaceAllStringFunc(script, func(m string) string { return m + "--sandbox " })
			t.Run(fmt.Sprintf("line %d with --sandbox", b.line), func(t *testing.T) {
				t.Parallel()
				runBlock(t, b, flagged, lines, "RUNCTL_SANDBOX=")
			})
		}
	}
	assert.NotZero(t, ran, "README.md shows no runctl command")
}

var runctlCall = regexp.MustCompile(`(?m)(^|\$\(|;|&&|\|\||\|)\s*runctl\s`)

// translate turns a README block into a script: go run of the CLI becomes
// the runctl on PATH; other go commands (go test ./...) are left out and
// returned. It also counts the runctl invocations the script holds.
func translate(body string) (script string, calls int, dropped []string) {
	var out []string
	for _, line := range strings.Split(body, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(trimmed, goRunCLI+" "):
			line = "runctl " + strings.TrimPrefix(trimmed, goRunCLI+" ")
		case strings.HasPrefix(trimmed, "go "):
			dropped = append(dropped, line)
			continue
		}
		calls += len(runctlCall.FindAllString(line, -1))
		out = append(out, line)
	}
	return strings.Join(out, "\n"), calls, dropped
}

var bucketFlag = regexp.MustCompile(`--bucket[ =]([a-z0-9][a-z0-9.-]+)`)

// runBlock runs one block in a fresh working directory holding the training
// example as training/ (and examples/training/, for the go run line), with
// a logging runctl first on PATH, and checks that nothing is left running.
func runBlock(t *testing.T, b block, script string, want int, sandboxEnv string) {
	dir := sandboxDir(t)
	work := t.TempDir()
	copyDir(t, trainingDir(t), filepath.Join(work, "training"))
	copyDir(t, trainingDir(t), filepath.Join(work, "examples", "training"))

	in := inspect(t, dir)
	for _, m := range bucketFlag.FindAllStringSubmatch(b.body, -1) {
		in.createBucket(t, m[1])
	}

	calls := filepath.Join(t.TempDir(), "calls")
	bin := t.TempDir()
	shim := fmt.Sprintf("#!/bin/sh\nprintf '%%s\\n' \"$*\" >> %q\nexec %q \"$@\"\n", calls, runctlBin(t))
	require.NoError(t, os.WriteFile(filepath.Join(bin, "runctl"), []byte(shim), 0o755))
	env := procEnv(t, dir, "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), sandboxEnv)

	res := bash(t, work, env, script)
	require.Equal(t, 0, res.code, "README.md:%d:\n%s\n%s", b.line, script, res)

	logged, err := os.ReadFile(calls)
	require.NoError(t, err)
	invocations := strings.Split(strings.TrimSpace(string(logged)), "\n")
	assert.Len(t, invocations, want, "runctl invocations:\n%s", logged)
	for _, inv := range invocations {
		// An ID captured with $(...) reaches the next command.
		assert.NotContains(t, inv, `""`)
		if strings.Contains(inv, "train ") || strings.Contains(inv, "terminate ") {
			assert.Regexp(t, `\bi-[0-9a-f]{8,17}\b`, inv, "the instance ID reached %q", inv)
		}
	}

	list := bash(t, work, env, "runctl --sandbox aws list")
	assert.Equal(t, 0, list.code, "%s", list)
	assert.Equal(t, "no runctl instances are running\n", list.stdout)
	assertNothingRunning(t, dir)
}

// bash runs script with bash -euo pipefail in dir.
func bash(t *testing.T, dir string, env []string, script string) result {
	t.Helper()
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
	cmd.Dir, cmd.Env = dir, env
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if cmd.ProcessState == nil {
		t.Fatalf("running bash: %v", err)
	}
	return result{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(to), 0o755))
	require.NoError(t, os.CopyFS(to, os.DirFS(from)))
}

// TestREADMEGoBlocksParse checks that every Go block is valid Go as the body
// of a function.
func TestREADMEGoBlocksParse(t *testing.T) {
	blocks := readmeBlocks(t, "go")
	require.NotEmpty(t, blocks, "README.md has no Go block")
	for _, b := range blocks {
		src := "package readme\n\nfunc example() error {\n" + b.body + "\nreturn nil\n}\n"
		_, err := parser.ParseFile(token.NewFileSet(), fmt.Sprintf("README.md:%d", b.line), src, 0)
		assert.NoError(t, err, "README.md:%d:\n%s", b.line, b.body)
	}
}

// knownImports are the packages a README Go block may use without an
// import line of its own.
var knownImports = map[string]string{
	"context": "context", "errors": "errors", "fmt": "fmt", "log": "log", "os": "os", "time": "time",
	"runctl": "github.com/runctl/runctl", "sandbox": "github.com/runctl/runctl/sandbox",
}

// TestREADMEGoBlocksCompile type-checks every Go block against the current
// API by building it, through an overlay, as a package inside this module:
// a renamed option or method fails here. Variables the block declares are
// marked used, and ctx is given.
func TestREADMEGoBlocksCompile(t *testing.T) {
	t.Parallel()
	for _, b := range readmeBlocks(t, "go") {
		src := readmeProgram(t, b)
		file := filepath.Join(t.TempDir(), "main.go")
		require.NoError(t, os.WriteFile(file, []byte(src), 0o644))
		pkg := filepath.Join(repoRoot(t), "examples", "runctl", fmt.Sprintf("readme_line_%d_check", b.line))
		overlay, err := json.Marshal(map[string]any{"Replace": map[string]string{filepath.Join(pkg, "main.go"): file}})
		require.NoError(t, err)
		ov := filepath.Join(t.TempDir(), "overlay.json")
		require.NoError(t, os.WriteFile(ov, overlay, 0o644))

		cmd := exec.Command("go", "build", "-overlay", ov, "-o", os.DevNull, pkg)
		out, err := cmd.CombinedOutput()
		assert.NoError(t, err, "README.md:%d does not compile:\n%s\n%s", b.line, out, src)
	}
}

// readmeProgram wraps a README Go block into a program: the imports it
// uses, a function with ctx that returns an error, and a use of every
// variable it declares.
func readmeProgram(t *testing.T, b block) string {
	t.Helper()
	body := "func example(ctx context.Context) error {\n" + b.body + "\n}\n"
	f, err := parser.ParseFile(token.NewFileSet(), "", "package main\n"+body, 0)
	require.NoError(t, err, "README.md:%d", b.line)

	imports := map[string]bool{"context": true}
	ast.Inspect(f, func(n ast.Node) bool {
		if sel, ok := n.(*ast.SelectorExpr); ok {
			if id, ok := sel.X.(*ast.Ident); ok && knownImports[id.Name] != "" {
				imports[id.Name] = true
			}
		}
		return true
	})
	// Only the function's own statements: a variable of an inner scope
	// must be used there, as it must in a user's program.
	var declared []string
	for _, st := range f.Decls[0].(*ast.FuncDecl).Body.List {
		if as, ok := st.(*ast.AssignStmt); ok && as.Tok == token.DEFINE {
			for _, l := range as.Lhs {
				if id, ok := l.(*ast.Ident); ok && id.Name != "_" {
					declared = append(declared, id.Name)
				}
			}
		}
	}

	var src strings.Builder
	src.WriteString("package main\n\nimport (\n")
	for name := range imports {
		fmt.Fprintf(&src, "\t%q\n", knownImports[name])
	}
	src.WriteString(")\n\nfunc main() {}\n\nfunc example(ctx context.Context) error {\n")
	src.WriteString(b.body)
	for _, name := range declared {
		fmt.Fprintf(&src, "\t_ = %s\n", name)
	}
	src.WriteString("\treturn nil\n}\n")
	return src.String()
}

// TestREADMEJSONBlocksParse checks that every JSON block, such as the IAM
// policy, is valid JSON.
func TestREADMEJSONBlocksParse(t *testing.T) {
	for _, b := range readmeBlocks(t, "json") {
		assert.True(t, json.Valid([]byte(b.body)), "README.md:%d is not valid JSON:\n%s", b.line, b.body)
	}
}

// TestREADMEExitCodes checks that the README's table of exit codes says what
// exit.go does.
func TestREADMEExitCodes(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(repoRoot(t), "README.md"))
	require.NoError(t, err)
	table := map[int]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\| (\d+) \|`).FindAllStringSubmatch(string(readme), -1) {
		code, _ := strconv.Atoi(m[1])
		table[code] = true
	}
	for _, code := range []int{exitOK, exitCancelled, exitUsage, exitConfig, exitCapacity,
		exitInterrupted, exitTimeout, exitAWS, exitInternal} {
		assert.True(t, table[code], "README.md's exit code table lists %d", code)
	}
	assert.Contains(t, string(readme), "| 1–239 | the script ran and exited with this code |")
}
