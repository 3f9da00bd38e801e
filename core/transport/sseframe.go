package transport

import (
	"bufio"
	"bytes"
	"io"
)

// frameBuf is the downlink buffer a link keeps between frames.
const frameBuf = 64 << 10

// frameReader cuts the SSE downlink into frames at the literal "\n\n" (§2.3). It is a
// bufio.Scanner made for a link that lives for days: it looks at each byte once (an
// 8 MiB job arriving in small reads costs linear time, not a rescan per read), and once
// a frame that needed a larger buffer has been consumed it goes back to a frameBuf
// buffer, so one big job does not pin megabytes for the rest of the link's life.
type frameReader struct {
	r          io.Reader
	max        int
	buf        []byte
	start, end int // unread bytes are buf[start:end]
	scanned    int // buf[start:scanned] holds no "\n\n"
	err        error
	empty      int // consecutive reads that returned nothing
}

func newFrameReader(r io.Reader, max int) *frameReader {
	return &frameReader{r: r, max: max, buf: make([]byte, frameBuf)}
}

// Next returns the next frame without its "\n\n"; at the end of the stream, what is left
// (if anything) is the last frame, then the read error (io.EOF for a clean end). A frame
// longer than max is bufio.ErrTooLong. The frame is valid until the next call.
func (f *frameReader) Next() ([]byte, error) {
	if len(f.buf) > frameBuf && f.end-f.start <= frameBuf {
		// The big frame is gone: give its buffer back.
		nb := make([]byte, frameBuf)
		f.end = copy(nb, f.buf[f.start:f.end])
		f.scanned -= f.start
		f.start, f.buf = 0, nb
	}
	for {
		from := max(f.start, f.scanned-1) // a "\n" just before scanned may pair with the next byte
		if i := bytes.Index(f.buf[from:f.end], []byte("\n\n")); i >= 0 {
			frame := f.buf[f.start : from+i]
			f.start = from + i + 2
			f.scanned = f.start
			return frame, nil
		}
		f.scanned = f.end
		if f.err != nil {
			if f.start < f.end {
				frame := f.buf[f.start:f.end]
				f.start, f.scanned = f.end, f.end
				return frame, nil
			}
			return nil, f.err
		}
		if f.end == len(f.buf) {
			if f.start > 0 {
				f.end = copy(f.buf, f.buf[f.start:f.end])
				f.scanned -= f.start
				f.start = 0
			} else {
				if len(f.buf) >= f.max {
					f.err = bufio.ErrTooLong
					return nil, f.err
				}
				nb := make([]byte, min(2*len(f.buf), f.max))
				copy(nb, f.buf[:f.end])
				f.buf = nb
			}
		}
		n, err := f.r.Read(f.buf[f.end:])
		f.end += n
		switch {
		case err != nil:
			f.err = err
		case n == 0:
			if f.empty++; f.empty >= 100 {
				f.err = io.ErrNoProgress
			}
		default:
			f.empty = 0
		}
	}
}

// framePayload returns a frame's event payload: the data lines joined by "\n", or the
// event name when there is no data; nil when the frame carries neither (comments). With
// a single data line (every frame the gateway sends) the payload is a slice of frame,
// not a copy.
func framePayload(frame []byte) []byte {
	var event, first, data []byte
	lines := 0
	for len(frame) > 0 {
		line := frame
		if i := bytes.IndexByte(frame, '\n'); i >= 0 {
			line, frame = frame[:i], frame[i+1:]
		} else {
			frame = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		switch {
		case bytes.HasPrefix(line, []byte("data: ")):
			v := line[len("data: "):]
			switch lines {
			case 0:
				first = v
			case 1:
				data = append(append(append(make([]byte, 0, len(first)+1+len(v)), first...), '\n'), v...)
			default:
				data = append(append(data, '\n'), v...)
			}
			lines++
		case bytes.HasPrefix(line, []byte("event: ")):
			event = line[len("event: "):]
		}
	}
	if lines == 1 {
		data = first
	}
	if len(data) > 0 {
		return data
	}
	if len(event) > 0 {
		return event
	}
	return nil
}
