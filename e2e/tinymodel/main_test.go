package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func defaults() options {
	return options{Embd: 64, Layers: 2, Heads: 4, FF: 128, Ctx: 2048, Word: "hello"}
}

// reader decodes just enough GGUF to check what write produced.
type reader struct {
	r   *bytes.Reader
	err error
}

func (r *reader) get(v any) {
	if r.err == nil {
		r.err = binary.Read(r.r, binary.LittleEndian, v)
	}
}

func (r *reader) u32() (v uint32) { r.get(&v); return }
func (r *reader) u64() (v uint64) { r.get(&v); return }

func (r *reader) str() string {
	n := r.u64()
	if r.err != nil || n > 1<<20 {
		r.err = fmt.Errorf("bad string length %d", n)
		return ""
	}
	b := make([]byte, n)
	r.get(b)
	return string(b)
}

func (r *reader) value(typ uint32) any {
	switch typ {
	case tString:
		return r.str()
	case tUint32:
		return r.u32()
	case tFloat32:
		var f float32
		r.get(&f)
		return f
	case tBool:
		var b bool
		r.get(&b)
		return b
	case tInt32:
		var i int32
		r.get(&i)
		return i
	case tArray:
		et, n := r.u32(), r.u64()
		out := make([]any, 0, n)
		for i := uint64(0); i < n && r.err == nil; i++ {
			out = append(out, r.value(et))
		}
		return out
	}
	r.err = fmt.Errorf("unknown type %d", typ)
	return nil
}

type tensorInfo struct {
	name  string
	shape []uint64
	off   uint64
}

func decode(t *testing.T, b []byte) (map[string]any, []tensorInfo, uint64) {
	t.Helper()
	r := &reader{r: bytes.NewReader(b)}
	magic := make([]byte, 4)
	r.get(magic)
	if string(magic) != "GGUF" {
		t.Fatalf("magic = %q, want GGUF", magic)
	}
	if v := r.u32(); v != 3 {
		t.Fatalf("version = %d, want 3", v)
	}
	nt, nkv := r.u64(), r.u64()
	kvs := map[string]any{}
	for i := uint64(0); i < nkv && r.err == nil; i++ {
		k := r.str()
		kvs[k] = r.value(r.u32())
	}
	var infos []tensorInfo
	for i := uint64(0); i < nt && r.err == nil; i++ {
		ti := tensorInfo{name: r.str()}
		dims := r.u32()
		for d := uint32(0); d < dims; d++ {
			ti.shape = append(ti.shape, r.u64())
		}
		if typ := r.u32(); typ != ggmlF32 {
			t.Fatalf("tensor %s type %d, want F32", ti.name, typ)
		}
		ti.off = r.u64()
		infos = append(infos, ti)
	}
	if r.err != nil {
		t.Fatalf("decode: %v", r.err)
	}
	pos, _ := r.r.Seek(0, io.SeekCurrent)
	return kvs, infos, uint64(pos) + pad(uint64(pos))
}

func TestWriteDecodes(t *testing.T) {
	var buf bytes.Buffer
	if _, err := write(&buf, defaults()); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	kvs, infos, dataStart := decode(t, b)

	if kvs["general.architecture"] != "llama" {
		t.Errorf("architecture = %v", kvs["general.architecture"])
	}
	toks, _ := kvs["tokenizer.ggml.tokens"].([]any)
	if got := kvs["llama.vocab_size"]; got != uint32(len(toks)) {
		t.Errorf("vocab_size %v != %d tokens", got, len(toks))
	}
	target := -1
	for i, tok := range toks {
		if tok == "\u2581hello" {
			target = i
		}
	}
	if target < 0 {
		t.Fatal(`token "▁hello" missing from the vocabulary`)
	}

	// Every tensor must lie inside the file, aligned, and output.weight's target row
	// must be the rigged 0.5 (that is what makes the model say the word).
	var end uint64
	for _, ti := range infos {
		n := uint64(4)
		for _, d := range ti.shape {
			n *= d
		}
		if ti.off%align != 0 {
			t.Errorf("tensor %s offset %d not aligned", ti.name, ti.off)
		}
		if e := dataStart + ti.off + n; e > end {
			end = e
		}
		if ti.name == "output.weight" {
			E := ti.shape[0]
			row := dataStart + ti.off + uint64(target)*E*4
			for i := uint64(0); i < E; i++ {
				f := math.Float32frombits(binary.LittleEndian.Uint32(b[row+4*i:]))
				if f != 0.5 {
					t.Fatalf("output.weight[target][%d] = %v, want 0.5", i, f)
				}
			}
		}
	}
	if want := end + pad(end); uint64(len(b)) != want {
		t.Errorf("file is %d bytes, tensors end at %d (padded %d)", len(b), end, want)
	}
	if wantTensors := 3 + 9*2; len(infos) != wantTensors {
		t.Errorf("%d tensors, want %d", len(infos), wantTensors)
	}
}

func TestWriteDeterministic(t *testing.T) {
	var a, b bytes.Buffer
	if _, err := write(&a, defaults()); err != nil {
		t.Fatal(err)
	}
	if _, err := write(&b, defaults()); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("two runs with the same options differ")
	}
}

func TestToolWordIsOneToken(t *testing.T) {
	word := `<tool_call>{"name":"get_time","arguments":{"tz":"UTC"}}</tool_call>`
	o := defaults()
	o.Word = word
	var buf bytes.Buffer
	if _, err := write(&buf, o); err != nil {
		t.Fatal(err)
	}
	kvs, _, _ := decode(t, buf.Bytes())
	toks, _ := kvs["tokenizer.ggml.tokens"].([]any)
	n := 0
	for _, tok := range toks {
		if tok == "\u2581"+word {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("tool-call word appears %d times in the vocabulary, want 1", n)
	}
}

func TestOptionsRejected(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*options)
		want string
	}{
		{"zero embd", func(o *options) { o.Embd = 0 }, "must be positive"},
		{"heads do not divide", func(o *options) { o.Heads = 5 }, "-heads 5 must divide -embd 64"},
		{"empty word", func(o *options) { o.Word = "" }, "-word"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := defaults()
			tc.mod(&o)
			_, err := write(io.Discard, o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestRunRemovesPartialFileOnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.gguf")
	o := defaults()
	o.Heads = 3
	if err := run(path, o); err == nil {
		t.Fatal("run with bad options succeeded")
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("partial output left behind: %v", err)
	}
}
