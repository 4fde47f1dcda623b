package compliance

import (
	"bufio"
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/vargate/vargate/internal/audit"
)

//go:embed templates/report.html
var templateFS embed.FS

// report is the HTML report's templates: head (session, summary,
// controls), event (one timeline row each) and foot (chain verification),
// executed in turn so that the timeline streams.
var report = template.Must(template.New("report.html").Funcs(template.FuncMap{
	"json": func(raw json.RawMessage) string {
		var b bytes.Buffer
		if json.Indent(&b, raw, "", "  ") != nil {
			return string(raw)
		}
		return b.String()
	},
	"percent": func(f float64) float64 { return f * 100 },
	"seqs": func(s []int64) string {
		var b strings.Builder
		for i, n := range s {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(strconv.FormatInt(n, 10))
		}
		return b.String()
	},
}).ParseFS(templateFS, "templates/report.html"))

type reportHead struct {
	Format      string
	AGCSVersion string
	ExportedAt  time.Time
	Session     SessionInfo
	Summary     Summary
	Controls    []Control
	Articles    []Article
}

type reportFoot struct {
	Result     ChainResult
	PublicKey  string
	Checkpoint string
}

// WriteHTML streams the export as a printable HTML report: the same
// session, summary, controls and timeline, with the chain verified on the
// server (the report itself is not offline evidence; the JSON export is).
// It reads the records twice: for the summary, then for the timeline,
// verifying each record and its proof.
func (e *Export) WriteHTML(ctx context.Context, w io.Writer) error {
	res, err := e.assess(ctx, nil)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	head := reportHead{Format: ExportFormat, AGCSVersion: AGCSVersion, ExportedAt: e.exportedAt,
		Session: e.SessionInfo(), Summary: res.summary, Controls: res.controls, Articles: res.articles}
	if err := report.ExecuteTemplate(bw, "head", head); err != nil {
		return fmt.Errorf("render report: %w", err)
	}
	check := &chainCheck{tenantID: e.tenantID, size: e.body.Size, root: e.body.Root}
	t := newTree(e.s.Audit.Store, e.tenantID, e.body.Size)
	err = e.scan(ctx, func(rec *audit.Record) error {
		check.record(rec)
		p, err := t.inclusion(ctx, rec.Seq)
		if err != nil {
			return fmt.Errorf("inclusion proof of record %d: %w", rec.Seq, err)
		}
		check.proof(rec, p)
		f := classify(rec)
		if err := report.ExecuteTemplate(bw, "event", f.event()); err != nil {
			return fmt.Errorf("render report: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	foot := reportFoot{Result: check.result(e.s.now()), PublicKey: e.s.Audit.PublicKey(), Checkpoint: e.checkpoint.Note}
	if err := report.ExecuteTemplate(bw, "foot", foot); err != nil {
		return fmt.Errorf("render report: %w", err)
	}
	return bw.Flush()
}
