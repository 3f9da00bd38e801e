package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/pin-client/pin-client/core"
	"github.com/pin-client/pin-client/core/protocol"
	"github.com/pin-client/pin-client/internal/demo"
)

// DemoOptions are the app's options in demo mode (pin-client --demo) around the running
// demo d: the config in the demo's temporary directory (never the user's), its
// throwaway secret from memory (never the keyring), its own engine without the
// one-engine lock or a control endpoint (it cannot meet a real engine), no attaching to
// a running engine, no detection, service or start at login, and the demo banner on
// the window title, the dashboard and the tray. The engine goes online at once.
func DemoOptions(d *demo.Demo, log *slog.Logger) (Options, error) {
	if _, err := d.ConfigPath(); err != nil {
		return Options{}, err
	}
	note := "A PIN gateway inside this app sends sample requests to your node; nothing leaves this machine and nothing is earned. Served by: " + d.Backend.String() + "."
	return Options{
		ConfigDir: d.Dir,
		NewEngine: func(spec EngineSpec) (Engine, error) {
			return core.New(d.EngineOptions(spec.Logger))
		},
		Secrets:    demoSecrets{d},
		Logger:     log,
		Banner:     demo.Banner,
		BannerNote: note,
	}, nil
}

// RunDemo is pin-client --demo: it starts the demo (a local gateway and a backend, the
// built-in one when builtIn or when detection finds no server), runs the app on it with
// the demo's consumer sending requests, and when the app quits (Quit, or Ctrl-C, which
// Fyne turns into a quit) drains the engine and removes everything the demo made.
func RunDemo(fa fyne.App, log *slog.Logger, builtIn bool) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d, err := demo.Start(ctx, demo.Options{BuiltIn: builtIn, Logger: log.With("component", "demo-gateway")})
	if err != nil {
		return err
	}
	defer d.Close()
	log.Info("demo: "+demo.Banner, "backend", d.Backend.String(), "gateway", d.Gateway.HTTPURL())
	opts, err := DemoOptions(d, log)
	if err != nil {
		return err
	}
	ui := New(fa, opts)
	consumers := make(chan struct{})
	go func() {
		defer close(consumers)
		_ = d.RunConsumers(ctx, demo.DefaultInterval, func(r demo.JobReport) {
			if r.Err != nil {
				log.Warn("demo: consumer request failed", "job", r.N, "err", r.Err)
				return
			}
			log.Debug("demo: consumer request answered", "job", r.N, "tokens", r.Tokens, "took", r.Took)
		})
	}()
	err = ui.Run(false) // returns after the engine drained
	cancel()
	<-consumers
	forgetPreferences(fa, log)
	s := d.Stats()
	log.Info("demo: stopped", "sent", s.Sent, "answered", s.Answered, "failed", s.Failed, "tokens", s.Tokens)
	if errors.Is(err, ErrAlreadyRunning) {
		return nil
	}
	return err
}

// forgetPreferences removes the demo app's own Fyne storage (its preferences, under
// the demo's app id, never the real app's), and its parent when that is empty then.
func forgetPreferences(fa fyne.App, log *slog.Logger) {
	root := fa.Storage().RootURI()
	if root == nil || root.Scheme() != "file" || !strings.HasSuffix(root.Path(), ".demo") {
		return
	}
	if err := os.RemoveAll(root.Path()); err != nil {
		log.Warn("demo: cannot remove its preferences", "dir", root.Path(), "err", err)
		return
	}
	_ = os.Remove(filepath.Dir(root.Path())) // only if empty: other Fyne apps keep theirs
}

// demoSecrets hands the engine the demo's throwaway secret; it stores nothing.
type demoSecrets struct{ d *demo.Demo }

func (s demoSecrets) Lookup(string, string, string) (protocol.Secret, string, error) {
	return s.d.Secret(), demo.SecretSource, nil
}

func (demoSecrets) Store(string, protocol.Secret) (string, error) {
	return "", errors.New("the demo stores no secrets; quit it and run pin-client without --demo to set up your own account")
}

// StartDemoProcess starts `<this executable> --demo` as a separate process (the setup
// screen's "Try the demo" button): the demo runs in its own window and directory and
// cannot disturb the app's setup.
func StartDemoProcess() error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("cannot find this program to start the demo: %w; run pin-client --demo", err)
	}
	cmd := exec.Command(exe, "--demo")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the demo: %w; run pin-client --demo", err)
	}
	go func() { _ = cmd.Wait() }() // reap it
	return nil
}

// demoHeader is the banner above the dashboard in demo mode; an empty, hidden label
// otherwise.
func demoHeader(u *UI) fyne.CanvasObject {
	if u.opts.Banner == "" {
		l := widget.NewLabel("")
		l.Hide()
		return l
	}
	// One wrapped paragraph, the banner in bold warning colour and the note after it: the
	// window is sized for a 768-pixel-high screen, and every line the banner takes is one
	// the node card and the log do not get.
	text := widget.NewRichText(
		&widget.TextSegment{Text: u.opts.Banner + ". ", Style: widget.RichTextStyle{Inline: true,
			ColorName: theme.ColorNameWarning, TextStyle: fyne.TextStyle{Bold: true}}},
		&widget.TextSegment{Text: u.opts.BannerNote, Style: widget.RichTextStyleInline},
	)
	text.Wrapping = fyne.TextWrapWord
	return container.NewVBox(container.NewBorder(nil, nil, widget.NewIcon(theme.InfoIcon()), nil, text), widget.NewSeparator())
}

// windowTitle is the window's title for the state summary title.
func (u *UI) windowTitle(state string) string {
	if u.opts.Banner != "" {
		return "PIN Client — " + u.opts.Banner + " — " + state
	}
	return "PIN Client — " + state
}

// demoMenuItems are the tray items above the usual ones in demo mode: the banner
// (disabled, it only informs) and a separator.
func (u *UI) demoMenuItems() []*fyne.MenuItem {
	if u.opts.Banner == "" {
		return nil
	}
	b := fyne.NewMenuItem(u.opts.Banner, nil)
	b.Disabled = true
	return []*fyne.MenuItem{b, fyne.NewMenuItemSeparator()}
}

// demoOffer is the setup screen's "Try the demo (no account needed)" on first run, when
// the app can start the demo; an empty, hidden label otherwise.
func (f *setupForm) demoOffer() fyne.CanvasObject {
	u := f.u
	if u.cfg != nil || u.opts.StartDemo == nil || u.opts.Banner != "" {
		l := widget.NewLabel("")
		l.Hide()
		return l
	}
	info := widget.NewLabel("No PIN account yet? The demo runs a PIN gateway inside the app, sends your node sample requests and shows jobs, tokens and estimated earnings counting. It uses a local LLM server if one is found, or a built-in demo backend that is not a real model.")
	info.Wrapping = fyne.TextWrapWord
	var btn *widget.Button
	btn = widget.NewButtonWithIcon("Try the demo (no account needed)", theme.MediaPlayIcon(), func() {
		btn.Disable()
		go func() {
			err := u.opts.StartDemo()
			u.do(func() {
				btn.Enable()
				if err != nil {
					u.showError(err)
					return
				}
				u.showInfo("Demo starting", "The demo opens in its own window, marked \""+demo.Banner+"\". Quit it from its tray menu or window; this setup stays here.")
			})
		}()
	})
	return widget.NewCard("", "", container.NewVBox(info, container.NewHBox(btn)))
}
