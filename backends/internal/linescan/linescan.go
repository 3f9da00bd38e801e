// Package linescan splits a byte stream into lines for the streaming parsers (NDJSON and
// SSE). It buffers bytes across reads and hands out a line only once it is complete, so a
// multibyte character split across two network reads survives (pin-protocol.md L16, G8).
//
// It differs from bufio.Scanner in two ways that matter for a backend stream: a line
// that does not fit the limit (with its '\n') is skipped (reported once as ErrTooLong) instead of ending the
// scan, and a final line without '\n' is still returned at end of input.
package linescan

import (
	"bytes"
	"errors"
	"io"
)

// ErrTooLong is returned by Next in place of a line that does not fit the limit. The
// scan can continue with the next line.
var ErrTooLong = errors.New("line too long")

// DefaultMax is the default line length limit: large enough for a whole tool call with big
// arguments, small enough that a server that never sends '\n' cannot exhaust memory.
const DefaultMax = 16 << 20

const initialSize = 4 << 10

// maxEmptyReads mirrors bufio: a reader that keeps returning (0, nil) is broken.
const maxEmptyReads = 100

// Scanner reads lines from an io.Reader. It is not safe for concurrent use.
type Scanner struct {
	r    io.Reader
	max  int
	buf  []byte
	head int // buf[head:tail] holds bytes not yet returned
	tail int
	scan int   // bytes in buf[head:scan] are known to contain no '\n'
	err  error // sticky read error (io.EOF at end of input)

	discarding bool // skipping the rest of an over-long line
}

// New returns a Scanner over r. max bounds the length of one line including its '\n'
// (<= 0 means DefaultMax); it is also the most the Scanner ever buffers.
func New(r io.Reader, max int) *Scanner {
	if max <= 0 {
		max = DefaultMax
	}
	return &Scanner{r: r, max: max}
}

// Next returns the next line without its '\n' and without one trailing '\r'. The slice is
// valid only until the next call. At end of input it returns (nil, io.EOF); on a read error
// it returns (nil, err) after any complete lines read before it. ErrTooLong replaces an
// over-long line; calling Next again continues after it.
func (s *Scanner) Next() ([]byte, error) {
	empty := 0
	for {
		if i := bytes.IndexByte(s.buf[s.scan:s.tail], '\n'); i >= 0 {
			end := s.scan + i
			line := s.buf[s.head:end]
			s.head = end + 1
			s.scan = s.head
			if s.discarding {
				s.discarding = false
				return nil, ErrTooLong
			}
			return trimCR(line), nil
		}
		s.scan = s.tail
		if s.err != nil {
			if s.discarding {
				s.discarding = false
				s.head, s.scan = s.tail, s.tail
				return nil, ErrTooLong
			}
			if s.head < s.tail {
				line := s.buf[s.head:s.tail]
				s.head, s.scan = s.tail, s.tail
				return trimCR(line), nil
			}
			return nil, s.err
		}
		s.fill()
		if s.tail == s.scan && s.err == nil {
			empty++
			if empty >= maxEmptyReads {
				s.err = io.ErrNoProgress
			}
		} else {
			empty = 0
		}
	}
}

// fill makes room in buf and reads once.
func (s *Scanner) fill() {
	if s.head == s.tail {
		s.head, s.tail, s.scan = 0, 0, 0
	}
	if s.tail == len(s.buf) {
		switch {
		case s.head > 0: // slide the partial line to the front
			n := copy(s.buf, s.buf[s.head:s.tail])
			s.scan -= s.head
			s.head, s.tail = 0, n
		case len(s.buf) >= s.max: // the partial line is already too long: drop it
			s.discarding = true
			s.head, s.tail, s.scan = 0, 0, 0
		default:
			size := max(2*len(s.buf), initialSize)
			size = min(size, s.max)
			nb := make([]byte, size)
			copy(nb, s.buf[s.head:s.tail])
			s.buf = nb
		}
	}
	n, err := s.r.Read(s.buf[s.tail:])
	if n < 0 || n > len(s.buf)-s.tail {
		n, err = 0, errors.New("linescan: reader returned an invalid count")
	}
	s.tail += n
	if err != nil {
		s.err = err
	}
}

func trimCR(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\r' {
		return b[:n-1]
	}
	return b
}
