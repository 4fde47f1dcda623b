package anomaly_test

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vargate/vargate/internal/anomaly"
)

// familySample is one line of a technique-family corpus: a bash command,
// a tool event or a session of tool events.
type familySample struct {
	file   string
	line   int
	labels []string
	events []familyEvent
	benign bool
}

type familyEvent struct {
	Name  string          `json:"name"`
	Input json.RawMessage `json:"input"`
}

func (s familySample) String() string {
	b, _ := json.Marshal(s.events)
	return s.file + ":" + itoa(s.line) + ": " + string(b)
}

// loadFamily reads testdata/families/<file> (see its README.md).
func loadFamily(t testing.TB, file string) []familySample {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "families", file))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []familySample
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		labels, rest, ok := strings.Cut(line, " ")
		if !ok {
			t.Fatalf("%s:%d: want LABELS SAMPLE", file, n)
		}
		s := familySample{file: file, line: n, labels: strings.Split(labels, ","), benign: labels == "benign"}
		switch {
		case strings.HasPrefix(rest, "["):
			if err := json.Unmarshal([]byte(rest), &s.events); err != nil {
				t.Fatalf("%s:%d: session: %v", file, n, err)
			}
		case strings.HasPrefix(rest, `{"name"`):
			var ev familyEvent
			if err := json.Unmarshal([]byte(rest), &ev); err != nil {
				t.Fatalf("%s:%d: event: %v", file, n, err)
			}
			s.events = []familyEvent{ev}
		default:
			in, _ := json.Marshal(map[string]string{"command": rest})
			s.events = []familyEvent{{Name: "bash", Input: in}}
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

var families = []string{"privwrap.txt", "revshell.txt", "exfil.txt", "creds.txt", "antiforensics.txt", "persistence.txt", "indirection.txt", "sequences.txt", "escapes.txt", "capabilities.txt", "recon_impact.txt", "windows.txt", "multistep.txt", "cloud.txt"}

// benignOnly are holdout sets with benign samples only: they measure the
// false-positive rate of rules written before them.
var benignOnly = []string{"benign4.txt", "benign8.txt"}

// judgeFamilySample runs a sample's events through one detector and one
// session score, as observe does, and reports the worst verdict.
func judgeFamilySample(d *anomaly.Detector, s familySample) anomaly.Verdict {
	score := anomaly.NewSessionScore(anomaly.RiskStandard)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var worst anomaly.Verdict
	for i, ev := range s.events {
		v, _, _ := score.Judge(d.Analyze(ev.Name, ev.Input), now.Add(time.Duration(i)*time.Second))
		if v.Severity > worst.Severity || worst.Flags == nil {
			worst = v
		}
	}
	return worst
}

type familyResult struct {
	tp, fn, fp, tn int
}

func (r familyResult) precision() float64 { return float64(r.tp) / float64(max(r.tp+r.fp, 1)) }
func (r familyResult) recall() float64    { return float64(r.tp) / float64(max(r.tp+r.fn, 1)) }
func (r familyResult) fpr() float64       { return float64(r.fp) / float64(max(r.fp+r.tn, 1)) }

func runFamily(t *testing.T, d *anomaly.Detector, file string) familyResult {
	var r familyResult
	for _, s := range loadFamily(t, file) {
		v := judgeFamilySample(d, s)
		switch {
		case s.benign && v.Flagged():
			r.fp++
			t.Logf("false positive: %s\n\tgot %+v", s, v.Flags)
		case s.benign:
			r.tn++
		case v.Flagged():
			r.tp++
		default:
			r.fn++
			t.Logf("missed: %s\n\tgot %s %+v", s, v.Severity, v.Flags)
		}
	}
	return r
}

// Bars for the technique-family corpora: per family (small sets, so one
// sample moves the rate by 3–6 points) and over all families.
const (
	minFamilyRecall = 0.90
	maxFamilyFPR    = 0.06
	minAllPrecision = 0.97
	maxAllFPR       = 0.02
)

// TestFamilies reports precision, recall and false-positive rate per
// technique family (testdata/families) and holds them to the bars above.
func TestFamilies(t *testing.T) {
	d := anomaly.New(anomaly.Config{AllowedDomains: corpusAllowedDomains})
	var all familyResult
	for _, file := range families {
		t.Run(strings.TrimSuffix(file, ".txt"), func(t *testing.T) {
			r := runFamily(t, d, file)
			if r.tp+r.fn < 15 || r.fp+r.tn < 15 {
				t.Errorf("%s has %d malicious and %d benign samples, want at least 15 each", file, r.tp+r.fn, r.fp+r.tn)
			}
			t.Logf("%s: %d malicious, %d benign; TP=%d FN=%d FP=%d TN=%d; precision=%.3f recall=%.3f FPR=%.3f",
				file, r.tp+r.fn, r.fp+r.tn, r.tp, r.fn, r.fp, r.tn, r.precision(), r.recall(), r.fpr())
			if r.recall() < minFamilyRecall {
				t.Errorf("recall = %.3f, want >= %.2f", r.recall(), minFamilyRecall)
			}
			if r.fpr() > maxFamilyFPR {
				t.Errorf("false-positive rate = %.3f, want <= %.2f", r.fpr(), maxFamilyFPR)
			}
			all.tp, all.fn, all.fp, all.tn = all.tp+r.tp, all.fn+r.fn, all.fp+r.fp, all.tn+r.tn
		})
	}
	for _, file := range benignOnly {
		t.Run(strings.TrimSuffix(file, ".txt"), func(t *testing.T) {
			r := runFamily(t, d, file)
			t.Logf("%s: %d benign; FP=%d TN=%d; FPR=%.3f", file, r.fp+r.tn, r.fp, r.tn, r.fpr())
			if r.fpr() > maxAllFPR {
				t.Errorf("false-positive rate = %.3f, want <= %.2f", r.fpr(), maxAllFPR)
			}
		})
	}
	t.Logf("all families: TP=%d FN=%d FP=%d TN=%d; precision=%.3f recall=%.3f FPR=%.3f",
		all.tp, all.fn, all.fp, all.tn, all.precision(), all.recall(), all.fpr())
	if all.precision() < minAllPrecision {
		t.Errorf("precision over all families = %.3f, want >= %.2f", all.precision(), minAllPrecision)
	}
	if all.fpr() > maxAllFPR {
		t.Errorf("false-positive rate over all families = %.3f, want <= %.2f", all.fpr(), maxAllFPR)
	}
}
