package anomaly

import (
	"encoding/json"
	"sort"
	"strings"
	"sync"

	"mvdan.cc/sh/v3/syntax"
)

// Defaults for Config.
const (
	// DefaultMaxCommandBytes bounds the shell text analysed per call;
	// longer commands are flagged and analysed up to the bound.
	DefaultMaxCommandBytes = 256 << 10
	// DefaultMaxDepth bounds nesting of bash -c, eval and decoded
	// payloads; deeper nesting is itself flagged.
	DefaultMaxDepth = 4
)

// Config configures a Detector.
type Config struct {
	// AllowedDomains are the profile's allowed domains. An entry matches
	// the domain and its subdomains ("github.com" matches api.github.com;
	// a leading "*." is ignored). Empty means no allowlist: hosts are not
	// judged by name, but raw IPs, paste/tunnel services and metadata
	// endpoints still are.
	AllowedDomains []string
	// MaxCommandBytes bounds the shell text analysed per call; zero means
	// DefaultMaxCommandBytes.
	MaxCommandBytes int
	// MaxDepth bounds the nesting of scripts inside scripts; zero means
	// DefaultMaxDepth.
	MaxDepth int
}

// Detector judges built-in tool calls. It is immutable after New and
// safe for concurrent use.
type Detector struct {
	allowed  []string
	maxBytes int
	maxDepth int
	parsers  sync.Pool
}

// New returns a Detector for cfg, filling in defaults.
func New(cfg Config) *Detector {
	d := &Detector{
		allowed:  normalizeDomains(cfg.AllowedDomains),
		maxBytes: cfg.MaxCommandBytes,
		maxDepth: cfg.MaxDepth,
	}
	if d.maxBytes <= 0 {
		d.maxBytes = DefaultMaxCommandBytes
	}
	if d.maxDepth <= 0 {
		d.maxDepth = DefaultMaxDepth
	}
	d.parsers.New = func() any { return syntax.NewParser(syntax.Variant(syntax.LangBash)) }
	return d
}

func (d *Detector) getParser() *syntax.Parser  { return d.parsers.Get().(*syntax.Parser) }
func (d *Detector) putParser(p *syntax.Parser) { d.parsers.Put(p) }

// Analyze judges one tool call given its name and raw JSON input. Input
// that is not a JSON object is scanned as text.
func (d *Detector) Analyze(tool string, input json.RawMessage) Verdict {
	var m map[string]any
	if err := json.Unmarshal(input, &m); err != nil || m == nil {
		f := &findings{}
		var str string
		if json.Unmarshal(input, &str) == nil {
			d.dispatch(f, tool, map[string]any{"input": str})
		} else if len(input) > 0 && string(input) != "null" {
			f.add(CategoryObfuscation, SeverityLow, string(input), "tool input is not a JSON object")
		}
		return f.verdict()
	}
	return d.AnalyzeInput(tool, m)
}

// AnalyzeInput judges one tool call given its name and decoded input.
func (d *Detector) AnalyzeInput(tool string, input map[string]any) Verdict {
	f := &findings{}
	d.dispatch(f, tool, input)
	return f.verdict()
}

// AnalyzeCommand judges one shell command, as run by the bash tool.
func (d *Detector) AnalyzeCommand(command string) Verdict {
	f := &findings{}
	d.analyzeShell(f, command)
	return f.verdict()
}

type toolKind int

const (
	toolGeneric toolKind = iota
	toolShell
	toolComputer
	toolRead
	toolWrite
	toolEdit
	toolEditor // str_replace_editor: command view/create/str_replace/insert
	toolGlob
	toolGrep
	toolFetch
	toolSearch
)

func classifyTool(name string) toolKind {
	n := strings.ToLower(strings.TrimSpace(name))
	switch n {
	case "bash", "shell", "terminal", "sh", "zsh", "run_shell_command", "execute_command", "run_command", "exec_command", "run_terminal_cmd", "bash_tool":
		return toolShell
	case "computer":
		return toolComputer
	case "read", "read_file", "file_read", "view", "cat":
		return toolRead
	case "write", "write_file", "create_file", "file_write":
		return toolWrite
	case "edit", "multiedit", "multi_edit", "edit_file", "file_edit", "notebookedit", "notebook_edit":
		return toolEdit
	case "str_replace_editor", "str_replace_based_edit_tool", "text_editor":
		return toolEditor
	case "glob", "find_files", "list_files":
		return toolGlob
	case "grep", "search_files", "ripgrep":
		return toolGrep
	case "web_fetch", "webfetch", "fetch", "fetch_url", "http_get":
		return toolFetch
	case "web_search", "websearch":
		return toolSearch
	}
	return toolGeneric
}

