// Command sarissa is the Sarissa server and tool: `sarissa serve` runs the
// database, `sarissa import` loads files into tables. Everything is built in
// internal/app; this file only connects it to the process.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/sarissa-db/sarissa/internal/app"
)

func main() {
	// The first SIGINT/SIGTERM cancels ctx: the server drains, an import
	// aborts without committing. stop() restores the default handling, so a
	// second signal kills the process at once.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	code := app.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
