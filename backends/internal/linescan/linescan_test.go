package linescan

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"
)

// collect scans r to the end; ErrTooLong becomes the marker "<too long>".
func collect(t *testing.T, r io.Reader, max int) ([]string, error) {
	t.Helper()
	sc := New(r, max)
	var out []string
	for {
		line, err := sc.Next()
		switch {
		case err == io.EOF:
			return out, nil
		case errors.Is(err, ErrTooLong):
			out = append(out, "<too long>")
		case err != nil:
			return out, err
		default:
			out = append(out, string(line))
		}
	}
}

func TestLines(t *testing.T) {
	for _, c := range []struct {
		name, in string
		max      int
		want     []string
	}{
		{"empty", "", 0, nil},
		{"one", "a\n", 0, []string{"a"}},
		{"no final newline", "a\nb", 0, []string{"a", "b"}},
		{"crlf", "a\r\nb\r\n", 0, []string{"a", "b"}},
		{"only one cr removed", "a\r\r\n", 0, []string{"a\r"}},
		{"blank lines kept", "\n\na\n\n", 0, []string{"", "", "a", ""}},
		{"bare cr is not a line end", "a\rb\n", 0, []string{"a\rb"}},
		{"multibyte", "Grüße 世界 🎉\n", 0, []string{"Grüße 世界 🎉"}},
		{"too long then ok", "0123456789\nab\n", 4, []string{"<too long>", "ab"}},
		{"too long at eof", "ab\n0123456789", 4, []string{"ab", "<too long>"}},
		{"exactly at limit", "abc\nabcd\n", 4, []string{"abc", "<too long>"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, r := range map[string]io.Reader{
				"whole":    strings.NewReader(c.in),
				"one byte": iotest.OneByteReader(strings.NewReader(c.in)),
				"half":     iotest.HalfReader(strings.NewReader(c.in)),
			} {
				got, err := collect(t, r, c.max)
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				if strings.Join(got, "|") != strings.Join(c.want, "|") || len(got) != len(c.want) {
					t.Errorf("lines = %q, want %q", got, c.want)
				}
			}
		})
	}
}

// TestRandomSplits: however the input is cut into reads, the lines are the same (L16).
func TestRandomSplits(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var in bytes.Buffer
	var want []string
	for i := range 2000 {
		line := strings.Repeat("ü世🎉x", rng.IntN(40)) + string(rune('a'+i%26))
		want = append(want, line)
		in.WriteString(line)
		if i%3 == 0 {
			in.WriteString("\r\n")
		} else {
			in.WriteString("\n")
		}
	}
	for round := range 20 {
		r := &randomReader{data: in.Bytes(), rng: rand.New(rand.NewPCG(uint64(round), 9))}
		got, err := collect(t, r, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("round %d: %d lines, want %d", round, len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("round %d line %d = %q, want %q", round, i, got[i], want[i])
			}
		}
	}
}

type randomReader struct {
	data []byte
	rng  *rand.Rand
}

func (r *randomReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := min(1+r.rng.IntN(64), len(p), len(r.data))
	copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

func TestReadError(t *testing.T) {
	boom := errors.New("boom")
	r := io.MultiReader(strings.NewReader("a\nb"), iotest.ErrReader(boom))
	got, err := collect(t, r, 0)
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	// The complete line and the partial one before the error are both delivered.
	if strings.Join(got, "|") != "a|b" {
		t.Errorf("lines before the error = %q", got)
	}
}

func TestNoProgress(t *testing.T) {
	_, err := collect(t, zeroReader{}, 0)
	if !errors.Is(err, io.ErrNoProgress) {
		t.Fatalf("err = %v, want io.ErrNoProgress for a reader that never returns data", err)
	}
}

type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }

// TestBoundedMemory: a server that never sends '\n' cannot grow the buffer past max.
func TestBoundedMemory(t *testing.T) {
	sc := New(io.LimitReader(neverNewline{}, 1<<20), 1<<12)
	for {
		_, err := sc.Next()
		if err == io.EOF {
			break
		}
		if err != nil && !errors.Is(err, ErrTooLong) {
			t.Fatal(err)
		}
	}
	if len(sc.buf) > 1<<12 {
		t.Errorf("buffer grew to %d bytes, limit 4096", len(sc.buf))
	}
}

type neverNewline struct{}

func (neverNewline) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}
