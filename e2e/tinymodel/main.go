// Command tinymodel writes a tiny random-weight GGUF model of the "llama" architecture
// (SentencePiece-style vocabulary with byte fallback) that llama.cpp and Ollama load on
// CPU in milliseconds. The end-to-end test serves it with a real Ollama, so no model has
// to be downloaded.
//
// The weights are rigged so that one vocabulary token, "▁"+word, dominates the logits
// whatever the prompt: generation is deterministic, " hello hello hello ..." by default.
// With -word set to a whole tool-call string the same trick yields a model that always
// calls a tool (see e2e/ollama.sh). Pure Go, standard library only, seeded randomness:
// the same flags always give the same bytes.
//
// Usage:
//
//	go run ./e2e/tinymodel -o tiny.gguf [-word hello]
package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"os"
)

func main() {
	var o options
	out := flag.String("o", "tiny.gguf", "output file")
	flag.IntVar(&o.Embd, "embd", 64, "embedding length")
	flag.IntVar(&o.Layers, "layers", 2, "transformer blocks")
	flag.IntVar(&o.Heads, "heads", 4, "attention heads (must divide -embd)")
	flag.IntVar(&o.FF, "ff", 128, "feed-forward length")
	flag.IntVar(&o.Ctx, "ctx", 2048, "context length")
	flag.StringVar(&o.Word, "word", "hello", "the word the model keeps saying")
	flag.Parse()
	if err := run(*out, o); err != nil {
		fmt.Fprintln(os.Stderr, "tinymodel:", err)
		os.Exit(1)
	}
}

func run(path string, o options) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create output: %w", err)
	}
	sum, err := write(f, o)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close output: %w", cerr)
	}
	if err != nil {
		os.Remove(path)
		return err
	}
	fmt.Printf("wrote %s: %s\n", path, sum)
	return nil
}

// options are the model's hyper-parameters and its one word.
type options struct {
	Embd, Layers, Heads, FF, Ctx int
	Word                         string
}

func (o options) validate() error {
	switch {
	case o.Embd <= 0 || o.Layers <= 0 || o.Heads <= 0 || o.FF <= 0 || o.Ctx <= 0:
		return errors.New("-embd, -layers, -heads, -ff and -ctx must be positive")
	case o.Embd%o.Heads != 0:
		return fmt.Errorf("-heads %d must divide -embd %d", o.Heads, o.Embd)
	case o.Word == "":
		return errors.New("-word must not be empty")
	}
	return nil
}

// GGUF metadata value types and the tensor type used (GGUF v3).
const (
	tUint32  = 4
	tInt32   = 5
	tFloat32 = 6
	tBool    = 7
	tString  = 8
	tArray   = 9
	ggmlF32  = 0
	align    = 32
)

// Token types of tokenizer.ggml.token_type.
const (
	tokNormal  = 1
	tokUnknown = 2
	tokControl = 3
	tokByte    = 6
)

type kv struct {
	key string
	val any
}

type tensor struct {
	name  string
	shape []uint64 // ne[0] first, as GGUF stores it
	data  []float32
}

// vocab is the tokenizer: <unk> <s> </s>, 256 byte tokens, the SentencePiece space,
// printable ASCII, then a few whole words with the target word first.
type vocab struct {
	tokens []string
	scores []float32
	types  []int32
	target int // id of "▁"+word
}

func newVocab(word string) vocab {
	var v vocab
	add := func(s string, score float32, typ int32) int {
		v.tokens = append(v.tokens, s)
		v.scores = append(v.scores, score)
		v.types = append(v.types, typ)
		return len(v.tokens) - 1
	}
	add("<unk>", 0, tokUnknown)
	add("<s>", 0, tokControl)
	add("</s>", 0, tokControl)
	for b := 0; b < 256; b++ {
		add(fmt.Sprintf("<0x%02X>", b), 0, tokByte)
	}
	add("\u2581", -1, tokNormal)
	for c := 33; c < 127; c++ {
		add(string(rune(c)), -2, tokNormal)
	}
	v.target = add("\u2581"+word, -0.5, tokNormal)
	for _, w := range []string{"world", "user", "assistant", "system"} {
		if w != word {
			add("\u2581"+w, -0.5, tokNormal)
		}
	}
	return v
}

// tensors builds the weights. The token embeddings share a common all-ones direction,
// so after the final RMS norm the hidden state is close to all-ones for any input; the
// output row of the target token is 0.5 everywhere, so its logit (~0.5·embd) dwarfs
// the others (~0).
func tensors(o options, v vocab) []tensor {
	rng := rand.New(rand.NewSource(42))
	random := func(name string, scale float32, shape ...uint64) tensor {
		n := uint64(1)
		for _, d := range shape {
			n *= d
		}
		d := make([]float32, n)
		for i := range d {
			d[i] = (rng.Float32()*2 - 1) * scale
		}
		return tensor{name, shape, d}
	}
	ones := func(name string, n int) tensor {
		d := make([]float32, n)
		for i := range d {
			d[i] = 1
		}
		return tensor{name, []uint64{uint64(n)}, d}
	}
	E, F, V := uint64(o.Embd), uint64(o.FF), uint64(len(v.tokens))

	emb := random("token_embd.weight", 0.05, E, V)
	for i := range emb.data {
		emb.data[i] += 1
	}
	outW := random("output.weight", 0.01, E, V)
	for i := uint64(0); i < E; i++ {
		outW.data[uint64(v.target)*E+i] = 0.5
	}
	ts := []tensor{emb, ones("output_norm.weight", o.Embd), outW}
	for l := 0; l < o.Layers; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		ts = append(ts,
			ones(p+"attn_norm.weight", o.Embd),
			random(p+"attn_q.weight", 0.02, E, E),
			random(p+"attn_k.weight", 0.02, E, E),
			random(p+"attn_v.weight", 0.02, E, E),
			random(p+"attn_output.weight", 0.02, E, E),
			ones(p+"ffn_norm.weight", o.Embd),
			random(p+"ffn_gate.weight", 0.02, E, F),
			random(p+"ffn_up.weight", 0.02, E, F),
			random(p+"ffn_down.weight", 0.02, F, E),
		)
	}
	return ts
}

