package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// demoPrinter writes the walkthrough. On a terminal, long waits show a
// progress line that is redrawn in place.
type demoPrinter struct {
	w        io.Writer
	tty      bool
	mu       sync.Mutex
	progLine bool
	said     bool // the non-terminal progress note was printed
}

func (p *demoPrinter) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clearLocked()
	fmt.Fprintf(p.w, format, args...)
}

func (p *demoPrinter) step(n int, title string) {
	p.printf("\nStep %d  %s\n", n, title)
	p.said = false
}

func (p *demoPrinter) event(line string) { p.printf("        %s\n", line) }

// progress starts a long step: "what… " now, done() finishes the line.
func (p *demoPrinter) progress(what string) { p.printf("%s… ", what) }

func (p *demoPrinter) done(d time.Duration) {
	p.printf("done (%s)\n", d.Round(10*time.Millisecond))
}

var spinner = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

// working shows that the agent is still at work.
func (p *demoPrinter) working(elapsed time.Duration, st demoStatus) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.tty {
		if !p.said {
			fmt.Fprintf(p.w, "        (the simulated agent is working; its calls appear as Vargate records them)\n")
			p.said = true
		}
		return
	}
	frame := spinner[int(elapsed/(100*time.Millisecond))%len(spinner)]
	fmt.Fprintf(p.w, "\r\033[K        %s agent working %4.1fs — status %s, governed %d, observed %d, pending %d",
		frame, elapsed.Seconds(), st.Status, st.Governed, st.Observed, st.Pending)
	p.progLine = true
}

func (p *demoPrinter) clearProgress() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clearLocked()
}

func (p *demoPrinter) clearLocked() {
	if p.progLine {
		fmt.Fprint(p.w, "\r\033[K")
		p.progLine = false
	}
}

// isTerminal reports whether w is a character device.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
