package vargate_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/vargate/vargate"

// adapters translate between the outside world and the capabilities;
// everything else under internal/ is a capability, except the test
// support packages.
var adapters = []string{"sqlstore", "sqlite", "postgres", "httpapi", "mcpserver", "web", "sim", "loadgen"}

// testSupport are packages only tests import; the layering rules do not
// apply to them (storetest opens databases through the store adapters).
var testSupport = []string{"storetest", "testwait", "vault/vaulttest"}

// adapterImports are the only imports one adapter may make of another.
var adapterImports = map[string][]string{"sqlite": {"sqlstore"}, "postgres": {"sqlstore"}}

// listedPackage is what the test needs of `go list -json`.
type listedPackage struct {
	ImportPath string
	Dir        string
	GoFiles    []string
	Imports    []string
}

// TestLayering checks the import rules of docs/ARCHITECTURE.md against the
// packages' real (non-test) imports: the root package imports nothing of
// this module; capabilities never import adapters or cmd; adapters never
// import each other (except sqlite and postgres, which build on
// sqlstore); and every package's doc names each package of this module
// it imports, in the paragraph that says what it imports.
func TestLayering(t *testing.T) {
	pkgs := listPackages(t)
	for _, p := range pkgs {
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		var own []string // imports of this module, relative to internal/ ("" for the root)
		for _, imp := range p.Imports {
			switch {
			case imp == module:
				own = append(own, "")
			case strings.HasPrefix(imp, module+"/internal/"):
				own = append(own, strings.TrimPrefix(imp, module+"/internal/"))
			case strings.HasPrefix(imp, module+"/"):
				t.Errorf("%s imports %s, outside internal/ (only cmd is wired from there)", p.ImportPath, imp)
			}
		}
		switch {
		case rel == "":
			for _, imp := range own {
				t.Errorf("the root package imports internal/%s; it must import nothing of this module", imp)
			}
			continue
		case strings.HasPrefix(rel, "cmd/"):
			continue // the wiring imports everything
		}
		name := strings.TrimPrefix(rel, "internal/")
		if slices.Contains(testSupport, name) {
			continue
		}
		top := strings.Split(name, "/")[0]
		for _, imp := range own {
			if imp == "" || strings.Split(imp, "/")[0] == top {
				continue // the root package; its own subpackages
			}
			impTop := strings.Split(imp, "/")[0]
			switch {
			case slices.Contains(testSupport, imp):
				t.Errorf("%s imports the test support package internal/%s outside its tests", rel, imp)
			case !slices.Contains(adapters, top) && slices.Contains(adapters, impTop):
				t.Errorf("capability %s imports adapter internal/%s: capabilities never import adapters", rel, imp)
			case slices.Contains(adapters, top) && slices.Contains(adapters, impTop) && !slices.Contains(adapterImports[top], impTop):
				t.Errorf("adapter %s imports adapter internal/%s: adapters never import each other", rel, imp)
			}
		}
		checkDoc(t, p, rel, own)
	}
}

// checkDoc reports the imports of this module that p's package doc does
// not name in its paragraphs about imports.
func checkDoc(t *testing.T, p listedPackage, rel string, own []string) {
	t.Helper()
	if len(own) == 0 {
		return // nothing of this module to name
	}
	file, doc := packageDoc(t, p)
	if doc == "" {
		t.Errorf("%s has no package doc comment (doc.go): write one that says what it imports", rel)
		return
	}
	var about []string // the paragraphs that say what the package imports
	for para := range strings.SplitSeq(doc, "\n\n") {
		if strings.Contains(strings.ToLower(para), "import") {
			about = append(about, strings.Join(strings.Fields(para), " "))
		}
	}
	if len(about) == 0 {
		t.Errorf("%s: the package doc does not say what %s imports; add a paragraph such as %q",
			filepath.Join(rel, file), rel, "It imports the root package and internal/…; it must not import adapters or cmd.")
		return
	}
	text := strings.Join(about, "\n")
	top := strings.Split(strings.TrimPrefix(rel, "internal/"), "/")[0]
	for _, imp := range own {
		if imp == "" || strings.Split(imp, "/")[0] == top {
			continue
		}
		if !namesPackage(text, imp) {
			t.Errorf("%s: %s imports internal/%s, but its doc does not name it; add %q to: %s",
				filepath.Join(rel, file), rel, imp, "internal/"+imp, about[0])
		}
	}
	rootNamed := regexp.MustCompile(`(?i)\broot\b|\bvargate\b`).MatchString(text)
	if slices.Contains(own, "") && !rootNamed {
		t.Errorf("%s: %s imports the root package, but its doc does not say so; add %q to: %s",
			filepath.Join(rel, file), rel, "the root package", about[0])
	}
}

// namesPackage reports whether text names internal/imp: "internal/audit"
// or the bare "audit" as a word (not part of a longer path or name).
func namesPackage(text, imp string) bool {
	re := regexp.MustCompile(`(^|[^\w/.-])(internal/)?` + regexp.QuoteMeta(imp) + `([^\w/-]|$)`)
	return re.MatchString(text)
}

// packageDoc returns the file holding p's package doc comment and the
// comment's text: doc.go when it has one, else the first file that does.
func packageDoc(t *testing.T, p listedPackage) (string, string) {
	t.Helper()
	files := slices.Clone(p.GoFiles)
	if i := slices.Index(files, "doc.go"); i > 0 {
		files[0], files[i] = files[i], files[0]
	}
	for _, f := range files {
		ast, err := parser.ParseFile(token.NewFileSet(), filepath.Join(p.Dir, f), nil, parser.PackageClauseOnly|parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		if ast.Doc != nil {
			return f, ast.Doc.Text()
		}
	}
	return "", ""
}

// listPackages returns the module's packages as `go list -json` sees them.
func listPackages(t *testing.T) []listedPackage {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to list the packages with")
	}
	var stderr bytes.Buffer
	cmd := exec.Command(goBin, "list", "-json=ImportPath,Dir,GoFiles,Imports", module+"/...")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v: %s", err, stderr.String())
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listedPackage
		err := dec.Decode(&p)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(fmt.Errorf("go list output: %w", err))
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 20 {
		t.Fatalf("go list found %d packages; the test runs from the module root", len(pkgs))
	}
	return pkgs
}
