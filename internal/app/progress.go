package app

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// Progress display modes of `sarissa import --progress`.
const (
	progressAuto = "auto" // a bar on a terminal, log lines otherwise
	progressBar  = "bar"
	progressLog  = "log"
	progressNone = "none"
)

// progressSource is what the reporter polls; both calls must be safe from
// another goroutine.
type progressSource interface {
	BytesRead() int64
	Rows() int64
}

// progressReporter shows how far an import has read its file: a bar of
// bytes read out of the file size on a terminal, periodic log lines
// elsewhere (CI logs, redirected output).
type progressReporter struct {
	stop chan struct{}
	done sync.WaitGroup
	once sync.Once
}

// startProgress starts reporting; call finish when reading is over.
func startProgress(mode string, w io.Writer, logger *slog.Logger, name string, total int64, src progressSource, interval time.Duration, now func() time.Time) *progressReporter {
	p := &progressReporter{stop: make(chan struct{})}
	if mode == progressAuto {
		mode = progressLog
		if isTerminal(w) {
			mode = progressBar
		}
	}
	switch mode {
	case progressBar:
		bar := progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription("importing "+name),
			progressbar.OptionShowBytes(true),
			progressbar.OptionShowTotalBytes(true),
			progressbar.OptionUseIECUnits(true),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
		)
		p.loop(100*time.Millisecond, func() { _ = bar.Set64(src.BytesRead()) }, func() {
			_ = bar.Set64(src.BytesRead())
			if bar.IsFinished() {
				return
			}
			// Stopped early (an error) or the reader did not touch every
			// byte (Parquet skips nothing, but padding may remain): close the
			// line either way so the summary starts on its own.
			_ = bar.Exit()
			fmt.Fprintln(w)
		})
	case progressLog:
		start := now()
		report := func() {
			read, rows := src.BytesRead(), src.Rows()
			secs := now().Sub(start).Seconds()
			logger.Info("import progress", "file", name,
				"read", ByteSize(read).human(), "size", ByteSize(total).human(),
				"percent", fmt.Sprintf("%.1f", percent(read, total)),
				"rows", rows, "rows_per_sec", int64(float64(rows)/max(secs, 1e-9)))
		}
		p.loop(interval, report, report) // the last line shows where reading ended
	}
	return p
}

// loop calls tick every interval until finish, then last once.
func (p *progressReporter) loop(interval time.Duration, tick, last func()) {
	p.done.Add(1)
	go func() {
		defer p.done.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				tick()
			case <-p.stop:
				last()
				return
			}
		}
	}()
}

// finish stops reporting and waits for the last update to be written.
func (p *progressReporter) finish() {
	p.once.Do(func() { close(p.stop) })
	p.done.Wait()
}

func percent(n, total int64) float64 {
	if total <= 0 {
		return 100
	}
	return 100 * float64(n) / float64(total)
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// human prints a size with one decimal in the largest fitting binary unit.
func (b ByteSize) human() string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	v, i := float64(b), 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%d B", int64(b))
	}
	return fmt.Sprintf("%.1f %s", v, units[i])
}
