package anomaly_test

import (
	"encoding/json"
	"syscall"
	"testing"
	"time"

	"github.com/vargate/vargate/internal/anomaly"
)

type benchEvent struct {
	tool  string
	input json.RawMessage
}

func benchEvents(b *testing.B, which string) []benchEvent {
	malicious, benign := loadCorpus(b)
	var samples []sample
	switch which {
	case "benign":
		samples = benign
	case "malicious":
		samples = malicious
	case "families":
		var out []benchEvent
		for _, file := range append(append(families, benignOnly...), "holdout3.txt", "holdout5.txt") {
			for _, s := range loadFamily(b, file) {
				for _, ev := range s.events {
					out = append(out, benchEvent{ev.Name, ev.Input})
				}
			}
		}
		return out
	default:
		samples = append(malicious, benign...)
	}
	out := make([]benchEvent, len(samples))
	for i, s := range samples {
		out[i] = benchEvent{s.tool, s.input}
	}
	return out
}

// BenchmarkAnalyze measures events per second through the detector and
// the session score: JSON decoding of the input, shell parsing, rules and
// scoring, cycling through the labelled corpus ("families": through the
// technique-family corpora and holdouts of issue 19).
func BenchmarkAnalyze(b *testing.B) {
	for _, which := range []string{"corpus", "benign", "malicious", "families"} {
		b.Run(which, func(b *testing.B) {
			events := benchEvents(b, which)
			d := anomaly.New(anomaly.Config{AllowedDomains: corpusAllowedDomains})
			score := anomaly.NewSessionScore(anomaly.RiskStandard)
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime(b)
			for i := range b.N {
				ev := events[i%len(events)]
				v := d.Analyze(ev.tool, ev.input)
				score.Add(v, now.Add(time.Duration(i)*time.Millisecond))
			}
			cpu := cpuTime(b) - cpu0
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(b.N)/cpu.Seconds(), "events/cpu-s")
		})
	}
}

// BenchmarkAnalyzeParallel runs the corpus through one shared Detector
// from all CPUs, as concurrent session consumers would.
func BenchmarkAnalyzeParallel(b *testing.B) {
	events := benchEvents(b, "corpus")
	d := anomaly.New(anomaly.Config{AllowedDomains: corpusAllowedDomains})
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			ev := events[i%len(events)]
			d.Analyze(ev.tool, ev.input)
			i++
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// cpuTime is the CPU time the process has used so far, user and system,
// all threads (GC included): on a shared machine, events per CPU-second
// is steadier than events per wall-clock second.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
