package transport

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// A big frame grows the buffer only while it is being read; the next frame is read
// with a frameBuf buffer again, so a link does not keep megabytes after one large job.
func TestFrameReaderGivesBackBigBuffer(t *testing.T) {
	big := "data: " + strings.Repeat("x", 3<<20)
	stream := big + "\n\n" + "data: small\n\n" + "data: tail"
	fr := newFrameReader(iotest.HalfReader(strings.NewReader(stream)), maxFrame)
	f, err := fr.Next()
	if err != nil || len(f) != len(big) || len(fr.buf) < len(big) {
		t.Fatalf("big frame: %d bytes, %v (buffer %d)", len(f), err, len(fr.buf))
	}
	for _, want := range []string{"data: small", "data: tail"} {
		f, err := fr.Next()
		if err != nil || string(f) != want {
			t.Fatalf("frame %q, %v; want %q", f, err, want)
		}
		if len(fr.buf) != frameBuf {
			t.Fatalf("buffer still %d bytes after the big frame, want %d", len(fr.buf), frameBuf)
		}
	}
	if _, err := fr.Next(); err != io.EOF {
		t.Fatalf("end: %v, want io.EOF", err)
	}
}

// A "\n\n" split across reads, at a buffer boundary or not, still ends the frame there.
func TestFrameReaderSeparatorAcrossReads(t *testing.T) {
	for _, size := range []int{frameBuf - 1, frameBuf, frameBuf + 1, 2*frameBuf - 1} {
		a := strings.Repeat("a", size)
		stream := "data: " + a + "\n\ndata: b\n\n"
		fr := newFrameReader(iotest.OneByteReader(strings.NewReader(stream)), maxFrame)
		var got []string
		for {
			f, err := fr.Next()
			if err != nil {
				break
			}
			got = append(got, string(framePayload(f)))
		}
		if len(got) != 2 || got[0] != a || got[1] != "b" {
			t.Fatalf("size %d: %d frames", size, len(got))
		}
	}
}

func TestFrameReaderTooLong(t *testing.T) {
	fr := newFrameReader(strings.NewReader(strings.Repeat("y", 3*frameBuf)), 2*frameBuf)
	if _, err := fr.Next(); !errors.Is(err, bufio.ErrTooLong) {
		t.Fatalf("err = %v, want bufio.ErrTooLong", err)
	}
}

func TestFrameReaderNoProgress(t *testing.T) {
	fr := newFrameReader(readerFunc(func([]byte) (int, error) { return 0, nil }), maxFrame)
	if _, err := fr.Next(); !errors.Is(err, io.ErrNoProgress) {
		t.Fatalf("err = %v, want io.ErrNoProgress", err)
	}
}

// One 8 MiB job arriving in 16 KiB reads: the framer looks at each byte once.
func BenchmarkFrameReaderBigFrame(b *testing.B) {
	stream := []byte("event: message\ndata: " + strings.Repeat("z", 8<<20) + "\n\n")
	b.SetBytes(int64(len(stream)))
	for b.Loop() {
		fr := newFrameReader(&chunkReader{r: bytes.NewReader(stream), n: 16 << 10}, maxFrame)
		if f, err := fr.Next(); err != nil || framePayload(f) == nil {
			b.Fatal(err)
		}
	}
}

type chunkReader struct {
	r io.Reader
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) { return c.r.Read(p[:min(len(p), c.n)]) }