func str(m map[string]any, keys ...string) (string, bool) {
	for _, k := range keys {
		if v, ok := m[k].(string); ok {
			return v, true
		}
	}
	return "", false
}

func (d *Detector) dispatch(f *findings, tool string, in map[string]any) {
	switch classifyTool(tool) {
	case toolShell:
		if cmd, ok := str(in, "command", "cmd", "script", "input", "code"); ok {
			d.analyzeShell(f, cmd)
			return
		}
		d.generic(f, tool, in)
	case toolComputer:
		action, _ := str(in, "action")
		if text, ok := str(in, "text"); ok && (action == "type" || action == "") {
			d.analyzeShell(f, text)
		}
	case toolRead:
		p, _ := str(in, "file_path", "path", "filename", "file")
		d.readFile(f, p)
	case toolWrite:
		p, _ := str(in, "file_path", "path", "filename", "file")
		content, _ := str(in, "content", "file_text", "text", "contents")
		d.writeFile(f, p, content, false)
	case toolEdit:
		p, _ := str(in, "file_path", "path", "notebook_path")
		content, _ := str(in, "new_string", "new_str", "new_source", "content")
		if edits, ok := in["edits"].([]any); ok {
			var b strings.Builder
			for _, e := range edits {
				if em, ok := e.(map[string]any); ok {
					if s, ok := str(em, "new_string", "new_str"); ok {
						b.WriteString(s)
						b.WriteByte('\n')
					}
				}
			}
			content += b.String()
		}
		d.writeFile(f, p, content, true)
	case toolEditor:
		p, _ := str(in, "path", "file_path")
		switch cmd, _ := str(in, "command"); cmd {
		case "view":
			d.readFile(f, p)
		case "create":
			content, _ := str(in, "file_text", "content")
			d.writeFile(f, p, content, false)
		default:
			content, _ := str(in, "new_str", "insert_text", "new_string")
			d.writeFile(f, p, content, true)
		}
	case toolGlob:
		pattern, _ := str(in, "pattern", "glob")
		root, _ := str(in, "path", "root", "directory")
		d.globFiles(f, pattern, root)
	case toolGrep:
		pattern, _ := str(in, "pattern", "query", "regex")
		root, _ := str(in, "path", "root", "directory")
		d.grepFiles(f, pattern, root)
	case toolFetch:
		u, _ := str(in, "url", "uri")
		d.webFetch(f, u)
	case toolSearch:
		q, _ := str(in, "query", "q")
		d.webSearch(f, q)
	default:
		d.generic(f, tool, in)
	}
}

// generic scans the string values of an unknown tool's input: command-
// like keys as shell, path-like values as files, URLs as fetches.
func (d *Detector) generic(f *findings, tool string, in map[string]any) {
	budget := 256
	readTool := strings.Contains(strings.ToLower(tool), "read") || strings.Contains(strings.ToLower(tool), "get_file") || strings.Contains(strings.ToLower(tool), "view")
	var walk func(key string, v any, depth int)
	walk = func(key string, v any, depth int) {
		if budget <= 0 || depth > 8 {
			return
		}
		budget--
		switch v := v.(type) {
		case map[string]any:
			for _, k := range sortedKeys(v) {
				walk(strings.ToLower(k), v[k], depth+1)
			}
		case []any:
			for _, x := range v {
				walk(key, x, depth+1)
			}
		case string:
			d.genericString(f, key, v, readTool)
		}
	}
	for _, k := range sortedKeys(in) {
		walk(strings.ToLower(k), in[k], 0)
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (d *Detector) genericString(f *findings, key, v string, readTool bool) {
	switch key {
	case "command", "cmd", "script", "shell_command", "bash", "commandline", "command_line":
		d.analyzeShell(f, v)
		return
	}
	t := strings.TrimSpace(v)
	if strings.HasPrefix(t, "http://") || strings.HasPrefix(t, "https://") || strings.HasPrefix(t, "file://") {
		if !strings.ContainsAny(t, " \n") {
			d.webFetch(f, t)
			return
		}
	}
	if len(t) > 1024 || strings.ContainsAny(t, "\n") {
		return
	}
	if info, ok := classifyRead(t); ok && strings.ContainsAny(t, "/~") || ok && strings.HasPrefix(t, ".") {
		sev := info.sev
		if !readTool && sev > SeverityLow {
			sev--
		}
		f.add(CategoryCredentialAccess, sev, t, "tool argument names "+info.what)
	}
}
