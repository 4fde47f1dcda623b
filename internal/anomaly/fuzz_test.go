package anomaly_test

import (
	"encoding/json"
	"testing"

	"github.com/vargate/vargate/internal/anomaly"
)

// FuzzAnalyze checks that no shell command or tool input makes the
// detector panic or return an inconsistent verdict. Seeds come from the
// corpus. Run with: go test ./internal/anomaly -run '^$' -fuzz FuzzAnalyze -fuzztime 60s
func FuzzAnalyze(f *testing.F) {
	malicious, benign := loadCorpus(f)
	for _, s := range append(malicious, benign...) {
		var in struct {
			Command string `json:"command"`
		}
		if json.Unmarshal(s.input, &in) == nil && in.Command != "" {
			f.Add(s.tool, in.Command)
		} else {
			f.Add(s.tool, string(s.input))
		}
	}
	for _, file := range append(families, "holdout3.txt") {
		for _, s := range loadFamily(f, file) {
			for _, ev := range s.events {
				var in struct {
					Command string `json:"command"`
				}
				if json.Unmarshal(ev.Input, &in) == nil && in.Command != "" {
					f.Add(ev.Name, in.Command)
				} else {
					f.Add(ev.Name, string(ev.Input))
				}
			}
		}
	}
	f.Add("bash", "$'\\x'$'\\u'${a:0:1}{,}`")
	f.Add("read", `{"file_path":"%zz/../\u0000"}`)
	d := anomaly.New(anomaly.Config{AllowedDomains: []string{"github.com"}, MaxCommandBytes: 4096})
	f.Fuzz(func(t *testing.T, tool, text string) {
		vs := []anomaly.Verdict{d.AnalyzeCommand(text), d.Analyze(tool, json.RawMessage(text))}
		if b, err := json.Marshal(map[string]string{"command": text, "url": text, "file_path": text, "pattern": text}); err == nil {
			vs = append(vs, d.Analyze(tool, b))
		}
		for _, v := range vs {
			worst := anomaly.SeverityNone
			for _, fl := range v.Flags {
				worst = max(worst, fl.Severity)
				if fl.Category == "" || fl.Explanation == "" {
					t.Fatalf("flag without category or explanation: %+v", fl)
				}
			}
			if worst != v.Severity || (v.Score > 0) != (len(v.Flags) > 0) {
				t.Fatalf("inconsistent verdict %+v", v)
			}
		}
	})
}
