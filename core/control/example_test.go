package control_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/pin-client/pin-client/core/control"
)

// How an engine process serves its control endpoint (the host glue does this).
func ExampleServer() {
	var eng control.Engine // the process's *core.Engine plus its Reload
	ctx := context.Background()
	path := control.UserSocketPath()
	ln, err := control.Listen(path, control.ListenOptions{Group: -1})
	if err != nil {
		fmt.Println(err) // errors.Is(err, control.ErrInUse): another engine runs
		return
	}
	started := time.Now()
	srv := control.NewServer(control.ServerOptions{
		Engine: eng,
		Info: func() control.Info {
			return control.Info{Kind: control.KindDaemon, Scope: control.ScopeUser, PID: os.Getpid(),
				Started: started, Socket: path}
		},
		Logger: slog.Default(),
		Policy: control.DefaultPolicy(),
	})
	go srv.Serve(ctx, ln) // returns when ctx ends
}

// How a face finds the running engine and follows it.
func ExampleFind() {
	ctx := context.Background()
	c, info, err := control.Find(ctx) // system service first, then the user's engine
	if err != nil {
		fmt.Println(err) // errors.Is(err, control.ErrNoEngine): start one, or say so
		return
	}
	fmt.Println("attached to", info.Kind, info.PID)
	for st := range c.Subscribe(ctx) { // closed when the engine goes away
		fmt.Println(st.State)
	}
}
