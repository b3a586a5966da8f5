package main

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	gpubmsv1 "github.com/gpubms/gpubms/gen/gpubms/v1"
)

// spinnerFrames are drawn in turn, one per tick, before a running task.
var spinnerFrames = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

// spinnerTick is how often the terminal display is redrawn.
const spinnerTick = 100 * time.Millisecond

// The marks of the tasks that ended, or that are no longer watched.
const (
	markSucceeded = "✓"
	markFailed    = "✗"
	markStopped   = "-"
)

// progress shows tasks being waited for on stderr. On a terminal it keeps
// a line per task (spinner, status, elapsed time, servers) redrawn in place
// until the wait ends; elsewhere it prints a plain line per change of a
// task's status or servers ("TASK STATUS RESOURCES"), which logs can keep.
// Its methods are safe for concurrent use.
type progress struct {
	w    io.Writer
	tty  bool
	now  func() time.Time
	size func() (width, height int) // the terminal's; 0 when unknown

	mu      sync.Mutex
	start   time.Time
	ids     []string
	last    map[string]*gpubmsv1.TaskEvent
	ended   map[string]time.Duration // elapsed when the task ended
	printed map[string]string        // plain: the last line printed per task
	frame   int
	drawn   int // lines on screen from the last draw
	stopped bool

	quit chan struct{}
	done chan struct{}
}

func newProgress(w io.Writer, tty bool, size func() (int, int), now func() time.Time, ids []string) *progress {
	if size == nil {
		size = func() (int, int) { return 0, 0 }
	}
	return &progress{
		w: w, tty: tty, now: now, size: size, start: now(), ids: slices.Clone(ids),
		last: map[string]*gpubmsv1.TaskEvent{}, ended: map[string]time.Duration{}, printed: map[string]string{},
		quit: make(chan struct{}), done: make(chan struct{}),
	}
}

// run starts the display: on a terminal, the first frame and a redraw
// every tick until stop.
func (p *progress) run() {
	if !p.tty {
		close(p.done)
		return
	}
	p.mu.Lock()
	_, _ = io.WriteString(p.w, "\x1b[?25l") // hide the cursor while redrawing
	p.draw()
	p.mu.Unlock()
	go func() {
		defer close(p.done)
		t := time.NewTicker(spinnerTick)
		defer t.Stop()
		for {
			select {
			case <-p.quit:
				return
			case <-t.C:
				p.mu.Lock()
				p.frame++
				p.draw()
				p.mu.Unlock()
			}
		}
	}()
}

// update records an event of one of the tasks.
func (p *progress) update(ev *gpubmsv1.TaskEvent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	id := ev.GetTaskId()
	if p.stopped || !slices.Contains(p.ids, id) {
		return
	}
	p.last[id] = ev
	if _, ok := p.ended[id]; !ok && isTerminal(ev) {
		p.ended[id] = p.now().Sub(p.start)
	}
	if p.tty {
		p.draw()
		return
	}
	if ev.GetHeartbeat() {
		return
	}
	line := eventLine(ev)
	if p.printed[id] == line {
		return
	}
	p.printed[id] = line
	fmt.Fprintln(p.w, line)
}

// stop ends the display: the terminal keeps the last frame, with a mark
// instead of the spinner, and gets its cursor back.
func (p *progress) stop() {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return
	}
	p.stopped = true
	p.mu.Unlock()
	close(p.quit)
	<-p.done
	if !p.tty {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.draw()
	_, _ = io.WriteString(p.w, "\x1b[?25h")
}

// draw writes the frame over the previous one, in one Write. p.mu is held.
func (p *progress) draw() {
	width, height := p.size()
	lines := p.lines(height)
	var b bytes.Buffer
	if p.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", p.drawn) // back to the first line
	}
	for _, l := range lines {
		if width > 1 && displayWidth(l) > width-1 {
			l = widths.Truncate(l, width-1, "…") // a wrapped line would break the redraw
		}
		b.WriteString("\r\x1b[2K")
		b.WriteString(l)
		b.WriteByte('\n')
	}
	p.drawn = len(lines)
	_, _ = p.w.Write(b.Bytes())
}

// lines is the frame: a line per task, aligned, or one line of counts when
// the terminal is too short to hold a line per task.
func (p *progress) lines(height int) []string {
	now := p.now().Sub(p.start)
	if height > 0 && len(p.ids) > height-2 {
		return []string{p.summary(now)}
	}
	rows := make([][]string, 0, len(p.ids))
	marks := make([]string, 0, len(p.ids))
	for _, id := range p.ids {
		ev := p.last[id]
		status := "waiting"
		if ev != nil {
			status = eventStatus(ev)
		}
		elapsed, ok := p.ended[id]
		if !ok {
			elapsed = now
		}
		marks = append(marks, p.mark(ev))
		rows = append(rows, []string{id, status, formatElapsed(elapsed), resources(ev.GetResourceIds())})
	}
	var b bytes.Buffer
	_ = writeColumns(&b, rows, 2)
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	for i := range lines {
		lines[i] = marks[i] + " " + lines[i]
	}
	return lines
}

// summary counts the tasks by state, for a terminal too short for them.
func (p *progress) summary(now time.Duration) string {
	var running, succeeded, failed int
	for _, id := range p.ids {
		switch p.last[id].GetStatus() {
		case gpubmsv1.TaskStatus_TASK_STATUS_SUCCEED:
			succeeded++
		case gpubmsv1.TaskStatus_TASK_STATUS_FAILED:
			failed++
		default:
			running++
		}
	}
	mark := spinnerFrames[p.frame%len(spinnerFrames)]
	switch {
	case running > 0 && p.stopped:
		mark = markStopped
	case running == 0 && failed > 0:
		mark = markFailed
	case running == 0:
		mark = markSucceeded
	}
	return fmt.Sprintf("%s %d tasks: %d running, %d succeeded, %d failed  %s", mark, len(p.ids), running, succeeded, failed, formatElapsed(now))
}

// mark is the spinner for a running task, or how it ended.
func (p *progress) mark(ev *gpubmsv1.TaskEvent) string {
	switch ev.GetStatus() {
	case gpubmsv1.TaskStatus_TASK_STATUS_SUCCEED:
		return markSucceeded
	case gpubmsv1.TaskStatus_TASK_STATUS_FAILED:
		return markFailed
	}
	if p.stopped {
		return markStopped
	}
	return spinnerFrames[p.frame%len(spinnerFrames)]
}

// formatElapsed is a duration to the second: 7s, 2m05s, 1h02m.
func formatElapsed(d time.Duration) string {
	s := int(d / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	}
	return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
}
