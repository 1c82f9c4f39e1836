package main

import (
	"bytes"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// isTerminal reports whether w is a terminal: progress is drawn only there,
// so that logs, pipes and CI output stay free of it.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progressLine is the last line of a terminal, where a progress bar of long
// work is drawn. What else shows on that terminal meanwhile (log records,
// the command's output) is written through writer, which erases the bar
// first; the bar's next update draws it again below. A nil *progressLine,
// for a stderr that is not a terminal, draws nothing. Its methods may be
// called from any goroutine.
type progressLine struct {
	term io.Writer
	mu   sync.Mutex
	bar  *progressbar.ProgressBar
}

// newProgressLine returns the progress line of term, or nil when term is
// not a terminal.
func newProgressLine(term io.Writer) *progressLine {
	if !isTerminal(term) {
		return nil
	}
	return &progressLine{term: term}
}

// start draws a bar of total units of work (-1: unknown, a spinner with the
// count) and their rate, in place of any earlier one. throttle bounds how
// often it is drawn.
func (l *progressLine) start(total int64, description, unit string, throttle time.Duration) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stopLocked()
	l.bar = progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(l.term),
		progressbar.OptionSetDescription(description),
		progressbar.OptionSetItsString(unit),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(throttle),
		progressbar.OptionClearOnFinish(),
	)
}

// started reports whether a bar is up.
func (l *progressLine) started() bool {
	if l == nil {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.bar != nil
}

// set moves the bar to n units done.
func (l *progressLine) set(n int64) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.bar != nil {
		l.bar.Set64(n)
	}
}

// add moves the bar n units on.
func (l *progressLine) add(n int) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.bar != nil {
		l.bar.Add(n)
	}
}

// stop erases the bar: the work is over, its summary follows.
func (l *progressLine) stop() {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stopLocked()
}

func (l *progressLine) stopLocked() {
	if l.bar != nil {
		l.bar.Finish() // which erases it (and ends a spinner's redrawing)
		l.bar = nil
	}
}

// writer returns w, which shows on the same terminal, erasing the bar
// before each write.
func (l *progressLine) writer(w io.Writer) io.Writer {
	if l == nil {
		return w
	}
	return progressLineWriter{l: l, w: w}
}

type progressLineWriter struct {
	l *progressLine
	w io.Writer
}

func (pw progressLineWriter) Write(p []byte) (int, error) {
	pw.l.mu.Lock()
	defer pw.l.mu.Unlock()
	if pw.l.bar != nil && !pw.l.bar.IsFinished() {
		pw.l.bar.Clear()
	}
	return pw.w.Write(p)
}

// lineCounter moves a progress line on by the lines written through it:
// the records of a JSON-lines stream.
type lineCounter struct {
	w io.Writer
	l *progressLine
}

func (c lineCounter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.l.add(bytes.Count(p[:n], []byte{'\n'}))
	return n, err
}
