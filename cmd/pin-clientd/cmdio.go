package main

import "io"

// cmdIO is everything a subcommand touches outside its arguments, so tests can run any
// command with fakes. main fills it from the real process (stdIO).
type cmdIO struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Env reads an environment variable ("" when unset).
	Env func(string) string
	// IsTerminal reports whether Stdin is an interactive terminal.
	IsTerminal func() bool
	// ReadPassword reads one line from the terminal without echo (only called when
	// IsTerminal is true).
	ReadPassword func() ([]byte, error)
}
