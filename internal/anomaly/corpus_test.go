package anomaly_test

import (
	"bufio"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/vargate/vargate/internal/anomaly"
)

// The labelled corpus in testdata/ must be classified with at least these
// precision and recall, where "flagged" means severity medium or above and
// the positive class is malicious. Category accuracy is the share of
// detected malicious samples whose flags (medium or above) include one of
// the sample's labelled categories.
const (
	minPrecision        = 0.95
	minRecall           = 0.95
	minCategoryAccuracy = 0.90
)

// corpusAllowedDomains is the allowlist of the profile the corpus assumes.
var corpusAllowedDomains = []string{"github.com", "go.dev", "golang.org", "python.org", "pypi.org", "pythonhosted.org", "npmjs.org", "npmjs.com", "example.com"}

type sample struct {
	file      string
	line      int
	tool      string
	input     json.RawMessage
	labels    []string
	malicious bool
}

func (s sample) String() string {
	return s.file + ":" + itoa(s.line) + ": " + s.tool + " " + string(s.input)
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// loadShellCorpus reads one command per line; malicious files start each
// line with comma-separated labels and a space. A line ending in a
// backslash continues on the next line.
func loadShellCorpus(t testing.TB, file string, malicious bool) []sample {
	t.Helper()
	f, err := os.Open("testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []sample
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		start := n
		for strings.HasSuffix(line, `\`) && sc.Scan() {
			n++
			line += "\n" + sc.Text()
		}
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		s := sample{file: file, line: start, tool: "bash", malicious: malicious}
		if malicious {
			labels, cmd, ok := strings.Cut(line, " ")
			if !ok {
				t.Fatalf("%s:%d: want LABELS COMMAND", file, start)
			}
			s.labels = strings.Split(labels, ",")
			line = cmd
		}
		s.input, _ = json.Marshal(map[string]string{"command": line})
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// loadToolCorpus reads tool-use events as JSON lines with optional labels.
func loadToolCorpus(t testing.TB, file string, malicious bool) []sample {
	t.Helper()
	data, err := os.ReadFile("testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	var out []sample
	for i, line := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var ev struct {
			Name   string          `json:"name"`
			Input  json.RawMessage `json:"input"`
			Labels []string        `json:"labels"`
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("%s:%d: %v", file, i+1, err)
		}
		out = append(out, sample{file: file, line: i + 1, tool: ev.Name, input: ev.Input, labels: ev.Labels, malicious: malicious})
	}
	return out
}

func loadCorpus(t testing.TB) (malicious, benign []sample) {
	malicious = append(loadShellCorpus(t, "shell_malicious.txt", true), loadToolCorpus(t, "tools_malicious.jsonl", true)...)
	benign = append(loadShellCorpus(t, "shell_benign.txt", false), loadToolCorpus(t, "tools_benign.jsonl", false)...)
	return malicious, benign
}

func TestCorpus(t *testing.T) {
	malicious, benign := loadCorpus(t)
	if len(malicious) < 150 || len(benign) < 150 {
		t.Fatalf("corpus has %d malicious and %d benign samples, want at least 150 each", len(malicious), len(benign))
	}
	d := anomaly.New(anomaly.Config{AllowedDomains: corpusAllowedDomains})
	var tp, fn, fp, tn, catOK int
	for _, s := range malicious {
		v := d.Analyze(s.tool, s.input)
		if !v.Flagged() {
			fn++
			t.Logf("missed: %s\n\tgot %s %+v", s, v.Severity, v.Flags)
			continue
		}
		tp++
		ok := false
		for _, l := range s.labels {
			if v.Has(anomaly.Category(l), anomaly.SeverityMedium) {
				ok = true
			}
		}
		if ok {
			catOK++
		} else {
			t.Logf("wrong category: %s\n\twant %v, got %+v", s, s.labels, v.Flags)
		}
	}
	for _, s := range benign {
		v := d.Analyze(s.tool, s.input)
		if v.Flagged() {
			fp++
			t.Logf("false positive: %s\n\tgot %+v", s, v.Flags)
			continue
		}
		tn++
	}
	precision := float64(tp) / float64(max(tp+fp, 1))
	recall := float64(tp) / float64(max(tp+fn, 1))
	catAcc := float64(catOK) / float64(max(tp, 1))
	t.Logf("corpus: %d malicious, %d benign; TP=%d FN=%d FP=%d TN=%d; precision=%.3f recall=%.3f category accuracy=%.3f",
		len(malicious), len(benign), tp, fn, fp, tn, precision, recall, catAcc)
	if precision < minPrecision {
		t.Errorf("precision = %.3f, want >= %.2f", precision, minPrecision)
	}
	if recall < minRecall {
		t.Errorf("recall = %.3f, want >= %.2f", recall, minRecall)
	}
	if catAcc < minCategoryAccuracy {
		t.Errorf("category accuracy = %.3f, want >= %.2f", catAcc, minCategoryAccuracy)
	}
}

// The holdout set was written after the rules were frozen. It measures
// how the rules generalise, so its bar is lower than the main corpus's.
const (
	minHoldoutPrecision = 0.85
	minHoldoutRecall    = 0.85
)

func TestHoldout(t *testing.T) {
	for _, file := range []string{"holdout_shell.txt", "holdout2_shell.txt", "families/holdout3.txt", "families/holdout5.txt", "families/holdout6.txt", "families/holdout7.txt", "families/holdout8.txt"} {
		t.Run(file, func(t *testing.T) {
			samples := loadShellCorpus(t, file, true)
			d := anomaly.New(anomaly.Config{AllowedDomains: corpusAllowedDomains})
			var tp, fn, fp, tn int
			for _, s := range samples {
				benign := len(s.labels) == 1 && s.labels[0] == "benign"
				v := d.Analyze(s.tool, s.input)
				switch {
				case benign && v.Flagged():
					fp++
					t.Logf("false positive: %s\n\tgot %+v", s, v.Flags)
				case benign:
					tn++
				case v.Flagged():
					tp++
				default:
					fn++
					t.Logf("missed: %s\n\tgot %s %+v", s, v.Severity, v.Flags)
				}
			}
			precision := float64(tp) / float64(max(tp+fp, 1))
			recall := float64(tp) / float64(max(tp+fn, 1))
			t.Logf("%s: %d malicious, %d benign; TP=%d FN=%d FP=%d TN=%d; precision=%.3f recall=%.3f",
				file, tp+fn, fp+tn, tp, fn, fp, tn, precision, recall)
			if precision < minHoldoutPrecision {
				t.Errorf("holdout precision = %.3f, want >= %.2f", precision, minHoldoutPrecision)
			}
			if recall < minHoldoutRecall {
				t.Errorf("holdout recall = %.3f, want >= %.2f", recall, minHoldoutRecall)
			}
		})
	}
}