func metadata(o options, v vocab) []kv {
	return []kv{
		{"general.architecture", "llama"},
		{"general.name", "pin-client-e2e-tiny"},
		{"general.file_type", uint32(0)},
		{"general.alignment", uint32(align)},
		{"llama.context_length", uint32(o.Ctx)},
		{"llama.embedding_length", uint32(o.Embd)},
		{"llama.block_count", uint32(o.Layers)},
		{"llama.feed_forward_length", uint32(o.FF)},
		{"llama.attention.head_count", uint32(o.Heads)},
		{"llama.attention.head_count_kv", uint32(o.Heads)},
		{"llama.rope.dimension_count", uint32(o.Embd / o.Heads)},
		{"llama.rope.freq_base", float32(10000)},
		{"llama.attention.layer_norm_rms_epsilon", float32(1e-5)},
		{"llama.vocab_size", uint32(len(v.tokens))},
		{"tokenizer.ggml.model", "llama"},
		{"tokenizer.ggml.tokens", v.tokens},
		{"tokenizer.ggml.scores", v.scores},
		{"tokenizer.ggml.token_type", v.types},
		{"tokenizer.ggml.unknown_token_id", uint32(0)},
		{"tokenizer.ggml.bos_token_id", uint32(1)},
		{"tokenizer.ggml.eos_token_id", uint32(2)},
		{"tokenizer.ggml.add_bos_token", true},
		{"tokenizer.ggml.add_eos_token", false},
		{"tokenizer.chat_template", "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"},
	}
}

// ggufWriter writes little-endian GGUF fields and remembers the first error, so the
// encoder below reads as the file layout.
type ggufWriter struct {
	w   *bufio.Writer
	n   uint64 // bytes written so far, for alignment
	err error
}

func (g *ggufWriter) put(v any) {
	if g.err != nil {
		return
	}
	if err := binary.Write(g.w, binary.LittleEndian, v); err != nil {
		g.err = err
		return
	}
	g.n += uint64(binary.Size(v))
}

func (g *ggufWriter) str(s string) {
	g.put(uint64(len(s)))
	g.put([]byte(s))
}

func (g *ggufWriter) value(key string, val any) {
	switch v := val.(type) {
	case string:
		g.put(uint32(tString))
		g.str(v)
	case uint32:
		g.put(uint32(tUint32))
		g.put(v)
	case float32:
		g.put(uint32(tFloat32))
		g.put(v)
	case bool:
		g.put(uint32(tBool))
		g.put(v)
	case []string:
		g.put(uint32(tArray))
		g.put(uint32(tString))
		g.put(uint64(len(v)))
		for _, s := range v {
			g.str(s)
		}
	case []float32:
		g.put(uint32(tArray))
		g.put(uint32(tFloat32))
		g.put(uint64(len(v)))
		g.put(v)
	case []int32:
		g.put(uint32(tArray))
		g.put(uint32(tInt32))
		g.put(uint64(len(v)))
		g.put(v)
	default:
		if g.err == nil {
			g.err = fmt.Errorf("metadata %s: unsupported type %T", key, val)
		}
	}
}

func pad(x uint64) uint64 { return (align - x%align) % align }

// write encodes the model as GGUF v3 to w and returns a one-line summary.
func write(w io.Writer, o options) (string, error) {
	if err := o.validate(); err != nil {
		return "", err
	}
	v := newVocab(o.Word)
	ts := tensors(o, v)
	kvs := metadata(o, v)

	g := &ggufWriter{w: bufio.NewWriter(w)}
	g.put([]byte("GGUF"))
	g.put(uint32(3))
	g.put(uint64(len(ts)))
	g.put(uint64(len(kvs)))
	for _, e := range kvs {
		g.str(e.key)
		g.value(e.key, e.val)
	}
	var off uint64
	for _, t := range ts {
		g.str(t.name)
		g.put(uint32(len(t.shape)))
		for _, d := range t.shape {
			g.put(d)
		}
		g.put(uint32(ggmlF32))
		g.put(off)
		off += uint64(len(t.data)) * 4
		off += pad(off)
	}
	g.put(make([]byte, pad(g.n)))
	for _, t := range ts {
		g.put(t.data)
		g.put(make([]byte, pad(uint64(len(t.data))*4)))
	}
	if g.err != nil {
		return "", fmt.Errorf("write gguf: %w", g.err)
	}
	if err := g.w.Flush(); err != nil {
		return "", fmt.Errorf("write gguf: %w", err)
	}
	return fmt.Sprintf("%d bytes, vocab=%d, target=%d (%q), tensors=%d",
		g.n, len(v.tokens), v.target, v.tokens[v.target], len(ts)), nil
}
